"""The scheduler loop: one APScheduler job per stage (max_instances=1, coalescing), and ``once``."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from importlib import metadata
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from syncd import __version__, clock, purge, shadow
from syncd.callbacks import kuaidi100_handler, supplier_handler
from syncd.httpd import start_listener
from syncd.httpserver import ASGIApp
from syncd.i18n import _
from syncd.logs import log_context
from syncd.metrics import daemon_metrics
from syncd.process import release_free_memory
from syncd.reports import summary as report_summary
from syncd.runtime import Runtime
from syncd.stages import collect, forward, pull, reconcile, route, track, watch, writeback
from syncd.stages.runner import SCHEDULED, StageFn, StageReport, finish
from syncd.stock import callbacks as stock_callbacks
from syncd.stock import stage as stock_stage

log = logging.getLogger("syncd.daemon")

STAGES: dict[str, StageFn] = {
    "pull": pull.run,
    "route": route.run,
    "forward": forward.run,
    "collect": collect.run,
    "writeback": writeback.run,
    "track": track.run,
    "watch": watch.run,
    "reconcile": reconcile.run,
    # stock and price (issue 19): a full pass, and pushed / dropped changes written through within seconds
    "stock": stock_stage.run,
    "stock_due": stock_stage.run_due,
}
FIRST_RUN_DELAY = {"reconcile": 600.0}  # let the first pull finish before comparing counts
# A run that did work wakes the stage its work feeds, instead of leaving it for that stage's next turn: orders
# pulled go to route, routed orders to forward, parcels a supplier reported to writeback. Between the turns the
# orders would wait for a timer while their platform's rate budget went unused (issue 20).
WAKES: dict[str, tuple[str, ...]] = {"pull": ("route",), "route": ("forward",), "collect": ("writeback",)}
SHUTDOWN_BUDGET = 9.0  # seconds: SIGTERM → exit within 10 s


class _Wakes:
    """Brings a stage's next run forward to now: at once when it is idle, right after its run when it is running
    (a job's run is never doubled: ``max_instances`` 1). Each wake is one run; nothing loops."""

    def __init__(self, bring_forward: Callable[[str], None]) -> None:
        self._bring_forward = bring_forward
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def started(self, name: str) -> None:
        with self._lock:
            self._running.add(name)
            self._again.discard(name)  # a wake before this run is served by it

    def finished(self, name: str, report: StageReport | None, overran: bool = False) -> None:
        """``overran``: the run took its whole interval or more, so the scheduler skipped the run due meanwhile
        (never two at once): the next one starts now, not a whole interval later (a fifty-shop fleet's pull run
        that overran once left every shop 20 s behind its schedule)."""
        with self._lock:
            self._running.discard(name)
            again = name in self._again
            self._again.discard(name)
        if report is not None and report.work > 0:
            for after in WAKES.get(name, ()):
                self.wake(after)
        # read (and closed) whatever the wake before: a scope still at work that stops at its limit later wakes
        # the stage then, also when this run is about to be followed by another
        more = report is not None and report.close_again(lambda: self.wake(name))
        if again or more or overran:
            self.wake(name)

    def wake(self, name: str) -> None:
        with self._lock:
            if name in self._running:
                self._again.add(name)
                return
        self._bring_forward(name)


class _Active:
    """Counts stage runs in flight, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __enter__(self) -> None:
        with self.cond:
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def run_stage(rt: Runtime, name: str) -> StageReport:
    """One run of a stage. Never raises (the scheduler would log a traceback per run): what escapes the
    stage's scopes is logged by :func:`finish` (the database's outage once, when it starts and ends)."""
    report = StageReport(name)
    with log_context(stage=name), rt.metrics.stage_run(name) as run:
        escaped: Exception | None = None
        try:
            STAGES[name](rt, report)
        except Exception as err:  # noqa: BLE001 - logged with its traceback by finish(), never to the scheduler
            escaped = err
        finally:
            run.extra_cpu = report.close_worker_cpu(lambda secs: rt.metrics.add_cpu(name, secs))
        finish(rt, report, escaped)
        run.ok = report.ok
    return report


def run_once(rt: Runtime) -> list[StageReport]:
    """Every stage once, in pipeline order."""
    return [run_stage(rt, name) for name in STAGES]


def safe_db_url(url: str) -> str:
    """``url`` for a log line: the password (in the URL or its query) replaced by ``***``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(a database URL that cannot be parsed)"
    hidden = {k: "***" for k in parsed.query if "password" in k.lower()}  # libpq's password=, sslpassword=
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _version() -> str:
    try:
        return metadata.version("syncd")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return __version__


