"""The console's overview reads ranges of its indexes, not every order: SQLite's plans, with the statistics a
database of a million orders has (ANALYZE of the benchmark's data, written into sqlite_stat1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd import clock
from syncd.console import data
from syncd.status import OrderFilter, list_orders
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from tests.plans import explain, statements

# what ANALYZE wrote for a million orders over 90 days in 3 shops (the measurement in docs/console.md)
STATS = [("orders", "ix_orders_shop_state", "1000000 333334 55556"),
         ("orders", "ix_orders_seen_shop_state", "1000000 1 1 1"),
         ("orders", "ix_orders_state_ship_by", "1000000 142858 1"),
         ("orders", "ix_orders_state_recheck", "1000000 142858 142858"),
         ("orders", "ix_orders_state", "1000000 142858"),
         ("orders", "ix_orders_platform_order_id", "1000000 1"),
         ("orders", "uq_orders_shop_order", "1000000 333334 1")]


@pytest.fixture
def big(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "syncd.db"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        for row in STATS:
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", row)
    db.dispose()  # statistics are read when a connection opens
    db = open_database(f"sqlite:///{path}")
    yield db
    db.dispose()


def _plans(db: Database, run: Any) -> list[str]:
    return explain(db, statements(db, run, "FROM orders"))


def test_overview_counts_given_a_million_orders_read_only_the_weeks_index_range(big: Database):
    now = clock.now()
    [plan] = _plans(big, lambda: data.orders_by_shop_state(big, now - timedelta(days=7), now - timedelta(days=1)))
    assert "ix_orders_seen_shop_state (first_seen_at>?)" in plan, plan
    assert "SCAN orders" not in plan, plan


def test_urgent_orders_given_a_million_orders_walk_the_ship_by_index_per_state(big: Database):
    plans = _plans(big, lambda: list_orders(big, OrderFilter(late_within=12, limit=20)))
    walks = [p for p in plans if "ix_orders_state_ship_by" in p]
    assert len(walks) == 4, plans  # new, routed, placed, held
    assert not any("TEMP B-TREE" in p for p in walks), walks



def test_funnel_reads_the_weeks_unshipped_order_ids_from_the_index_alone(db: Database):
    """The funnel looks up the week's unshipped orders' parcels by order id: the id must come from the index over
    first_seen_at, not from a visit of each order's row (a week of orders is 37,000 table pages on PostgreSQL at a
    million orders: 290 ms). SQLite: the plan says so; PostgreSQL: whether an index-only scan is chosen depends on
    its statistics and visibility map, so the index itself is checked to carry the id."""
    now = clock.now()
    if db.is_sqlite:
        [plan] = _plans(db, lambda: data.funnel(db, now - timedelta(days=7), []))
        assert "COVERING INDEX ix_orders_seen_shop_state" in plan, plan
        return
    with db.engine.connect() as conn:
        definition = conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_orders_seen_shop_state' "
            "AND schemaname = current_schema()").scalar_one()  # other tests' schemas have the index too
    assert definition.endswith("(first_seen_at, shop_id, state) INCLUDE (id)"), definition


def test_orders_list_of_one_shop_given_a_million_orders_walks_the_shops_newest_without_sorting(big: Database):
    [plan] = _plans(big, lambda: list_orders(big, OrderFilter(shop="s1", limit=50)))
    assert "ix_orders_shop_id (shop_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_orders_list_by_hold_reason_alone_given_a_million_orders_reads_that_reasons_orders(big: Database):
    [plan] = _plans(big, lambda: list_orders(big, OrderFilter(hold_reason="unmapped_sku", limit=50)))
    assert "ix_orders_hold_reason (hold_reason=?)" in plan, plan
    assert "SCAN orders" not in plan and "TEMP B-TREE" not in plan, plan
