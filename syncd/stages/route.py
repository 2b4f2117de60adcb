"""route: validate new orders and split them into supplier orders, or hold them with a reason.

No network call: it claims a batch of orders (SKIP LOCKED on PostgreSQL) and decides in one transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from syncd import clock, shadow
from syncd.details import detail_text
from syncd.i18n import _
from syncd.lifecycle import AT_SUPPLIER, PERIODIC_RECHECK, HoldReason, OrderState, SupplierOrderState, check_order
from syncd.logs import order_fields
from syncd.routing import (
    Cancel,
    Hold,
    Keep,
    LineView,
    OrderView,
    RouteTo,
    Skip,
    Wait,
    cost_columns,
    decide,
    fresh_key,
)
from syncd.runtime import Runtime
from syncd.stages.runner import StageReport, scope
from syncd.store.models import Order, OrderLine, SupplierOrder
from syncd.store.orders import open_hold, open_holds, release_holds
from syncd.views import hold_word

log = logging.getLogger("syncd.route")

RECHECK_EVERY = timedelta(minutes=10)
MAX_BATCHES_PER_RUN = 200


def _claim(s: Session, now: datetime, limit: int) -> list[Order]:
    due = or_(Order.recheck_at.is_(None), Order.recheck_at <= now)
    q = (select(Order)
         .where(or_(and_(Order.state == OrderState.NEW, due),
                    and_(Order.state == OrderState.HELD, Order.recheck_at <= now)))
         .order_by(Order.id).limit(limit).with_for_update(skip_locked=True))
    return list(s.scalars(q))


def route_batch(rt: Runtime, s: Session, now: datetime) -> int:
    """Decide one batch of orders; returns how many were looked at."""
    orders = _claim(s, now, rt.config.global_.batch_size)
    if not orders:
        return 0
    ids = [o.id for o in orders]
    lines: dict[int, list[LineView]] = defaultdict(list)
    for ln in s.scalars(select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.id)):
        lines[ln.order_id].append(LineView(ln.id, ln.platform_line_id, ln.merchant_sku, ln.quantity,
                                           ln.title, ln.spec, ln.refund_state))
    existing_keys: set[str] = set()
    live: set[int] = set()  # orders with a supplier order that is not cancelled
    for so in s.execute(select(SupplierOrder.order_id, SupplierOrder.idempotency_key, SupplierOrder.state)
                        .where(SupplierOrder.order_id.in_(ids))):
        existing_keys.add(so.idempotency_key)
        if so.state != SupplierOrderState.CANCELLED:
            live.add(so.order_id)
    held = [o.id for o in orders if o.state == OrderState.HELD]
    at_supplier = set(s.scalars(select(SupplierOrder.order_id).where(
        SupplierOrder.order_id.in_(held), SupplierOrder.state.in_(AT_SUPPLIER)))) if held else set()
    suppliers = set(rt.suppliers) | set(rt.api_suppliers)
    cool_off = timedelta(minutes=rt.config.global_.route.cool_off_minutes)
    new_supplier_orders = []
    routed, released = [], []
    holds: list[tuple[int, str, str]] = []
    for o in orders:
        view = OrderView(o.shop_id, o.platform_order_id, o.status, o.ready_to_ship, o.not_ready_reason,
                         o.refund_state, o.paid_at, o.receiver, lines[o.id], o.payment_mode,
                         o.cod_confirmed_at is not None, o.hold_reason if o.state == OrderState.HELD else None,
                         o.id in at_supplier)
        decision = decide(view, rt.config.routes, suppliers, now, cool_off)
        if isinstance(decision, RouteTo) and shadow.is_shadow(rt.config, o.shop_id):
            decision = shadow.hold_instead(decision)  # shadow mode: what would be sent, kept back
        if isinstance(decision, Keep):
            o.recheck_at = None  # looked at again when the order changes, or a person releases it
        elif isinstance(decision, Wait):
            o.recheck_at = decision.until
        elif isinstance(decision, Cancel | Skip):
            target = OrderState.CANCELLED if isinstance(decision, Cancel) else OrderState.SKIPPED
            check_order(o.state, target)
            o.state, o.hold_reason, o.recheck_at, o.last_error = target, None, None, decision.reason
            released.append(o.id)
        elif isinstance(decision, Hold):
            if o.state != OrderState.HELD or o.hold_reason != decision.reason:
                log.info(_("order {shop}/{order} held: {reason} ({detail})").format(
                    shop=o.shop_id, order=o.platform_order_id, reason=hold_word(decision.reason),
                    detail=detail_text(decision.detail)), extra=order_fields(o.shop_id, o.platform_order_id))
            mark_held(o, decision.reason, now, auto=True)
            holds.append((o.id, str(decision.reason), decision.detail))
        elif isinstance(decision, RouteTo):
            check_order(o.state, OrderState.ROUTED)
            for part in decision.parts:
                key = part.idempotency_key
                if key in existing_keys and o.id not in live:
                    # every earlier supplier order was withdrawn (a stop that cleared since) or cancelled: without
                    # a new one the order would sit routed with nothing to send
                    key = fresh_key(o.shop_id, o.platform_order_id, part.supplier_id, existing_keys)
                if key not in existing_keys:
                    existing_keys.add(key)
                    new_supplier_orders.append({
                        "order_id": o.id, "supplier_id": part.supplier_id, "idempotency_key": key,
                        "kind": "normal", "lines": part.lines, "state": SupplierOrderState.PENDING,
                        "attempts": 0, "created_at": now, "updated_at": now,
                        **cost_columns(rt.config, part.supplier_id, part.lines)})
            o.state, o.hold_reason, o.recheck_at, o.last_error = OrderState.ROUTED, None, None, None
            routed.append(o.id)
        o.updated_at = now
    open_holds(s, holds, now, auto=True)
    if new_supplier_orders:
        s.execute(insert(SupplierOrder), new_supplier_orders)
    release_holds(s, routed + released, now, "auto")
    if released:  # a cancelled order withdraws what it had pending
        s.execute(update(SupplierOrder).where(SupplierOrder.order_id.in_(released),
                                              SupplierOrder.state == SupplierOrderState.PENDING)
                  .values(state=SupplierOrderState.CANCELLED, updated_at=now))
    return len(orders)


def run(rt: Runtime, report: StageReport) -> None:
    with scope(rt, report, "all"):
        with rt.db.begin() as s:
            shadow.release_live(s, rt.config, clock.now())  # a shop switched from shadow to live
        for _batch in range(MAX_BATCHES_PER_RUN):
            if rt.stop.is_set():
                break
            with rt.db.begin() as s:
                n = route_batch(rt, s, clock.now())
            report.work += n
            if n == 0:
                break


def hold_order(s: Session, order: Order, reason: HoldReason | str, detail: str, now: datetime, *, auto: bool) -> None:
    """Put an order on hold (stages and the CLI share this)."""
    mark_held(order, reason, now, auto=auto)
    open_hold(s, order.id, str(reason), detail, now, auto=auto)


def mark_held(order: Order, reason: HoldReason | str, now: datetime, *, auto: bool) -> None:
    """The order's own side of a hold (its hold row is :func:`open_hold`'s)."""
    check_order(order.state, OrderState.HELD)
    order.state, order.hold_reason, order.updated_at = OrderState.HELD, str(reason), now
    order.recheck_at = now + RECHECK_EVERY if auto and reason in PERIODIC_RECHECK else None
