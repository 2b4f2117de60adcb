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


def test_the_stock_job_given_a_slow_shop_syncs_the_others_and_writes_without_waiting_for_it(db: Database) -> None:
    """Fifty shops' catalogues went one after the other in the stage's own thread: a shop answering in 5 s a page
    held up every other shop's sync and the pass. Each sync goes in the stage's pool now."""
    import threading

    from syncd.stages.runner import SCHEDULED

    r, fast = _rig(db)
    r.global_ = r.global_.model_copy(update={"intervals": r.global_.intervals.model_copy(update={"stock": 0.05})})
    gate, listing = threading.Event(), threading.Event()

    class SlowFront(FakeFront):
        def list_catalog(self):  # type: ignore[no-untyped-def]
            listing.set()
            gate.wait(15)  # released by the test below; a bound, should it never be
            return super().list_catalog()

    slow = r.add_shop("slow", SlowFront([sku("M-1", 2)]))
    token = SCHEDULED.set(True)
    try:
        stage.run(r, StageReport("stock"))
        assert listing.wait(10)
        assert fast.written == [("S1", 10)] and not gate.is_set()  # written while the slow shop was still listing
        assert ("stock", "catalog:shop") in _runs(db) and ("stock", "catalog:slow") not in _runs(db)
    finally:
        SCHEDULED.reset(token)
        gate.set()
        for pool in r.shop_pools.values():  # what the run left in the pool ends before the database closes
            pool.pool.shutdown(wait=True)
    assert ("stock", "catalog:slow") in _runs(db)  # it finished in the pool and recorded its own run
    stage.run(r, StageReport("stock"))  # the next pass writes the slow shop from its catalogue
    assert slow.written == [("S2", 10)]
