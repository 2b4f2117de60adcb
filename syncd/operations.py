"""What an operator does by hand: hold or release an order, confirm a cash-on-delivery order, reship, read an order
again, write a supplier file again.

Every action first checks that it applies to the order (or batch) as it is now, and refuses with a
:class:`RejectedError` that says why and what to do instead. Every action done is written to the audit log
(system ``operator``) with who did it (``by``; the CLI defaults to the OS user) and why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import OrderStatus, PaymentMode, RefundState
from syncd.errors import NotFoundError, RejectedError
from syncd.i18n import _
from syncd.lifecycle import (
    AT_SUPPLIER,
    AUTO_HOLDS,
    HoldReason,
    OrderState,
    SupplierOrderState,
    WritebackState,
    check_order,
)
from syncd.routing import cost_columns, idempotency_key
from syncd.runtime import Runtime
from syncd.stages.route import hold_order
from syncd.stages.runner import audit
from syncd.store.audit import OPERATOR, order_subject, record
from syncd.store.db import Database
from syncd.store.models import ExportBatch, Order, Shipment, SupplierOrder
from syncd.store.orders import lock_orders, release_holds
from syncd.views import hold_word, state_word


def subject_of(o: Order) -> str:
    """How the audit log and the refusals name an order: ``order SHOP/ORDER_ID``."""
    return order_subject(o.shop_id, o.platform_order_id)


def _shown(o: Order) -> str:
    """How a refusal names an order to a person, in the active language (the audit keeps :func:`subject_of`)."""
    return _("order {shop}/{order}").format(shop=o.shop_id, order=o.platform_order_id)


def _order(s: Session, order_id: int) -> Order:
    lock_orders(s, [order_id])  # a stage finishing the order's last piece at the same moment waits for us
    o = s.get(Order, order_id)
    if o is None:
        raise NotFoundError(f"there is no order #{order_id}")
    return o


def release_target(s: Session, o: Order) -> OrderState:
    """The state the order's facts imply, once nothing holds it: never the state it had before the hold.

    Cancelled or wholly refunded on the storefront → cancelled (what is at a supplier was asked to stop when
    the stop arrived; what ships anyway is the ``cancel_too_late`` alert's business). Otherwise: nothing at a
    supplier → new (routing decides again); a supplier order still to send or unsure → routed (forward sends
    it, or finds it by its key); every supplier order at its supplier → placed, or shipped when every parcel
    is on the storefront as well."""
    if o.status == OrderStatus.CANCELLED or o.refund_state == RefundState.REFUNDED:
        return OrderState.CANCELLED
    states = set(s.scalars(select(SupplierOrder.state).where(SupplierOrder.order_id == o.id,
                                                             SupplierOrder.state != SupplierOrderState.CANCELLED)))
    if not states & AT_SUPPLIER:
        return OrderState.NEW
    if states & {SupplierOrderState.PENDING, SupplierOrderState.PLACING}:
        return OrderState.ROUTED
    open_parcel = s.scalar(select(Shipment.id).where(Shipment.order_id == o.id, Shipment.writeback_state.in_(
        [WritebackState.PENDING, WritebackState.UPLOADING, WritebackState.REJECTED])).limit(1))
    if SupplierOrderState.PLACED in states or open_parcel is not None:
        return OrderState.PLACED
    return OrderState.SHIPPED


def release(db: Database, order_id: int, by: str = OPERATOR, why: str = "") -> str:
    """Release a held order to the state its facts imply (:func:`release_target`); a refused parcel is sent again.

    Refuses an order that is not held, and a cash-on-delivery order waiting for its call (confirm-cod does that)."""
    now = clock.now()
    with db.begin() as s:
        o = _order(s, order_id)
        what = subject_of(o)
        shown = _shown(o)
        if o.state != OrderState.HELD:
            raise RejectedError(_("{what} is {state}, not held: nothing to release")
                .format(what=shown, state=state_word(o.state)))
        if o.hold_reason == HoldReason.COD_UNCONFIRMED:
            raise RejectedError(_("{what} is cash on delivery and waits for its confirmation call: once the buyer "
                                  "confirmed, run: syncd orders confirm-cod {shop}/{order}").format(
                what=shown, shop=o.shop_id, order=o.platform_order_id))
        target = release_target(s, o)
        check_order(o.state, target)
        resent = 0
        if target == OrderState.CANCELLED:  # nothing to upload to a refunded order; nothing left to send
            s.execute(update(SupplierOrder).where(SupplierOrder.order_id == o.id,
                                                  SupplierOrder.state == SupplierOrderState.PENDING)
                      .values(state=SupplierOrderState.CANCELLED, updated_at=now,
                              last_error="withdrawn: the order was cancelled on the storefront"))
        else:  # the person fixed what the storefront refused: send it again
            resent = int(s.execute(update(Shipment).where(  # type: ignore[attr-defined]
                Shipment.order_id == o.id, Shipment.writeback_state == WritebackState.REJECTED)
                .values(writeback_state=WritebackState.PENDING, next_attempt_at=None)).rowcount or 0)
        reason = o.hold_reason
        o.state, o.hold_reason, o.recheck_at, o.updated_at = target, None, None, now
        release_holds(s, [o.id], now, by[:100])
        record(s, by, "release", what, why, f"was held as {reason}; now {target}"
               + (f"; {resent} refused parcel(s) will be uploaded again" if resent else ""))
        return target.value


def hold(db: Database, order_id: int, reason: str, by: str = OPERATOR) -> None:
    """A manual hold: nothing moves for this order until a person releases it.

    Only while something can still be stopped on our side (new, routed, placed), or to keep an automatic hold
    from clearing by itself; a shipped order's parcels are on the storefront already."""
    now = clock.now()
    with db.begin() as s:
        o = _order(s, order_id)
        what = subject_of(o)
        shown = _shown(o)
        if o.state == OrderState.SHIPPED:
            raise RejectedError(_("{what} is shipped: every parcel is on the storefront, there is nothing left to "
                                  "hold (for a lost or wrong parcel: syncd orders reship)").format(what=shown))
        if o.state in (OrderState.CANCELLED, OrderState.SKIPPED):
            raise RejectedError(_("{what} is {state}; nothing to hold").format(what=shown, state=state_word(o.state)))
        if o.state == OrderState.HELD and o.hold_reason not in AUTO_HOLDS:
            raise RejectedError(_("{what} is already held as {reason}, which waits for a person anyway").format(
                what=shown, reason=hold_word(o.hold_reason)))
        before = f"{o.state}" + (f" ({o.hold_reason})" if o.hold_reason else "")
        hold_order(s, o, HoldReason.MANUAL, f"{reason} (by {by})", now, auto=False)
        record(s, by, "hold", what, reason, f"was {before}")


def confirm_cod(db: Database, order_id: int, by: str = OPERATOR, why: str = "") -> str:
    """``syncd orders confirm-cod``: the buyer of a cash-on-delivery order confirmed on the phone. The order is
    routed like a prepaid one from now on; returns its state."""
    now = clock.now()
    with db.begin() as s:
        o = _order(s, order_id)
        what = subject_of(o)
        shown = _shown(o)
        if o.payment_mode != PaymentMode.COD:
            raise RejectedError(_("{what} is not cash on delivery ({payment}): nothing to confirm").format(
                what=shown, payment=o.payment_mode))
        if o.cod_confirmed_at is not None:
            raise RejectedError(_("{what} was confirmed already by {who} at {at} (Beijing time)").format(
                what=shown, who=o.cod_confirmed_by, at=clock.local_text(o.cod_confirmed_at)))
        if o.state in (OrderState.CANCELLED, OrderState.SKIPPED):
            raise RejectedError(_("{what} is {state}: nothing to confirm")
                .format(what=shown, state=state_word(o.state)))
        if o.state not in (OrderState.NEW, OrderState.HELD):
            raise RejectedError(_("{what} is {state}: a confirmation only applies before it is sent to a supplier")
                .format(
                what=shown, state=state_word(o.state)))
        # unpaid is what a COD order is (Douyin lists it 待确认 until the platform releases it): confirmable
        if o.status not in (OrderStatus.PAID, OrderStatus.UNPAID) or o.refund_state != RefundState.NONE:
            raise RejectedError(_("{what} is {status} on the storefront (refund {refund}): there is nothing to confirm")
                .format(
                what=shown, status=o.status, refund=o.refund_state))
        o.cod_confirmed_at, o.cod_confirmed_by, o.updated_at = now, by[:100], now
        if o.state == OrderState.HELD and o.hold_reason == HoldReason.COD_UNCONFIRMED:
            check_order(o.state, OrderState.NEW)
            o.state, o.hold_reason, o.recheck_at = OrderState.NEW, None, None
            release_holds(s, [o.id], now, by[:100])
        record(s, by, "confirm_cod", what, why, f"now {o.state}")
        return str(o.state)


def reship(rt: Runtime, order_id: int, *, sku: str | None = None, qty: int | None = None,
           who: str = OPERATOR, why: str = "") -> int:
    """``syncd orders reship ID [--line SKU --qty N]``: a new supplier order linked to the original (exchange,
    lost parcel), marked as a reship. Without ``sku``, every line of every supplier order again. Returns the
    new supplier order's id (one per supplier); placed by the next forward run."""
    now = clock.now()
    with rt.db.begin() as s:
        o = _order(s, order_id)
        what = subject_of(o)
        shown = _shown(o)
        if o.state not in (OrderState.PLACED, OrderState.SHIPPED):
            raise RejectedError((_("{what} is {state}: a reship applies to an order placed with a supplier and not "
                                   "held (release it first)") if o.state == OrderState.HELD else
                                 _("{what} is {state}: a reship applies only to an order placed with a supplier"))
                                .format(what=shown, state=state_word(o.state)))
        if o.status == OrderStatus.CANCELLED or o.refund_state == RefundState.REFUNDED:
            raise RejectedError(_("{what} is {status} on the storefront (refund {refund}): a reship would send goods "
                                  "nobody paid for").format(what=shown, status=o.status, refund=o.refund_state))
        originals = list(s.scalars(select(SupplierOrder).where(
            SupplierOrder.order_id == o.id, SupplierOrder.kind != "reship",
            SupplierOrder.state.in_([SupplierOrderState.PLACED, SupplierOrderState.SHIPPED]))
            .order_by(SupplierOrder.id)))
        if not originals:
            raise RejectedError(_("{what} has not been placed with a supplier: nothing to reship").format(what=shown))
        picks: list[tuple[SupplierOrder, list[dict[str, Any]]]] = []
        for so in originals:
            lines = [dict(ln) for ln in so.lines if sku is None or ln.get("merchant_sku") == sku]
            if not lines:
                continue
            if qty is not None:
                for ln in lines:
                    per_unit = int(ln["quantity"]) // max(1, int(ln.get("storefront_quantity", 1)))
                    if qty > int(ln.get("storefront_quantity") or ln["quantity"]):
                        raise RejectedError(_("the order has only {qty} of {sku}")
                            .format(qty=ln.get("storefront_quantity"),
                                                                                   sku=sku))
                    ln["storefront_quantity"], ln["quantity"] = qty, qty * per_unit
            picks.append((so, lines))
        if not picks:
            raise RejectedError(_("{what} has no line with SKU {sku}").format(what=shown, sku=sku))
        count = s.scalar(select(func.count()).select_from(SupplierOrder).where(
            SupplierOrder.order_id == o.id, SupplierOrder.kind == "reship")) or 0
        made = []
        for n, (so, lines) in enumerate(picks, start=1):
            new = SupplierOrder(order_id=o.id, supplier_id=so.supplier_id, kind="reship", lines=lines,
                                idempotency_key=idempotency_key(o.shop_id, o.platform_order_id, so.supplier_id,
                                                                100 + count + n),
                                state=SupplierOrderState.PENDING, attempts=0, reship_of=so.id,
                                cancel_state="none", created_at=now, updated_at=now,
                                **cost_columns(rt.config, so.supplier_id, lines))
            s.add(new)
            s.flush()
            made.append(new.id)
            goods = ", ".join(f"{ln['supplier_sku']}×{ln['quantity']}" for ln in lines)
            audit(s, rt, so.supplier_id, "reship", what, key=new.idempotency_key,
                  outcome="intent", detail=f"by {who}: reship of supplier order {so.id}: {goods}")
            record(s, who, "reship", what, why, f"supplier order #{new.id} at {so.supplier_id}: {goods}")
    return made[0]


def resync(rt: Runtime, shop_id: str, platform_order_id: str, who: str = OPERATOR, why: str = "") -> int:
    """``syncd orders resync``: read one order again from its storefront. Applies in every state (it only reads,
    and an order syncd missed is read for the first time); the changes go through the pull's own rules."""
    from syncd.stages.pull import resync_order

    n = resync_order(rt, shop_id, platform_order_id)
    with rt.db.begin() as s:
        record(s, who, "resync", order_subject(shop_id, platform_order_id), why, "changed" if n else "no change")
    return n


def reexport(rt: Runtime, batch_id: int, who: str = OPERATOR, why: str = "") -> str:
    """``syncd suppliers reexport BATCH``: write a batch file again, same name, same orders. Refuses an order file
    holding an order cancelled since: the supplier would read it as an order to ship."""
    from syncd.stages.forward import reexport as write_again

    with rt.db.read() as s:
        batch = s.get(ExportBatch, batch_id)
        if batch is None:
            raise NotFoundError(f"there is no batch {batch_id}")
        kind = batch.kind
        stopped = list(s.execute(
            select(Order.shop_id, Order.platform_order_id).join(SupplierOrder, SupplierOrder.order_id == Order.id)
            .where(SupplierOrder.batch_id == batch_id,
                   (SupplierOrder.state == SupplierOrderState.CANCELLED) | (SupplierOrder.cancel_state != "none"))
            .order_by(Order.id).limit(5))) if kind != "cancel" else []
    if stopped:
        names = ", ".join(f"{shop}/{pid}" for shop, pid in stopped)
        raise RejectedError(_("batch {batch} holds orders cancelled since it was written ({names}): written again, the "
                              "supplier would ship them; send the supplier the cancellation file instead").format(
            batch=batch_id, names=names))
    name = write_again(rt, batch_id)
    with rt.db.begin() as s:
        record(s, who, "reexport", f"batch {batch_id}", why, f"wrote {name}")
    return name
