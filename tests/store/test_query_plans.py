"""Per-run queries that must not grow with the stored history: SQLite's plan for each, as the stage sends it.

A stage that scans (or sorts) every row it ever wrote gets slower the longer the daemon runs. These tests
capture the statements a stage actually executes on a migrated database and read SQLite's plan for each.
PostgreSQL chooses its plans from statistics, so only SQLite's fixed choice is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from syncd import clock
from syncd.stages import forward, writeback
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from tests.stages.harness import SHOP, build


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'syncd.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _plans(db: Database, run: Callable[[], object], table: str) -> list[str]:
    """SQLite's plan of every statement ``run`` executes on ``table`` (SELECT or UPDATE), one string each."""
    seen: list[tuple[str, Any]] = []
    on_table = re.compile(rf"^\s*(SELECT\b.*\bFROM|UPDATE) {table}\b", re.DOTALL)

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool) -> None:
        if not many and on_table.match(statement):
            seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert seen, f"no statement on {table} was executed"
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return [" / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                for sql, params in seen]


def test_writeback_claim_walks_its_index_in_order_and_sorts_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    h = build(sqlite_db, tmp_path)

    def claim() -> None:
        with sqlite_db.begin() as s:
            writeback._claim(h.rt, s, SHOP, clock.now())

    plans = _plans(sqlite_db, claim, "shipments")
    assert len(plans) == 2  # abandoned claims, then ready parcels
    for plan in plans:
        assert "ix_shipments_writeback_order" in plan
        assert "TEMP B-TREE" not in plan  # a sort of every pending parcel on each claim of a batch


def test_file_supplier_cancellation_pass_reads_only_pending_cancellations(sqlite_db: Database,
                                                                         tmp_path: Path) -> None:
    h = build(sqlite_db, tmp_path)
    plans = _plans(sqlite_db, lambda: forward.cancel_file_orders(h.rt, "acme"), "supplier_orders")
    assert len(plans) == 3  # too late, never sent, to notify
    for plan in plans:
        assert "ix_supplier_orders_supplier_cancel (supplier_id=? AND cancel_state=?)" in plan


def test_reply_file_rows_are_matched_by_their_order_numbers_alone(sqlite_db: Database, tmp_path: Path) -> None:
    from syncd.stages import collect

    def match() -> None:
        with sqlite_db.begin() as s:
            collect._match(s, "acme", {"6921", "acme-6921-1"})

    plans = _plans(sqlite_db, match, "supplier_orders")
    assert len(plans) == 2  # by storefront order number, then by our supplier-order key
    assert "ix_orders_platform_order_id (platform_order_id=?)" in plans[0]
    assert "(idempotency_key=?)" in plans[1]
    for plan in plans:
        assert "ix_supplier_orders_supplier_state" not in plan  # every supplier order of the supplier
