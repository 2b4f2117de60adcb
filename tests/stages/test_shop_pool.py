"""Shops in a stage's bounded pool of workers: a slow or failing shop delays no other shop's next run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from syncd.stages import runner
from syncd.stages.runner import StageReport, for_each_shop
from syncd.store.db import Database
from tests.fakes import FakeStorefront
from tests.stages.harness import Harness, build


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    harness = build(db, tmp_path)
    for n in range(2, 7):
        harness.rt.storefronts[f"shop{n}"] = FakeStorefront()
    # a run waits for its shops at most this long (the pull's interval, 0.05 s, times WAIT_SHARE)
    harness.rt.config.global_ = harness.rt.config.global_.model_copy(update={
        "intervals": harness.rt.config.global_.intervals.model_copy(update={"pull": 0.05})})
    scheduled = runner.SCHEDULED.set(True)  # as the daemon's scheduler runs the stages
    yield harness
    runner.SCHEDULED.reset(scheduled)
    for pool in harness.rt.shop_pools.values():  # the shops still at work finish before the database goes
        pool.pool.shutdown(wait=True)
    harness.rt.close()


def test_a_shop_stuck_in_its_run_is_not_waited_for_and_the_others_run_again(h: Harness) -> None:
    release = threading.Event()
    runs: dict[str, int] = {}
    lock = threading.Lock()

    def work(shop: str) -> int:
        with lock:
            runs[shop] = runs.get(shop, 0) + 1
        if shop == "shop1":  # its platform answers in minutes: stuck until the test lets it go
            assert release.wait(timeout=30)
        return 1

    pool_of = h.rt.shop_pools.get

    def others_done() -> None:
        for n in range(2, 7):
            pool_of("pull").busy[f"shop{n}"].result(timeout=30)  # type: ignore[union-attr]

    first = StageReport("pull")
    for_each_shop(h.rt, first, work)  # returns though shop1 is still at work
    others_done()
    second = StageReport("pull")
    for_each_shop(h.rt, second, work)
    others_done()
    assert {s: n for s, n in runs.items() if s != "shop1"} == {f"shop{n}": 2 for n in range(2, 7)}
    assert runs["shop1"] == 1  # not started a second time while its first run goes on
    assert second.skipped == [("shop1", "its work from an earlier run is still going")]
    release.set()
    pool = h.rt.shop_pools["pull"]
    pool.busy["shop1"].result(timeout=30)
    third = StageReport("pull")
    for_each_shop(h.rt, third, work)
    assert runs["shop1"] == 2 and third.skipped == []


def test_a_shop_failing_every_call_fails_alone(h: Harness) -> None:
    def work(shop: str) -> int:
        if shop == "shop3":
            from syncd.errors import SyncdError

            raise SyncdError("every call refused")
        return 1

    report = StageReport("pull")
    for_each_shop(h.rt, report, work)
    pool = h.rt.shop_pools["pull"]
    for future in pool.busy.values():
        future.result(timeout=30)
    assert report.failures == [("shop3", "every call refused")]
    assert report.work == 5


def test_the_pool_is_bounded_and_grows_with_the_shops(h: Harness) -> None:
    for_each_shop(h.rt, StageReport("pull"), lambda shop: 1)
    assert h.rt.shop_pools["pull"].workers == 4  # six shops: at least four workers
    for n in range(7, 71):
        h.rt.storefronts[f"shop{n}"] = FakeStorefront()
    for_each_shop(h.rt, StageReport("pull"), lambda shop: 1)
    assert h.rt.shop_pools["pull"].workers == runner.MAX_PARALLEL_PULLS == 24  # seventy shops: bounded
    for_each_shop(h.rt, StageReport("writeback"), lambda shop: 1)
    assert h.rt.shop_pools["writeback"].workers == runner.MAX_PARALLEL_SHOPS == 16
    # fifty shops: the pull a third of them at once, the other stages a quarter
    assert (runner.shop_workers(50, "pull"), runner.shop_workers(50, "writeback")) == (17, 13)


def test_outside_the_scheduler_a_run_waits_for_every_shop(h: Harness) -> None:
    """``syncd once``: the stages after the pull must see what every shop's pull brought."""
    import time

    scheduled = runner.SCHEDULED.set(False)
    try:
        def work(shop: str) -> int:
            if shop == "shop1":
                end = time.monotonic() + 0.3  # longer than the run would wait under the scheduler (0.04 s)
                while time.monotonic() < end:
                    pass
            return 1

        report = StageReport("pull")
        for_each_shop(h.rt, report, work)
        assert report.work == 6  # shop1's work is in: the run waited for it
    finally:
        runner.SCHEDULED.reset(scheduled)


