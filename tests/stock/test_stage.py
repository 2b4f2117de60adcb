"""The daemon's stock jobs: the full pass syncs catalogues that are due, then writes; the due job writes what a
push changed and otherwise does nothing (no stage record every few seconds)."""

from __future__ import annotations

from sqlalchemy import select

from syncd.stages.runner import StageReport
from syncd.stock import intake, stage
from syncd.stockmodel import SupplierStock
from syncd.store.db import Database
from syncd.store.models import StageRun
from tests.stock.rig import FakeFront, FakeSource, Rig, routes, sku


def _rig(db: Database) -> tuple[Rig, FakeFront]:
    r = Rig(db, routes({"sku": "M-1", "supplier": "api", "supplier_sku": "A1"}))
    r.add_supplier("api", FakeSource({"A1": (10, None)}))
    f = r.add_shop("shop", FakeFront([sku("M-1", 1)]))
    return r, f


def _runs(db: Database) -> set[tuple[str, str]]:
    with db.read() as s:
        return {(r.stage, r.scope) for r in s.scalars(select(StageRun))}


def test_the_stock_job_reads_the_catalogue_when_due_then_writes(db: Database) -> None:
    r, f = _rig(db)
    report = StageReport("stock")

    stage.run(r, report)

    assert report.ok and f.written == [("S1", 10)]
    assert _runs(db) == {("stock", "catalog:shop"), ("stock", "pass")}
    stage.run(r, StageReport("stock"))  # the catalogue is fresh: not read again, nothing to write
    assert f.written == [("S1", 10)]


def test_the_due_job_writes_a_pushed_zero_and_is_silent_without_one(db: Database) -> None:
    r, f = _rig(db)
    stage.run(r, StageReport("stock"))
    before = _runs(db)

    stage.run_due(r, StageReport("stock_due"))
    assert _runs(db) == before  # nothing due: no lease, no record

    with db.begin() as s:
        intake.record(s, "api", [SupplierStock("A1", 0)], intake.PUSH)
    stage.run_due(r, StageReport("stock_due"))

    assert f.written[-1] == ("S1", 0)
    assert ("stock_due", "due") in _runs(db)
