"""Who confirmed a cash-on-delivery order, and when: a COD order is held (cod_unconfirmed) until a person has
called the buyer; the confirmation is a fact of the order that routing reads, not a hold released by hand

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cod_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cod_confirmed_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("cod_confirmed_by")
        batch_op.drop_column("cod_confirmed_at")
