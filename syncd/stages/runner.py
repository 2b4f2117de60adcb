"""Runs a stage over its scopes (shops or suppliers); one failing scope never stops the others.

Log the edge, not the storm: a scope logs an error when it starts failing and an info line when it
recovers; every run's outcome is kept in ``stage_runs`` for ``syncd status``. Outcomes of a run:

* success, or a failure (its error recorded, ``consecutive_failures`` counted);
* skipped: another holder has the scope's lease (``last_skipped_at`` and why; a holder past its bound is
  a warning and the ``lease_overdue`` alert);
* interrupted by shutdown: neither (a run cut short by SIGTERM did not recover anything);
* the database unreachable: nothing can be recorded; the stage logs one line when it starts failing and
  one when it works again (:func:`finish`), and never raises into the scheduler;
* a fault of the machine (disk full, permission denied): recorded in operator words with the path, no
  traceback; the ``stage_failing`` alert opens at once (:func:`machine_fault`).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from syncd import clock, inflight
from syncd.alerts.names import OVERDUE_PREFIX
from syncd.errors import ReauthorizationRequired, SyncdError
from syncd.i18n import _
from syncd.logs import log_context
from syncd.runtime import Runtime
from syncd.store.db import LeaseHeld
from syncd.store.models import AuditEntry, Shop, StageRun

log = logging.getLogger("syncd.stage")


@dataclass
class StageReport:
    stage: str
    failures: list[tuple[str, str]] = field(default_factory=list)
    work: int = 0
    worker_cpu: float = 0.0  # CPU seconds of the pool threads that ran its scopes (the job thread's not counted)
    db_error: str | None = None  # the database was unreachable during this run (what the driver said)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # scopes whose lease another holder has
    more: bool = False  # a scope stopped at its batch limit with work still waiting: run again at once
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _late: Callable[[float], None] | None = field(default=None, repr=False)
    _again_late: Callable[[], None] | None = field(default=None, repr=False)

    def add_work(self, n: int) -> None:
        with self._lock:
            self.work += n

    def again(self) -> None:
        """A scope stopped at its batch limit with work still waiting: the stage runs again right after this run
        (or at once, when this run ended while the scope was still at work in the pool: ``close_again``)."""
        with self._lock:
            late = self._again_late
            if late is None:
                self.more = True
                return
        late()

    def close_again(self, late: Callable[[], None]) -> bool:
        """Whether a scope asked to run again so far; a scope still at work that asks after this calls ``late``."""
        with self._lock:
            self._again_late = late
            return self.more

    def add_worker_cpu(self, seconds: float) -> None:
        with self._lock:
            late = self._late
            if late is None:
                self.worker_cpu += seconds
                return
        late(seconds)

    def close_worker_cpu(self, late: Callable[[float], None]) -> float:
        """The pool threads' CPU so far; what a shop still at work spends after this (a run stops waiting for
        a late shop, which finishes in the pool) goes to ``late`` instead of being lost."""
        with self._lock:
            self._late = late
            return self.worker_cpu

    @property
    def ok(self) -> bool:
        return not self.failures and self.db_error is None


# errno → what an operator reads; the advice says what to do about it
MACHINE_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("disk full", "free space on that disk"),
    errno.EDQUOT: ("disk quota exceeded", "raise the quota or free space"),
    errno.EACCES: ("permission denied", "give syncd's user read and write access to that folder"),
    errno.EPERM: ("permission denied", "give syncd's user read and write access to that folder"),
    errno.EROFS: ("read-only file system", "mount that folder writable"),
}


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def machine_fault(err: BaseException, where: str = "") -> str | None:
    """``"disk full writing '/data/x.csv'; free space on that disk (...)"`` when ``err`` (or what caused it) is a
    fault of the machine a person must fix; None otherwise. ``where``: the folder, when the error names no file
    (a write to an open file)."""
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in MACHINE_FAULTS:
            words, advice = MACHINE_FAULTS[e.errno]
            at = (f" writing {str(e.filename)!r}" if e.filename is not None
                  else f" under {where!r}" if where else "")
            return f"{words}{at}; {advice} (syncd retries at every run)"
        if isinstance(e, OperationalError) and "disk is full" in str(e.orig):
            return "disk full under the SQLite database; free space on that disk (syncd retries at every run)"
    return None


def stops_the_batch(err: BaseException) -> bool:
    """The database itself, or a fault of the machine (disk full, permission denied): every other item of a
    batch would fail the same way, so the stage fails (one line, one alert) instead of setting items aside."""
    return isinstance(err, SQLAlchemyError) or machine_fault(err) is not None


def database_unreachable(err: BaseException) -> bool:
    """A lost or refused database connection (an outage, a restart, a failover): transient by nature."""
    return any(isinstance(e, OperationalError | InterfaceError | PoolTimeout)
               or (isinstance(e, DBAPIError) and e.connection_invalidated) for e in _chain(err))


def _db_words(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first[:200]}" if first else type(orig).__name__


def _record(rt: Runtime, stage: str, scope: str, started: float, error: str | None, *, told: bool = False) -> None:
    """Keep the run's outcome; log the failing and recovered edges. ``told``: the failure was logged already
    (a shop paused for re-authorisation), so its first failure is not told twice."""
    if rt.stop.is_set():
        # cut short by shutdown: it neither recovered nor failed (a retry gives up when asked to stop)
        log.debug("%s %s: run interrupted by shutdown (%s)", stage, scope, error or "no error")
        return
    now = clock.now()
    ms = int((time.monotonic() - started) * 1000)
    with rt.db.begin() as s:
        # The common case, a success after a success (or a first run), in one statement: every scope of every
        # stage records each run (13 a second in the idle three-shop bench), and loading the row through the
        # ORM to change it cost a second statement and about a sixth of the idle daemon's stage CPU. A row
        # with failures is left alone here: the recovery is told and recorded below.
        if error is None and s.execute(_success_after_success(s).values(_success(stage, scope, now, ms))
                                       .returning(StageRun.stage)).first() is not None:  # no row: it had failures
            return
        row = s.get(StageRun, (stage, scope))
        if row is None:
            row = StageRun(stage=stage, scope=scope, consecutive_failures=0)
            s.add(row)
        previous_failures = row.consecutive_failures or 0
        row.last_started_at = now
        row.last_duration_ms = ms
        if error is None:
            row.last_success_at = now
            row.consecutive_failures = 0
            if previous_failures:
                log.info(_("{stage} {scope} recovered after {n} failed runs").format(
                    stage=stage, scope=scope, n=previous_failures))
        else:
            row.last_error_at = now
            row.last_error = error[:2000]
            row.consecutive_failures = previous_failures + 1
            if previous_failures == 0 and not told:
                log.error(_("{stage} {scope} failing: {error}").format(stage=stage, scope=scope, error=error))
            else:
                log.debug("%s %s still failing (%d): %s", stage, scope, row.consecutive_failures, error)


def _success(stage: str, scope: str, now: datetime, ms: int) -> dict[str, Any]:
    return {"stage": stage, "scope": scope, "consecutive_failures": 0, "last_started_at": now,
            "last_duration_ms": ms, "last_success_at": now}


def _success_after_success(s: Session) -> Any:
    """The upsert of a successful run (rows from :func:`_success`) that leaves a row with failures alone."""
    ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(StageRun)
    return ins.on_conflict_do_update(
        index_elements=["stage", "scope"], where=StageRun.consecutive_failures == 0,
        set_={"last_started_at": ins.excluded.last_started_at, "last_duration_ms": ins.excluded.last_duration_ms,
              "last_success_at": ins.excluded.last_success_at})


def record_idle(rt: Runtime, stage: str, scopes: Collection[str]) -> None:
    """Record a run of ``scopes`` that had nothing to do, found so by one query of the stage's for them all: a
    success after a success, in one statement whatever their number (fifty shops' write-back each asked and
    recorded alone cost four statements a shop every run). A scope with failures is left alone: its work waits
    for its next attempt, and its recovery is told when that attempt succeeds."""
    if not scopes or rt.stop.is_set():
        return
    now = clock.now()
    with rt.db.begin() as s:
        s.execute(_success_after_success(s), [_success(stage, scope, now, 0) for scope in sorted(scopes)])


def pause_shop(rt: Runtime, shop_id: str, reason: str) -> bool:
    """A person must act (re-authorise): stop this shop, let the others go on. True when it was running (the
    pause is logged once, then)."""
    now = clock.now()
    with rt.db.begin() as s:
        shop = s.get(Shop, shop_id)
        platform = rt.config.shops[shop_id].platform if shop_id in rt.config.shops else "?"
        if shop is None:
            shop = Shop(id=shop_id, platform=platform, updated_at=now)
            s.add(shop)
        newly = not shop.paused_reason
        if newly:
            log.error(_("shop {shop} paused: {reason}").format(shop=shop_id, reason=reason))
            shop.paused_at = now
        shop.paused_reason = reason
        shop.updated_at = now
    return newly


def paused_shops(rt: Runtime) -> set[str]:
    """The shops paused for a person (re-authorisation), read once for a stage run's shops: one read, not one
    per shop (the write-back stage runs every few seconds)."""
    with rt.db.read() as s:
        return set(s.scalars(select(Shop.id).where(Shop.paused_reason.is_not(None))))


def _record_skip(rt: Runtime, stage: str, scope: str, held: LeaseHeld) -> None:
    reason = f"{OVERDUE_PREFIX}{held}" if held.overdue else str(held)
    with rt.db.begin() as s:
        row = s.get(StageRun, (stage, scope))
        if row is None:
            row = StageRun(stage=stage, scope=scope, consecutive_failures=0)
            s.add(row)
        was_overdue = (row.last_skip_reason or "").startswith(OVERDUE_PREFIX)
        row.last_skipped_at = clock.now()
        row.last_skip_reason = reason[:2000]
    if held.overdue and not was_overdue:
        log.warning(_("{stage} {scope} skipped: {held}; a run that long is stuck, or its holder's clock is wrong")
                    .format(stage=stage, scope=scope, held=held))
    else:
        log.debug("%s %s skipped: %s", stage, scope, held)


def _where(rt: Runtime, stage: str, name: str) -> str:
    """The folder a drop-folder supplier's stage writes in (an error on an open file names no path)."""
    adapter = rt.suppliers.get(name)
    folder = getattr(adapter, "inbox_dir" if stage == "collect" else "outbox_dir", None) if adapter else None
    return str(folder) if folder is not None else ""