def startup_line(rt: Runtime, callbacks: tuple[int, list[str]] | None = None) -> str:
    """The one line that says what this daemon is: version, where its configuration and database are, its shops
    and suppliers, and what its callback port serves (``callbacks``: port and routes, when it listens)."""
    suppliers = [*rt.suppliers, *rt.api_suppliers]
    line = _("syncd {version} starting: config {config}, database {database}, {shops} shop(s) [{shop_ids}], "
             "{suppliers} supplier(s) [{supplier_ids}]").format(
        version=_version(), config=rt.settings.config_dir.resolve(), database=safe_db_url(rt.settings.db_url()),
        shops=len(rt.storefronts), shop_ids=", ".join(rt.storefronts) or "-",
        suppliers=len(suppliers), supplier_ids=", ".join(suppliers) or "-")
    if shadow.shadow_shops(rt.config):
        line += _(", in shadow mode (nothing sent): {shops}").format(shops=", ".join(sorted(shadow.shadow_shops(
            rt.config))))
    if callbacks is not None:
        port, routes = callbacks
        served = ", ".join(routes) or _("nothing (no tracking provider nor API supplier)")
        line += _(", callback port {port} serves {served}").format(port=port, served=served)
    return line


def _console(rt: Runtime) -> ASGIApp:
    """The web console on the admin port (syncd.console)."""
    from syncd.console import for_runtime

    return for_runtime(rt)


def run_daemon(rt: Runtime, *, install_signals: bool = True, until: Callable[[], bool] | None = None,
               on_tick: Callable[[], None] | None = None, listen: bool = False) -> bool:
    """Run until SIGTERM/SIGINT (or ``until()``); finish the step in flight and return within 10 s.

    ``listen``: serve the admin port (health, metrics; ``SYNCD_ADMIN_PORT``) and the callback port
    (``SYNCD_CALLBACK_PORT``).
    Returns False when a stage was still running at the deadline (the caller exits hard).
    """
    active = _Active()
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(len(STAGES))},
                                    job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
                                    timezone=UTC)

    def bring_forward(name: str) -> None:
        if rt.stop.is_set():
            return
        with contextlib.suppress(JobLookupError):  # shutting down: the jobs are gone
            scheduler.modify_job(name, next_run_time=clock.now())

    wakes = _Wakes(bring_forward)

    def job(name: str) -> None:
        if rt.stop.is_set():
            return
        with active:
            scheduled = SCHEDULED.set(True)  # a late shop is not waited for past the next run (stages/runner.py)
            wakes.started(name)
            report = None
            began = time.monotonic()
            try:
                report = run_stage(rt, name)
            finally:
                SCHEDULED.reset(scheduled)
                wakes.finished(name, report, overran=time.monotonic() - began >= getattr(intervals, name))
                release_free_memory()  # what the run freed goes back to the system (syncd.process)

    intervals = rt.config.global_.intervals
    for name in STAGES:
        first = clock.now() + timedelta(seconds=min(FIRST_RUN_DELAY.get(name, 0.0), getattr(intervals, name)))
        scheduler.add_job(job, "interval", seconds=getattr(intervals, name), args=[name], id=name, name=name,
                          next_run_time=first)
    scheduler.add_job(purge.run_job, "interval", hours=purge.INTERVAL_HOURS, args=[rt], id="purge", name="purge",
                      next_run_time=clock.now() + timedelta(minutes=5))  # retention of files and callback ids
    # the reports' daily summary: marked days recomputed, a few per run (syncd/reports/summary.py)
    scheduler.add_job(report_summary.run_job, "interval", minutes=report_summary.INTERVAL_MINUTES, args=[rt],
                      id="report_summary", name="report_summary", next_run_time=clock.now() + timedelta(minutes=2))
    if install_signals:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info(_("received {signal}: finishing the step in flight").format(
                signal=signal.Signals(signum).name))
            rt.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    listener = None
    if listen:  # a busy port fails here, before any stage ran
        listener = start_listener(rt.settings, rt.db, rt.metrics, rt.stats,
                                  lambda: scheduler.running and not rt.stop.is_set(),
                                  rt.config.global_.intervals, metrics=daemon_metrics(rt, STAGES),
                                  console=_console(rt))
        # the callback port serves only what is configured: nothing else is reachable from outside
        if rt.tracker is not None:
            listener.register("POST", "/callbacks/kuaidi100", kuaidi100_handler(rt))
        if rt.api_suppliers:
            listener.register("POST", "/callbacks/suppliers", supplier_handler(rt))
            stock_callbacks.register(listener, rt)  # /callbacks/suppliers/<id>/stock (issue 19)
    scheduler.start()
    callbacks = None if listener is None else (listener.callback.port, list(listener.callback.routes))
    log.info("%s", startup_line(rt, callbacks))
    try:
        while not rt.stop.wait(0.2):
            if on_tick:
                on_tick()
            if until and until():
                break
    finally:
        rt.stop.set()
        scheduler.shutdown(wait=False)
        if listener is not None:
            listener.stop()
        deadline = time.monotonic() + SHUTDOWN_BUDGET
        idle = active.wait_idle(SHUTDOWN_BUDGET)
        # a shop's work the scheduler stopped waiting for (a slow platform) goes on in its stage's pool: it too
        # finishes its step before the runtime closes the adapters and the database under it
        for pool in list(rt.shop_pools.values()):
            idle = pool.wait_idle(max(0.0, deadline - time.monotonic())) and idle
        if not idle:
            log.warning(_("a stage was still running after {seconds} s; exiting anyway (its work resumes at next "
                          "start)").format(seconds=f"{SHUTDOWN_BUDGET:.0f}"))
        log.info(_("syncd stopped"))
    return idle
