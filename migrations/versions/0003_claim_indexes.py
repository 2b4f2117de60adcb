"""Indexes that keep two per-run queries from growing with the stored history: the write-back claim
(ordered by order and parcel) and the file supplier's pending cancellations

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 14:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_writeback")
        batch_op.create_index("ix_shipments_writeback_order", ["writeback_state", "order_id", "id"], unique=False)
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.create_index("ix_supplier_orders_supplier_cancel", ["supplier_id", "cancel_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_orders_supplier_cancel")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_writeback_order")
        batch_op.create_index("ix_shipments_writeback", ["writeback_state", "next_attempt_at"], unique=False)