@contextmanager
def scope(rt: Runtime, report: StageReport, name: str, *, shop: str | None = None) -> Iterator[None]:
    """Run one scope of a stage; record success, a skip or the error, never let it escape. Every line logged
    inside carries the stage and the shop or supplier (JSON logs: syncd/logs.py)."""
    supplier = name if name in rt.suppliers or name in rt.api_suppliers else None
    # the calls a scope keeps in flight on threads of their own (syncd.inflight) count to the stage's CPU
    sink = inflight.CPU_SINK.set(report.add_worker_cpu)
    try:
        with log_context(stage=report.stage, shop=shop, supplier=supplier):
            yield from _scope(rt, report, name, shop)
    finally:
        inflight.CPU_SINK.reset(sink)


def _scope(rt: Runtime, report: StageReport, name: str, shop: str | None) -> Iterator[None]:
    started = time.monotonic()
    try:
        try:
            yield
        except LeaseHeld as held:
            report.skipped.append((name, str(held)))
            _record_skip(rt, report.stage, name, held)
        except ReauthorizationRequired as err:
            told = pause_shop(rt, shop, str(err)) if shop else False
            report.failures.append((name, str(err)))
            _record(rt, report.stage, name, started, str(err), told=told)
        except SyncdError as err:
            fault = machine_fault(err, _where(rt, report.stage, name))
            report.failures.append((name, fault or str(err)))
            _record(rt, report.stage, name, started, fault or f"{type(err).__name__}: {err}")
        except SQLAlchemyError as err:
            if not database_unreachable(err):
                raise
            report.db_error = report.db_error or _db_words(err)  # logged once per stage by finish()
            report.failures.append((name, "database unreachable"))
            _record(rt, report.stage, name, started, f"database unreachable: {_db_words(err)}")
        except Exception as err:
            fault = machine_fault(err, _where(rt, report.stage, name))
            if fault is None:
                raise
            report.failures.append((name, fault))
            _record(rt, report.stage, name, started, fault)
        else:
            _record(rt, report.stage, name, started, None)
    except SQLAlchemyError as err:
        if not database_unreachable(err):
            _unexpected(rt, report, name, started, err)
        else:
            report.db_error = report.db_error or _db_words(err)
            if not any(n == name for n, _err in report.failures):
                report.failures.append((name, "database unreachable"))
    except Exception as err:  # noqa: BLE001 - a programming error: logged with its traceback by _unexpected
        _unexpected(rt, report, name, started, err)


