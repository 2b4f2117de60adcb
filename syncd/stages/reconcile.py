"""reconcile: compare the platform's order count per window with ours over the last days; pull what is
missing; report a mismatch that survives the re-pull (``syncd status``; an alert once alerts exist)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from syncd import clock
from syncd.errors import SyncdError
from syncd.i18n import _
from syncd.runtime import Runtime
from syncd.stages.pull import store_orders, walk
from syncd.stages.runner import StageReport, for_each_shop, shop_paused
from syncd.store.db import stage_lease
from syncd.store.models import Order

log = logging.getLogger("syncd.reconcile")


class ReconcileMismatch(SyncdError):
    """The platform lists more orders than we hold, even after reading the window again."""


def _ours(rt: Runtime, shop_id: str, start: datetime, end: datetime) -> int:
    with rt.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Order).where(
            Order.shop_id == shop_id, Order.platform_updated_at >= start, Order.platform_updated_at <= end)) or 0)


def reconcile_shop(rt: Runtime, shop_id: str) -> int:
    """Returns how many windows had to be read again."""
    adapter = rt.storefronts[shop_id]
    shop = rt.config.shops[shop_id]
    with stage_lease(rt.db, f"reconcile:{shop_id}", rt.holder, timedelta(hours=1)):
        adapter.ensure_token()
        now = clock.now()
        end_limit = now - timedelta(seconds=shop.pull.lag_seconds) - timedelta(minutes=shop.pull.overlap_minutes)
        window = timedelta(minutes=min(shop.pull.window_minutes, adapter.max_window.total_seconds() / 60))
        start = now - timedelta(days=rt.config.global_.reconcile_days)
        repulled, mismatches = 0, []
        while start < end_limit and not rt.stop.is_set():
            end = min(start + window, end_limit)
            theirs = adapter.count_orders(start, end)
            if theirs is None:
                log.info(_("reconcile {shop}: the platform cannot count orders; skipped").format(shop=shop_id))
                return 0
            if theirs > _ours(rt, shop_id, start, end):
                walk(rt, shop_id, start, end, adapter.list_orders, store_orders(shop_id), cursor=None)
                repulled += 1
                ours = _ours(rt, shop_id, start, end)
                if theirs > ours:
                    mismatches.append(f"{start.isoformat()}..{end.isoformat()}: platform {theirs}, syncd {ours}")
                else:
                    log.warning(_("reconcile {shop}: window {start}..{end} was missing {n} order(s); pulled them")
                                .format(shop=shop_id, start=start.isoformat(), end=end.isoformat(), n=theirs - ours))
            start = end
        if mismatches:
            raise ReconcileMismatch(f"{len(mismatches)} window(s) still differ after reading them again: "
                                    + "; ".join(mismatches[:5]))
        return repulled


def run(rt: Runtime, report: StageReport) -> None:
    for_each_shop(rt, report, lambda shop_id: 0 if shop_paused(rt, shop_id) else reconcile_shop(rt, shop_id),
                  scope_name=lambda shop_id: f"reconcile:{shop_id}")
