"""Fault counters: unreadable answers in a row per parcel write-back and per supplier order, so one order whose
answers cannot be read backs off and is set aside for a person while the rest of its batch goes on

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writeback_faults", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("faults", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.drop_column("faults")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("writeback_faults")