def test_a_stopping_daemon_waits_for_a_shop_still_at_work_in_the_pool(h: Harness) -> None:
    release = threading.Event()

    def work(shop: str) -> int:
        if shop == "shop1":
            assert release.wait(timeout=30)
        return 1

    for_each_shop(h.rt, StageReport("pull"), work)  # returns though shop1 is still at work
    pool = h.rt.shop_pools["pull"]
    assert pool.wait_idle(0) is False  # shop1's step is in flight: the daemon must not close under it
    release.set()
    assert pool.wait_idle(30) is True
    assert all(f.done() for f in pool.busy.values())


def test_a_late_shops_cpu_counts_to_its_stage_when_it_finishes(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from syncd.daemon import STAGES, run_stage

    release = threading.Event()

    def work(shop: str) -> int:
        if shop == "shop1":  # still at work when the run stops waiting for it
            assert release.wait(timeout=30)
            start = time.thread_time()
            while time.thread_time() - start < 0.02:  # 20 ms of this worker's CPU, after its run ended
                pass
        return 1

    monkeypatch.setitem(STAGES, "pull", lambda rt, rep: for_each_shop(rt, rep, work))
    run_stage(h.rt, "pull")
    counted = h.rt.metrics.cpu_seconds()["pull"]
    release.set()
    h.rt.shop_pools["pull"].busy["shop1"].result(timeout=30)
    assert h.rt.metrics.cpu_seconds()["pull"] - counted >= 0.02


def test_a_paused_shop_is_neither_pulled_nor_written_back_while_the_others_are(h: Harness) -> None:
    from syncd.daemon import run_stage
    from syncd.stages.runner import pause_shop

    worked: list[tuple[str, str]] = []
    lock = threading.Lock()

    def pull_shop(rt: object, shop: str, budget: object = None) -> int:
        with lock:
            worked.append(("pull", shop))
        return 0

    def writeback_shop(rt: object, shop: str) -> int:
        with lock:
            worked.append(("writeback", shop))
        return 0

    assert pause_shop(h.rt, "shop3", "refresh token expired; authorise the app again")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("syncd.stages.pull.pull_shop", pull_shop)
        mp.setattr("syncd.stages.pull._maybe_unpause", lambda rt, shop: None)
        mp.setattr("syncd.stages.writeback.writeback_shop", writeback_shop)
        # every shop has a parcel due (the write-back works only those: writeback.due_shops)
        mp.setattr("syncd.stages.writeback.due_shops", lambda rt, now: set(h.rt.storefronts))
        for stage in ("pull", "writeback"):
            run_stage(h.rt, stage)
            for future in h.rt.shop_pools[stage].busy.values():
                future.result(timeout=30)
    shops = {f"shop{n}" for n in range(1, 7)}
    assert sorted(worked) == sorted((stage, shop) for stage in ("pull", "writeback") for shop in shops - {"shop3"})


def test_the_calls_a_shop_keeps_in_flight_count_their_cpu_to_its_stage(h: Harness,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from syncd.daemon import STAGES, run_stage
    from syncd.inflight import bounded_calls

    def call(n: int) -> int:
        start = time.thread_time()
        while time.thread_time() - start < 0.02:  # 20 ms of the call thread's CPU
            n += 1
        return n

    def work(shop: str) -> int:
        return len(list(bounded_calls(list(range(4)), call, limit=4, halt=lambda: False))) if shop == "shop1" else 0

    monkeypatch.setitem(STAGES, "pull", lambda rt, rep: for_each_shop(rt, rep, work))
    before = h.rt.metrics.cpu_seconds().get("pull", 0.0)
    run_stage(h.rt, "pull")
    h.rt.shop_pools["pull"].busy["shop1"].result(timeout=30)
    assert h.rt.metrics.cpu_seconds()["pull"] - before >= 4 * 0.02
