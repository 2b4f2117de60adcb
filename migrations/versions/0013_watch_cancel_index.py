"""The watch stage's cancellation rule reads only supplier orders with a cancellation: a partial index on the
cancel state (then supplier and state) of the few rows whose cancel state is not 'none', instead of every supplier order ever
placed on each pass (0.6 s a pass at a million orders on SQLite)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WHERE = sa.text("cancel_state <> 'none'")


def upgrade() -> None:
    op.create_index("ix_supplier_orders_cancelling", "supplier_orders", ["cancel_state", "supplier_id", "state"], unique=False,
                    sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade() -> None:
    op.drop_index("ix_supplier_orders_cancelling", table_name="supplier_orders")
