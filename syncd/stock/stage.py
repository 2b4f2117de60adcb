"""The daemon's two stock jobs: ``stock`` (catalogue syncs that are due, then a full pass with supplier reads)
and ``stock_due`` (every few seconds: what pushes and files changed, written through at once)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from syncd import clock
from syncd.stages.runner import StageReport, for_each_scope, scope
from syncd.stock import catalog, engine, intake
from syncd.store.db import stage_lease

log = logging.getLogger("syncd.stock")

LEASE = timedelta(hours=1)  # a first pass over 10,000 one-SKU-a-call Pinduoduo SKUs takes ~20 minutes
# One stock writer per process: the full pass waits for a due pass in flight; a due pass finding the full pass at
# work leaves its marks for the next run (the full pass writes from the same figures anyway). Across replicas the
# lease "stock" does the same.
_WRITER = threading.Lock()


def run(rt: Any, report: StageReport) -> None:
    """Catalogue syncs that are due (one scope per shop, in the stage's pool), then one full pass."""
    shops = engine.stock_shops(rt)
    if not shops:
        return

    def sync(shop_id: str) -> int:
        with stage_lease(rt.db, f"catalog:{shop_id}", rt.holder, LEASE):
            return catalog.sync_shop(rt, shop_id, shops[shop_id]).skus

    # Each shop's catalogue in a worker of its own: one shop answering slowly (pages of 50 SKUs, 5 s a call) held
    # up every other shop's sync and the pass behind them. The pass waits for them at most a share of the
    # interval; a sync still going finishes in the pool (it replaces the shop's catalogue in one transaction, so
    # the pass reads the old one or the new, never half) and the next pass writes from it.
    for_each_scope(rt, report, catalog.due_shops(rt, clock.now()), sync,
                   scope_name=lambda shop_id: f"catalog:{shop_id}", shops=True)
    if rt.stop.is_set():
        return
    with scope(rt, report, "pass"), stage_lease(rt.db, "stock", rt.holder, LEASE):
        read = engine.PassReport()
        engine.read_suppliers(rt, rt.config.routes.values(), read)  # the due job may write meanwhile
        with _WRITER:
            result = engine.run_pass(rt, read=False)
        result.read, result.read_errors = read.read, read.read_errors
        report.add_work(result.written)
        _log(result)


def run_due(rt: Any, report: StageReport) -> None:
    """Write through what pushes and files changed since the last run."""
    if not engine.stock_shops(rt) or not _WRITER.acquire(blocking=False):
        return
    try:
        with rt.db.read() as s:
            if not intake.due(s):
                return  # the usual case, every few seconds: one indexed read, no lease, no stage record
        with scope(rt, report, "due"), stage_lease(rt.db, "stock", rt.holder, LEASE):
            result = engine.due_pass(rt)
            report.add_work(result.written)
            if result.plans:
                _log(result)
    finally:
        _WRITER.release()


def _log(r: engine.PassReport) -> None:
    if r.plans or r.read_errors or r.shop_errors:
        log.info("stock pass: %d SKU(s) to write, %d written, %d failed (retried next pass), %d refused, "
                 "%d unchanged, %d with no supplier figure, %d write call(s)", len(r.plans), r.written, r.failed,
                 r.refused, r.unchanged, len(r.unknown), r.calls)