def _unexpected(rt: Runtime, report: StageReport, name: str, started: float, err: Exception) -> None:
    log.exception("%s %s: unexpected error", report.stage, name, exc_info=err)
    report.failures.append((name, repr(err)))
    try:
        _record(rt, report.stage, name, started, f"internal error: {err!r}")
    except SQLAlchemyError as rec_err:
        if not database_unreachable(rec_err):
            raise
        report.db_error = report.db_error or _db_words(rec_err)


def finish(rt: Runtime, report: StageReport, err: BaseException | None = None) -> None:
    """After a stage run (never raises for the database): one line when the database becomes unreachable
    for this stage, one when it works again. ``err``: what escaped the stage outside its scopes."""
    if err is not None:
        if isinstance(err, SQLAlchemyError) and database_unreachable(err):
            report.db_error = report.db_error or _db_words(err)
        else:
            log.error("%s: unexpected error outside its scopes", report.stage, exc_info=err)
            report.failures.append(("*", repr(err)))
    with rt.faults_lock:
        failed = rt.db_faults.get(report.stage, 0)
        if report.db_error is not None:
            rt.db_faults[report.stage] = failed + 1
        elif failed and not rt.stop.is_set():
            del rt.db_faults[report.stage]
    if report.db_error is not None and not failed:
        log.error(_("{stage}: database unreachable ({error}); the stage tries again at every run").format(
            stage=report.stage, error=report.db_error))
    elif report.db_error is None and failed and not rt.stop.is_set():
        log.info(_("{stage}: database reachable again after {n} failed run(s)").format(stage=report.stage, n=failed))


