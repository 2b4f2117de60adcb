"""Reports: the supplier cost of each supplier order (fen, where it came from), and the index the reports read
orders by (payment time): a month of orders is found without a scan of the whole table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_fen", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cost_source", sa.String(length=16), nullable=True))
    op.create_index("ix_orders_paid_at", "orders", ["paid_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_paid_at", table_name="orders")
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.drop_column("cost_source")
        batch_op.drop_column("cost_fen")
