"""Per-run queries that must not grow with the stored history: the plan of each, as the stage sends it.

A stage that scans (or sorts) every row it ever wrote gets slower the longer the daemon runs. These tests
capture the statements a stage actually executes on a migrated database and read SQLite's plan for each.
PostgreSQL chooses its plans from statistics (an empty test table is best read whole), so there every stage's
claim is checked with sequential scans switched off: an index that serves the claim must exist and be used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd import clock
from syncd.stages import forward, writeback
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from tests.plans import explain, statements
from tests.stages.harness import SHOP, build


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'syncd.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _plans(db: Database, run: Callable[[], object], table: str) -> list[str]:
    """The plan of every statement ``run`` executes on ``table`` (SELECT or UPDATE), one string each."""
    return explain(db, statements(db, run, rf"^\s*(SELECT\b.*\bFROM|UPDATE) {table}\b"))


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
        assert "ix_supplier_orders_supplier_cancel_state (supplier_id=? AND cancel_state=?" in plan


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


# ---- every stage's claim (issue 20: a million stored orders cost a new order no more than an empty database)

def _in_tx(db: Database, fn: Callable[[Any], object]) -> Callable[[], None]:
    def run() -> None:
        with db.begin() as s:
            fn(s)
    return run


def _uses(plans: list[str], index: str, table: str, sqlite_search: str | None = None, *, db: Database,
          columns: tuple[str, ...] = ()) -> None:
    """SQLite: this index, with these constraints. PostgreSQL (which may pick another index that serves as well):
    an index scan of the table whose condition names every one of ``columns``; never a sequential scan."""
    for plan in plans:
        if db.is_sqlite:
            assert index in plan, plan
            assert f"SCAN {table}" not in plan, plan  # a walk over every row ever stored
            if sqlite_search:
                assert sqlite_search in plan, plan
        else:
            assert f"Seq Scan on {table}" not in plan, plan
            conds = " ".join(re.findall(r"Index Cond: ([^/]*)", plan))
            assert all(re.search(rf"\b{c}\b", conds) for c in columns), plan


def test_route_claim_reads_new_and_due_held_orders_through_their_index(db: Database, tmp_path: Path) -> None:
    from syncd.stages import route

    build(db, tmp_path)
    plans = _plans(db, _in_tx(db, lambda s: route._claim(s, clock.now(), 100)), "orders")
    assert len(plans) == 1
    _uses(plans, "ix_orders_state_recheck", "orders", "ix_orders_state_recheck (state=?", db=db, columns=("state",))


def test_file_supplier_export_claim_reads_only_pending_supplier_orders(db: Database, tmp_path: Path) -> None:
    h = build(db, tmp_path)
    plans = _plans(db, lambda: forward._export_pending(h.rt, "acme", clock.now()), "supplier_orders")
    assert len(plans) == 1
    _uses(plans, "ix_supplier_orders_supplier_state", "supplier_orders", "(supplier_id=? AND state=?)", db=db,
          columns=("supplier_id", "state"))


def test_api_supplier_place_claim_reads_only_open_supplier_orders(db: Database, tmp_path: Path) -> None:
    """Cancel state ``none`` alone is every supplier order the supplier ever had: the state must narrow it."""
    from syncd.stages import supplier_api

    h = build(db, tmp_path)
    plans = _plans(db, lambda: supplier_api.place_orders(h.rt, "acme", None), "supplier_orders")  # type: ignore[arg-type]
    assert len(plans) == 1  # nothing to place: the claim alone
    _uses(plans, "ix_supplier_orders_supplier_cancel_state", "supplier_orders",
          "(supplier_id=? AND cancel_state=? AND state=?)", db=db, columns=("supplier_id", "cancel_state"))
    # (PostgreSQL weighs the state by its statistics: on an empty table either column serves as well)


def test_api_supplier_status_claim_reads_only_placed_supplier_orders(db: Database, tmp_path: Path) -> None:
    from syncd.stages import supplier_api

    h = build(db, tmp_path)
    plans = _plans(db, lambda: supplier_api.follow_orders(h.rt, "acme", None), "supplier_orders")  # type: ignore[arg-type]
    assert len(plans) == 1
    _uses(plans, "ix_supplier_orders_supplier_state", "supplier_orders", "(supplier_id=? AND state=?)", db=db,
          columns=("supplier_id", "state"))


def test_api_supplier_cancel_claim_reads_only_requested_cancellations(db: Database, tmp_path: Path) -> None:
    from syncd.stages import supplier_api

    h = build(db, tmp_path)
    plans = _plans(db, lambda: supplier_api.cancel_orders(h.rt, "acme", None), "supplier_orders")  # type: ignore[arg-type]
    assert len(plans) == 1  # nothing claimed: the claim alone, no statement to free nothing
    _uses(plans, "ix_supplier_orders_supplier_cancel_state", "supplier_orders",
          "(supplier_id=? AND cancel_state=?", db=db, columns=("supplier_id", "cancel_state"))


def test_track_claim_reads_unchecked_then_overdue_parcels_through_their_index(db: Database, tmp_path: Path) -> None:
    from syncd.stages import track

    h = build(db, tmp_path)
    plans = _plans(db, _in_tx(db, lambda s: track._due(h.rt, s, clock.now(), 100)), "shipments")
    assert len(plans) == 2  # never checked, then overdue
    _uses(plans, "ix_shipments_track", "shipments", "(track_final=? AND next_check_at", db=db,
          columns=("track_final",))


def test_writeback_claim_on_either_database_uses_its_index(db: Database, tmp_path: Path) -> None:
    h = build(db, tmp_path)
    plans = _plans(db, _in_tx(db, lambda s: writeback._claim(h.rt, s, SHOP, clock.now())), "shipments")
    assert len(plans) == 2
    _uses(plans, "ix_shipments_writeback_order", "shipments", db=db, columns=("writeback_state",))


def test_writeback_due_shops_on_either_database_uses_the_claims_index(db: Database, tmp_path: Path) -> None:
    """The one read that finds which shops have a parcel due (writeback.due_shops) must not walk every parcel."""
    h = build(db, tmp_path)
    plans = _plans(db, lambda: writeback.due_shops(h.rt, clock.now()), "shipments")
    assert len(plans) == 2  # abandoned uploads, then ready parcels
    _uses(plans, "ix_shipments_writeback_order", "shipments", db=db, columns=("writeback_state",))


def test_watch_parcel_rules_read_only_parcels_still_on_their_way(db: Database, tmp_path: Path) -> None:
    """Delivered and returned parcels (every parcel, in time) are no business of the parcel rules."""
    from syncd.alerts import facts
    from syncd.alerts.config import AlertsConfig

    build(db, tmp_path)
    plans = _plans(db, _in_tx(db, lambda s: facts._parcels(s, AlertsConfig(), clock.now())), "shipments")
    assert len(plans) == 1
    _uses(plans, "ix_shipments_logistics_state", "shipments", "(logistics_state=?)", db=db,
          columns=("logistics_state",))


def test_watch_cancellation_rule_reads_only_supplier_orders_with_a_cancellation(db: Database,
                                                                               tmp_path: Path) -> None:
    """Every supplier order ever placed has cancel state 'none'; the rule must not walk them on each pass."""
    from syncd.alerts import facts

    build(db, tmp_path)
    plans = _plans(db, _in_tx(db, facts._cancels), "supplier_orders")
    assert len(plans) == 1
    if db.is_sqlite:  # walking the partial index is fine: it holds only the rows with a cancellation
        assert re.sub(r"SCAN supplier_orders USING INDEX ix_supplier_orders_cancelling\b", "", plans[0]) \
            .count("supplier_orders") == 0, plans[0]
        assert "ix_supplier_orders_cancelling" in plans[0]
    else:
        _uses(plans, "ix_supplier_orders_cancelling", "supplier_orders", db=db, columns=("cancel_state",))
