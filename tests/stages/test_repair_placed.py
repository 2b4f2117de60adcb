"""The repair sweep of orders left ``placed`` by the old collect race (a reply file imported and its parcels
written back before the batch was recorded: recording it then made the order ``placed`` for ever)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from syncd import clock
from syncd.store.db import Database
from syncd.store.models import AuditEntry, Order
from tests.fakes import make_order
from tests.stages.harness import Harness, build


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


def _states(db: Database) -> dict[str, str]:
    with db.read() as s:
        return {pid: st for pid, st in s.execute(select(Order.platform_order_id, Order.state))}


def _repairs(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        return [(a, b) for a, b in s.execute(select(AuditEntry.subject, AuditEntry.outcome)
                              .where(AuditEntry.action == "repair_placed").order_by(AuditEntry.id))]


def test_reconcile_given_orders_stuck_placed_with_every_parcel_on_the_storefront_finishes_them_once(h, db):
    for i, pid in enumerate(("3001", "3002", "3003", "3004")):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=30 - i)))
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    h.reply("acme", "r1.csv", [("3001", "中通快递", "77300000001"), ("3002", "中通快递", "77300000002")])
    h.stage("collect")
    h.stage("writeback")
    h.reply("acme", "r2.csv", [("3003", "中通快递", "77300000003")])
    h.stage("collect")  # 3003's parcel is not written back yet: placed is right for it; 3004 has no parcel yet
    assert _states(db) == {"3001": "shipped", "3002": "shipped", "3003": "placed", "3004": "placed"}
    with db.begin() as s:  # what the old race left: uploaded, every supplier order shipped, the order placed
        s.execute(update(Order).where(Order.platform_order_id == "3002").values(state="placed"))

    report = h.stage("reconcile")
    h.stage("reconcile")

    assert report.ok, report.failures
    assert _states(db) == {"3001": "shipped", "3002": "shipped", "3003": "placed", "3004": "placed"}
    assert [outcome for subject, outcome in _repairs(db)] == ["ok"]
    assert "3002" in _repairs(db)[0][0]