StageFn = Callable[[Runtime, StageReport], None]
MAX_PARALLEL_SHOPS = 16  # workers per stage at most; a quarter of the shops, at least 4
# The pull works a third of the shops at once, at most 24: when every shop starts with a day's look-back at once
# (a fleet's first pulls, a catch-up), a quarter at a time left the last of fifty shops waiting longer than the
# pull interval for their first turn (four rounds of 8 s first runs on a busy core)
MAX_PARALLEL_PULLS = 24
WAIT_SHARE = 0.8  # a stage run waits for its shops at most this share of the stage's interval
# True while the daemon's scheduler runs the stage: only then does a run stop waiting for a late shop (``syncd
# once`` and direct calls wait for every shop, so the stages after see their work)
SCHEDULED: ContextVar[bool] = ContextVar("syncd_stage_scheduled", default=False)


class ShopPool:
    """A stage's bounded pool of per-shop workers, alive across the stage's runs.

    A shop whose work from an earlier run is still going (its API answers slowly, or it waits out its rate
    budget) is not started again, and a run stops waiting for its shops before the stage's next run is due:
    the other shops keep their schedule. The late shop finishes in the pool and records its own result."""

    def __init__(self, stage: str, workers: int) -> None:
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{stage}-shop")
        self.busy: dict[str, Future[None]] = {}
        self.lock = threading.Lock()

    def submit(self, shop: str, fn: Callable[[], None]) -> Future[None] | None:
        """Start ``fn`` for ``shop`` unless its earlier work is still going (then None)."""
        with self.lock:
            running = self.busy.get(shop)
            if running is not None and not running.done():
                return None
            future = self.pool.submit(fn)
            self.busy[shop] = future
            return future

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the shops still at work (a stopping daemon lets them finish the
        step in flight, as it does its stages); False when one is still going."""
        with self.lock:
            running = [f for f in self.busy.values() if not f.done()]
        return not wait(running, timeout=timeout).not_done

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def shop_workers(shops: int, stage: str = "") -> int:
    """How many of ``shops`` a stage works at once: a quarter of them, at least 4, at most MAX_PARALLEL_SHOPS;
    the pull a third, at most MAX_PARALLEL_PULLS."""
    if stage == "pull":
        return min(shops, max(4, min(MAX_PARALLEL_PULLS, -(-shops // 3))))
    return min(shops, max(4, min(MAX_PARALLEL_SHOPS, -(-shops // 4))))


def _shop_pool(rt: Runtime, stage: str, shops: int) -> ShopPool:
    workers = shop_workers(shops, stage)
    with rt.faults_lock:
        pool = rt.shop_pools.get(stage)
        if pool is None or pool.workers < workers:  # shops were added: a larger pool; the old one drains
            if pool is not None:
                pool.pool.shutdown(wait=False)
            pool = rt.shop_pools[stage] = ShopPool(stage, workers)
        return pool


def for_each_shop(rt: Runtime, report: StageReport, work: Callable[[str], int], *,
                  scope_name: Callable[[str], str] = lambda shop: shop) -> None:
    """Run ``work(shop)`` for every shop in the stage's bounded pool of workers: one slow, failing or
    rate-limited shop never holds up the others (see :class:`ShopPool`). Each shop is its own scope
    (recorded, never raising)."""
    for_each_scope(rt, report, list(rt.storefronts), work, scope_name=scope_name, shops=True)


def for_each_scope(rt: Runtime, report: StageReport, keys: list[str], work: Callable[[str], int], *,
                   scope_name: Callable[[str], str] = lambda key: key, shops: bool = False,
                   scopes: int | None = None) -> None:
    """Run ``work(key)`` for every key (shops, or suppliers) in the stage's bounded pool of workers, as
    :func:`for_each_shop` does for shops: one slow key never holds up the others, a run waits for them at most
    WAIT_SHARE of the stage's interval, a key still at work from an earlier run is not started again.

    ``scopes``: the stage's keys in all, where it works them in more than one call (the forward stage: its API
    suppliers, then its drop-folder suppliers): the pool has a worker for each, and only a stage with one key
    in all runs it in the stage's own thread."""
    keys = [k for k in keys if not rt.stop.is_set()]

    def one(key: str) -> None:
        with scope(rt, report, scope_name(key), shop=key if shops else None):
            report.add_work(work(key))

    if max(len(keys), scopes or 0) <= 1:
        for key in keys:
            one(key)
        return

    def in_worker(key: str) -> None:
        if rt.stop.is_set():
            return
        cpu = time.thread_time()
        try:
            one(key)
        finally:
            report.add_worker_cpu(time.thread_time() - cpu)

    pool = _shop_pool(rt, report.stage, max(len(keys), scopes or 0))
    started: list[Future[None]] = []
    for key in keys:
        future = pool.submit(key, lambda key=key: in_worker(key))  # type: ignore[misc]
        if future is None:
            report.skipped.append((scope_name(key), "its work from an earlier run is still going"))
        else:
            started.append(future)
    interval = getattr(rt.config.global_.intervals, report.stage, None) if SCHEDULED.get() else None
    wait(started, timeout=interval * WAIT_SHARE if isinstance(interval, int | float) else None)
    for future in started:  # a worker told to end the process (SystemExit, KeyboardInterrupt): the stage ends too
        err = future.exception() if future.done() and not future.cancelled() else None
        if err is not None and not isinstance(err, Exception):
            raise err


def audit(s: Session, rt: Runtime, system: str, action: str, subject: str, *, key: str | None, outcome: str,
          detail: str = "") -> None:
    """One line of the audit log of outside calls: ``intent`` before the call, the outcome after."""
    s.add(AuditEntry(actor=rt.holder, at=clock.now(), system=system, action=action, subject=subject,
                     idempotency_key=key, outcome=outcome, detail=detail[:2000]))


@dataclass
class Audits:
    """Audit lines of a batch, written in one statement by :meth:`write` (the ORM sends one INSERT per
    :func:`audit` line: most of a batched stage's statements)."""

    rt: Runtime
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, system: str, action: str, subject: str, *, key: str | None, outcome: str, detail: str = "") -> None:
        self.rows.append({"actor": self.rt.holder, "at": clock.now(), "system": system, "action": action,
                          "subject": subject, "idempotency_key": key, "outcome": outcome, "detail": detail[:2000]})

    def write(self, s: Session) -> None:
        if self.rows:
            s.execute(insert(AuditEntry), self.rows)
            self.rows = []
