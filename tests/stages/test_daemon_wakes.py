"""A stage run that did work wakes the stage its work feeds (syncd.daemon.WAKES), and a stage stopped at its batch
limit runs again at once, instead of leaving the orders to wait for the next turn of a timer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from syncd import clock, daemon
from syncd.stages.runner import StageReport
from syncd.store.db import Database
from syncd.store.models import Order
from tests.fakes import make_order
from tests.stages.harness import build


def _report(name: str, work: int = 0, more: bool = False) -> StageReport:
    r = StageReport(name, work=work)
    r.more = more
    return r


def test_a_run_that_did_work_wakes_the_stage_it_feeds_and_an_idle_run_wakes_nothing() -> None:
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    for name, work in (("pull", 3), ("route", 0), ("route", 2), ("collect", 1), ("writeback", 5), ("pull", 0)):
        wakes.started(name)
        wakes.finished(name, _report(name, work))
    assert woken == ["route", "forward", "writeback"]


def test_a_wake_while_the_stage_runs_brings_its_next_run_forward_when_it_ends_once() -> None:
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    wakes.started("route")
    wakes.wake("route")
    wakes.wake("route")
    assert woken == []  # never a second run beside the one in flight
    wakes.finished("route", _report("route"))
    assert woken == ["route"]
    wakes.started("route")
    wakes.finished("route", _report("route"))
    assert woken == ["route"]  # that wake was served: nothing loops


def test_a_run_stopped_at_its_batch_limit_runs_again_and_a_run_that_failed_to_report_wakes_nothing() -> None:
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    wakes.started("forward")
    wakes.finished("forward", _report("forward", work=50, more=True))
    wakes.started("forward")
    wakes.finished("forward", None)  # the run raised before it reported
    assert woken == ["forward"]


def test_a_run_that_took_its_whole_interval_runs_again_at_once_instead_of_losing_the_skipped_turn() -> None:
    """The scheduler skips a run due while the stage still runs (never two at once): without a wake the next came a
    whole interval later — every shop of a fifty-shop fleet 20 s behind its pull schedule after one long run."""
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    wakes.started("pull")
    wakes.finished("pull", _report("pull"), overran=True)
    assert woken == ["pull"]
    wakes.started("pull")
    wakes.finished("pull", _report("pull"), overran=False)
    assert woken == ["pull"]  # a run within its interval waits for its turn


def test_run_daemon_routes_an_order_pulled_later_without_waiting_for_routes_hour(db: Database, tmp_path: Path,
                                                                               monkeypatch) -> None:
    """Route and forward run once an hour here: an order pulled after their first runs is routed and sent to the
    drop folder within seconds all the same, woken by the pull that stored it and the route that routed it."""
    h = build(db, tmp_path)
    g = h.rt.config.global_
    h.rt.config.global_ = g.model_copy(update={"intervals": g.intervals.model_copy(update={
        "pull": 0.5, "route": 3600, "forward": 3600, "collect": 3600, "writeback": 3600, "track": 3600,
        "watch": 3600, "stock": 3600, "stock_due": 3600})})
    runs: dict[str, int] = {}
    lock = threading.Lock()
    real_run_stage = daemon.run_stage

    def run_stage(rt, name):
        report = real_run_stage(rt, name)
        with lock:
            runs[name] = runs.get(name, 0) + 1
            if name == "forward" and runs[name] == 1:  # every stage's first run is over: a buyer pays now
                h.shop.put(make_order("7001", clock.now()))
        return report

    monkeypatch.setattr(daemon, "run_stage", run_stage)

    def exported() -> bool:
        with db.read() as s:
            order = s.query(Order).filter_by(platform_order_id="7001").one_or_none()
            return order is not None and order.state == "placed"

    deadline = time.monotonic() + 30
    daemon.run_daemon(h.rt, install_signals=False, until=lambda: exported() or time.monotonic() > deadline)
    assert exported(), runs
    assert runs["route"] >= 2 and runs["forward"] >= 2


def test_a_scope_that_stops_at_its_limit_after_its_run_ended_still_wakes_the_stage_once() -> None:
    """An API supplier still placing in the pool when the forward run ended (runner.for_each_scope) asks for the
    next run when it stops at its batch limit: the stage is woken then, not left for its next turn."""
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    report = _report("forward", work=3)
    wakes.started("forward")
    wakes.finished("forward", report)
    assert woken == []  # nothing asked yet
    report.again()  # the late supplier, from its worker
    assert woken == ["forward"]


def test_a_late_scope_still_wakes_the_stage_when_its_run_ended_with_a_wake_pending() -> None:
    woken: list[str] = []
    wakes = daemon._Wakes(woken.append)
    report = _report("forward")
    wakes.started("forward")
    wakes.wake("forward")  # route routed more orders meanwhile
    wakes.finished("forward", report)
    assert woken == ["forward"]
    report.again()  # the API supplier still placing in the pool stops at its limit afterwards
    assert woken == ["forward", "forward"]
