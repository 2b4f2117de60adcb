"""The overview's funnel reads the index alone on PostgreSQL too: ``ix_orders_seen_shop_state`` (first_seen_at,
shop_id, state) carries the order id (INCLUDE), so the funnel's "orders of the week not shipped yet" gives the ids
to look up in the parcels without visiting the orders table. SQLite needs nothing: every index there holds the
rowid, which is the order id. Measured on a million orders (docs/benchmarks.md): the funnel's statement 290 ms →
the index range, and the overview on PostgreSQL 324 ms → see the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_orders_seen_shop_state", table_name="orders")
    op.create_index("ix_orders_seen_shop_state", "orders", ["first_seen_at", "shop_id", "state"], unique=False,
                    postgresql_include=["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_orders_seen_shop_state", table_name="orders")
    op.create_index("ix_orders_seen_shop_state", "orders", ["first_seen_at", "shop_id", "state"], unique=False)
