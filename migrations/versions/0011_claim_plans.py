"""Claims that read only open rows at any history size: the supplier-order index on (supplier, cancel state)
gains the state, so the API suppliers' place claim (cancel state none, pending or placing) no longer walks every
supplier order the supplier ever had; and the watch stage's parcel rules read the parcels still on their way
through an index on the logistics state, not every parcel ever delivered

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_orders_supplier_cancel")
        batch_op.create_index("ix_supplier_orders_supplier_cancel_state", ["supplier_id", "cancel_state", "state"],
                              unique=False)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_logistics_state", ["logistics_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_logistics_state")
    with op.batch_alter_table("supplier_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_orders_supplier_cancel_state")
        batch_op.create_index("ix_supplier_orders_supplier_cancel", ["supplier_id", "cancel_state"], unique=False)
