"""Runs a stage over its scopes (shops or suppliers); one failing scope never stops the others.

Log the edge, not the storm: a scope logs an error when it starts failing and an info line when it
recovers; every run's outcome is kept in ``stage_runs`` for ``syncd status``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd import clock
from syncd.errors import ReauthorizationRequired, SyncdError
from syncd.runtime import Runtime
from syncd.store.models import AuditEntry, Shop, StageRun

log = logging.getLogger("syncd.stage")


@dataclass
class StageReport:
    stage: str
    failures: list[tuple[str, str]] = field(default_factory=list)
    work: int = 0
    worker_cpu: float = 0.0  # CPU seconds of the pool threads that ran its scopes (the job thread's not counted)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_work(self, n: int) -> None:
        with self._lock:
            self.work += n

    def add_worker_cpu(self, seconds: float) -> None:
        with self._lock:
            self.worker_cpu += seconds

    @property
    def ok(self) -> bool:
        return not self.failures


def _record(rt: Runtime, stage: str, scope: str, started: float, error: str | None) -> None:
    now = clock.now()
    ms = int((time.monotonic() - started) * 1000)
    with rt.db.begin() as s:
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
                log.info("%s %s recovered after %d failed runs", stage, scope, previous_failures)
        else:
            row.last_error_at = now
            row.last_error = error[:2000]
            row.consecutive_failures = previous_failures + 1
            if previous_failures == 0:
                log.error("%s %s failing: %s", stage, scope, error)
            else:
                log.debug("%s %s still failing (%d): %s", stage, scope, row.consecutive_failures, error)


def pause_shop(rt: Runtime, shop_id: str, reason: str) -> None:
    """A person must act (re-authorise): stop this shop, let the others go on."""
    now = clock.now()
    with rt.db.begin() as s:
        shop = s.get(Shop, shop_id)
        platform = rt.config.shops[shop_id].platform if shop_id in rt.config.shops else "?"
        if shop is None:
            shop = Shop(id=shop_id, platform=platform, updated_at=now)
            s.add(shop)
        if not shop.paused_reason:
            log.error("shop %s paused: %s", shop_id, reason)
            shop.paused_at = now
        shop.paused_reason = reason
        shop.updated_at = now


def shop_paused(rt: Runtime, shop_id: str) -> str | None:
    with rt.db.read() as s:
        return s.scalar(select(Shop.paused_reason).where(Shop.id == shop_id))


@contextmanager
def scope(rt: Runtime, report: StageReport, name: str, *, shop: str | None = None) -> Iterator[None]:
    """Run one scope of a stage; record success or the error, never let it escape."""
    started = time.monotonic()
    try:
        yield
    except ReauthorizationRequired as err:
        if shop:
            pause_shop(rt, shop, str(err))
        report.failures.append((name, str(err)))
        _record(rt, report.stage, name, started, str(err))
    except SyncdError as err:
        report.failures.append((name, str(err)))
        _record(rt, report.stage, name, started, f"{type(err).__name__}: {err}")
    except Exception as err:  # a programming error: recorded and logged with its traceback, never retried in a loop
        log.exception("%s %s: unexpected error", report.stage, name)
        report.failures.append((name, repr(err)))
        _record(rt, report.stage, name, started, f"internal error: {err!r}")
    else:
        _record(rt, report.stage, name, started, None)


StageFn = Callable[[Runtime, StageReport], None]
MAX_PARALLEL_SHOPS = 4


def for_each_shop(rt: Runtime, report: StageReport, work: Callable[[str], int], *,
                  scope_name: Callable[[str], str] = lambda shop: shop) -> None:
    """Run ``work(shop)`` for every shop, several at a time: one slow or rate-limited shop never holds
    up the others. Each shop is its own scope (recorded, never raising)."""
    shops = [s for s in rt.storefronts if not rt.stop.is_set()]

    def one(shop: str) -> None:
        with scope(rt, report, scope_name(shop), shop=shop):
            report.add_work(work(shop))

    if len(shops) <= 1:
        for shop in shops:
            one(shop)
        return

    def in_worker(shop: str) -> None:
        cpu = time.thread_time()
        try:
            one(shop)
        finally:
            report.add_worker_cpu(time.thread_time() - cpu)

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SHOPS, len(shops)),
                            thread_name_prefix=f"{report.stage}-shop") as pool:
        list(pool.map(in_worker, shops))


def audit(s: Session, rt: Runtime, system: str, action: str, subject: str, *, key: str | None, outcome: str,
          detail: str = "") -> None:
    """One line of the audit log of outside calls: ``intent`` before the call, the outcome after."""
    s.add(AuditEntry(actor=rt.holder, at=clock.now(), system=system, action=action, subject=subject,
                     idempotency_key=key, outcome=outcome, detail=detail[:2000]))
