"""reconcile: compare the platform's order count per window with ours over the last days; pull what is
missing; report a mismatch that survives the re-pull (``syncd status``; an alert once alerts exist).

It also repairs orders left ``placed`` by the old collect race (before ``finish_orders`` ran where an order
becomes placed): every supplier order shipped, every parcel on the storefront, the order still ``placed``.
Found by that invariant's violation, moved to ``shipped`` by the same guarded update the write-back uses (so a
second pass, or a second replica, changes nothing), one audit line per order."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select

from syncd import clock
from syncd.errors import SyncdError
from syncd.i18n import _
from syncd.lifecycle import OrderState, SupplierOrderState, WritebackState
from syncd.runtime import Runtime
from syncd.stages.pull import store_orders, walk
from syncd.stages.runner import StageReport, audit, for_each_shop, paused_shops
from syncd.store.audit import order_subject
from syncd.store.db import stage_lease
from syncd.store.models import Order, Shipment, SupplierOrder
from syncd.store.orders import finish_orders

log = logging.getLogger("syncd.reconcile")


class ReconcileMismatch(SyncdError):
    """The platform lists more orders than we hold, even after reading the window again."""


def _ours(rt: Runtime, shop_id: str, start: datetime, end: datetime) -> int:
    with rt.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Order).where(
            Order.shop_id == shop_id, Order.platform_updated_at >= start, Order.platform_updated_at <= end)) or 0)


REPAIR_BATCH = 500  # stuck orders finished per transaction


def repair_placed(rt: Runtime, shop_id: str) -> int:
    """Finish the shop's orders stuck ``placed`` although every supplier order shipped and every parcel is on
    the storefront (written back or skipped); returns how many. Idempotent: the update is finish_orders' own,
    guarded by the same conditions."""
    open_so = [SupplierOrderState.PENDING, SupplierOrderState.PLACING, SupplierOrderState.PLACED]
    unsent = [WritebackState.PENDING, WritebackState.UPLOADING, WritebackState.REJECTED]
    stuck = (select(Order.id, Order.platform_order_id)
             .where(Order.shop_id == shop_id, Order.state == OrderState.PLACED,
                    exists().where(Shipment.order_id == Order.id),
                    ~exists().where(SupplierOrder.order_id == Order.id, SupplierOrder.state.in_(open_so)),
                    ~exists().where(Shipment.order_id == Order.id, Shipment.writeback_state.in_(unsent)))
             .order_by(Order.id).limit(REPAIR_BATCH))
    repaired, after = 0, 0
    while not rt.stop.is_set():
        now = clock.now()
        with rt.db.begin() as s:
            found = list(s.execute(stuck.where(Order.id > after)))
            if not found:
                break
            after = found[-1].id
            ids = [r.id for r in found]
            finish_orders(s, ids, now)
            done = set(s.scalars(select(Order.id).where(Order.id.in_(ids), Order.state == OrderState.SHIPPED)))
            for r in found:
                if r.id in done:
                    audit(s, rt, shop_id, "repair_placed", order_subject(shop_id, r.platform_order_id), key=None,
                          outcome="ok", detail="every supplier order shipped and every parcel on the storefront, "
                                               "but the order was still placed (the old collect race): now shipped")
            repaired += len(done)
    if repaired:
        log.warning("reconcile %s: %d order(s) were stuck placed with every parcel on the storefront; now shipped",
                    shop_id, repaired)
    return repaired


def reconcile_shop(rt: Runtime, shop_id: str) -> int:
    """Returns how many windows had to be read again."""
    adapter = rt.storefronts[shop_id]
    shop = rt.config.shops[shop_id]
    with stage_lease(rt.db, f"reconcile:{shop_id}", rt.holder, timedelta(hours=1)):
        repair_placed(rt, shop_id)
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
    paused = paused_shops(rt)
    for_each_shop(rt, report, lambda shop_id: 0 if shop_id in paused else reconcile_shop(rt, shop_id),
                  scope_name=lambda shop_id: f"reconcile:{shop_id}")
