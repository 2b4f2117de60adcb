"""The reports' daily summary (issue 18): exact partial figures per day of payment, grouping and key, the days
rolled up, and the writes not yet applied to them — marked by triggers on orders, order lines, supplier orders
and parcels, so that no writer can forget to (SQLite and PostgreSQL)

A trigger fires on an insert, a delete, and an update of a column some report figure reads (a parcel's last
scan time and the provider's verdict only feed the stalled count, which the reports always count live).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# table → the columns read by the reports (syncd/reports: sources, parcels, speed, margin)
WATCHED = {
    "orders": ("paid_at", "shop_id", "ship_by", "state", "refund_state"),
    "order_lines": ("order_id", "merchant_sku", "quantity", "unit_price_fen", "refund_state"),
    "supplier_orders": ("order_id", "supplier_id", "kind", "state", "paid", "placed_at", "cost_fen"),
    "shipments": ("order_id", "supplier_order_id", "carrier", "logistics_state", "province", "handed_over_at",
                  "uploaded_at", "picked_up_at", "delivered_at"),
}
MARK = "INSERT INTO report_stale (order_id, paid_at) VALUES"

PG_FUNCTIONS = {
    "orders": f"""
        IF TG_OP = 'INSERT' THEN {MARK} (NEW.id, NULL);
        ELSIF TG_OP = 'UPDATE' THEN {MARK} (NEW.id, OLD.paid_at);
        ELSE {MARK} (NULL, OLD.paid_at);
        END IF;""",
    "child": f"""
        IF TG_OP = 'INSERT' THEN {MARK} (NEW.order_id, NULL);
        ELSIF TG_OP = 'UPDATE' THEN
            {MARK} (NEW.order_id, NULL);
            IF OLD.order_id IS DISTINCT FROM NEW.order_id THEN {MARK} (OLD.order_id, NULL); END IF;
        ELSE {MARK} (OLD.order_id, NULL);
        END IF;""",
}


def _sqlite(table: str, cols: tuple[str, ...]) -> list[str]:
    key = "id" if table == "orders" else "order_id"
    when_moved = "" if table == "orders" else f" {MARK} (OLD.order_id, NULL);"
    update = (f"{MARK} (NEW.id, OLD.paid_at);" if table == "orders"
              else f"{MARK} (NEW.order_id, NULL);{when_moved}")
    deleted = f"{MARK} (NULL, OLD.paid_at);" if table == "orders" else f"{MARK} (OLD.order_id, NULL);"
    return [
        f"CREATE TRIGGER report_stale_{table}_insert AFTER INSERT ON {table} BEGIN {MARK} (NEW.{key}, NULL); END",
        f"CREATE TRIGGER report_stale_{table}_update AFTER UPDATE OF {', '.join(cols)} ON {table} "
        f"BEGIN {update} END",
        f"CREATE TRIGGER report_stale_{table}_delete AFTER DELETE ON {table} BEGIN {deleted} END",
    ]


def upgrade() -> None:
    op.create_table("report_stale",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("order_id", sa.Integer(), nullable=True),
                    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_report_stale")))
    op.create_table("report_days",
                    sa.Column("day", sa.String(length=10), nullable=False),
                    sa.Column("clean", sa.Boolean(), nullable=False),
                    sa.Column("basis", sa.Text(), nullable=False),
                    sa.Column("due_until", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint("day", name=op.f("pk_report_days")))
    op.create_table("report_summary",
                    sa.Column("day", sa.String(length=10), nullable=False),
                    sa.Column("grouping", sa.String(length=16), nullable=False),
                    sa.Column("key", sa.String(length=128), nullable=False),
                    sa.Column("data", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("day", "grouping", "key", name=op.f("pk_report_summary")))
    if op.get_bind().dialect.name == "sqlite":
        for table, cols in WATCHED.items():
            for statement in _sqlite(table, cols):
                op.execute(statement)
        return
    for name, body in PG_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION report_stale_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                   f"    BEGIN{body}\n        RETURN NULL;\n    END\n$$")
    for table, cols in WATCHED.items():
        fn = "report_stale_orders" if table == "orders" else "report_stale_child"
        op.execute(f"CREATE TRIGGER report_stale_{table}_write AFTER INSERT OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {fn}()")
        op.execute(f"CREATE TRIGGER report_stale_{table}_update AFTER UPDATE OF {', '.join(cols)} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {fn}()")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in WATCHED:
        if sqlite:
            for what in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS report_stale_{table}_{what}")
        else:
            for what in ("write", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS report_stale_{table}_{what} ON {table}")
    if not sqlite:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS report_stale_{name}()")
    op.drop_table("report_summary")
    op.drop_table("report_days")
    op.drop_table("report_stale")
