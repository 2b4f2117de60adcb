"""pull: list each shop's orders changed since its cursor, window by window, and upsert them.

The cursor moves only in the transaction that committed the window's orders, never past now − lag,
and every run starts ``overlap`` before the cursor (late-stamped updates land behind it).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from syncd import clock
from syncd.runtime import Runtime
from syncd.stages.runner import StageReport, scope, shop_paused
from syncd.store.db import lease
from syncd.store.models import Cursor, Quarantine
from syncd.store.orders import upsert_orders

log = logging.getLogger("syncd.pull")

MAX_WINDOWS_PER_RUN = 500  # a long catch-up goes on in the next run
ORDERS = "orders"


def read_cursor(rt: Runtime, shop_id: str) -> datetime | None:
    with rt.db.begin() as s:
        row = s.get(Cursor, (shop_id, ORDERS))
        return row.watermark if row else None


def pull_shop(rt: Runtime, shop_id: str) -> int:
    """Pull one shop up to now − lag; returns the number of orders written."""
    shop = rt.config.shops[shop_id]
    adapter = rt.storefronts[shop_id]
    with lease(rt.db, f"pull:{shop_id}", rt.holder, timedelta(minutes=15)) as got:
        if not got:
            log.debug("pull %s: another replica holds the lease", shop_id)
            return 0
        adapter.ensure_token()
        now = clock.now()
        end_limit = now - timedelta(seconds=shop.pull.lag_seconds)
        window = timedelta(minutes=min(shop.pull.window_minutes, adapter.max_window.total_seconds() / 60))
        overlap = min(timedelta(minutes=shop.pull.overlap_minutes), window / 2)
        cursor = read_cursor(rt, shop_id) or now - timedelta(hours=shop.pull.first_lookback_hours)
        start = cursor - overlap
        written = 0
        for _ in range(MAX_WINDOWS_PER_RUN):
            if start >= end_limit or rt.stop.is_set():
                break
            end = min(start + window, end_limit)
            result = adapter.list_orders(start, end)
            got_count = len({o.platform_order_id for o in result.orders}) + len(result.rejects)
            if result.total is not None and got_count < result.total:
                log.warning("pull %s: platform counted %d orders in %s..%s, %d read (orders moved while paging;"
                            " the overlap of the next window picks them up)", shop_id, result.total,
                            start.isoformat(), end.isoformat(), got_count)
            with rt.db.begin() as s:
                res = upsert_orders(s, shop_id, result.orders, clock.now())
                for rej in result.rejects:
                    s.add(Quarantine(source=f"shop {shop_id}", key=rej.key[:128], reason=rej.reason,
                                     raw=rej.raw if isinstance(rej.raw, dict) else {"value": repr(rej.raw)[:2000]},
                                     created_at=clock.now()))
                    log.error("pull %s: order %s could not be read and was quarantined: %s",
                              shop_id, rej.key, rej.reason)
                row = s.get(Cursor, (shop_id, ORDERS))
                if row is None:
                    s.add(Cursor(shop_id=shop_id, stream=ORDERS, watermark=end, updated_at=clock.now()))
                elif end > row.watermark:
                    row.watermark = end
                    row.updated_at = clock.now()
            written += res.inserted + res.updated
            if end >= end_limit:
                break
            start = end - overlap
        return written


def run(rt: Runtime, report: StageReport) -> None:
    for shop_id in rt.storefronts:
        with scope(rt, report, shop_id, shop=shop_id):
            if shop_paused(rt, shop_id):
                _maybe_unpause(rt, shop_id)
                continue
            report.work += pull_shop(rt, shop_id)


def _maybe_unpause(rt: Runtime, shop_id: str) -> None:
    """A paused shop is tried again every 30 minutes: a person may have re-authorised it meanwhile."""
    from syncd.store.models import Shop

    with rt.db.begin() as s:
        shop = s.scalar(select(Shop).where(Shop.id == shop_id))
        if shop is None or shop.paused_at is None or clock.now() - shop.paused_at < timedelta(minutes=30):
            return
    rt.storefronts[shop_id].ensure_token()  # raises ReauthorizationRequired again if still not authorised
    with rt.db.begin() as s:
        shop = s.get(Shop, shop_id)
        if shop is not None:
            shop.paused_reason = None
            shop.paused_at = None
    log.info("shop %s: authorisation works again; resumed", shop_id)
