"""What an operator does by hand: release or hold an order, reship it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from syncd import clock
from syncd.errors import RejectedError
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState, check_order
from syncd.routing import idempotency_key
from syncd.runtime import Runtime
from syncd.stages.route import hold_order
from syncd.stages.runner import audit
from syncd.store.db import Database
from syncd.store.models import Order, Shipment, SupplierOrder
from syncd.store.orders import release_holds


def release(db: Database, order_id: int, by: str = "operator") -> str:
    """Release a held order: it goes back to where it was (new → routed again; placed → write-back again)."""
    now = clock.now()
    with db.begin() as s:
        o = s.get(Order, order_id)
        assert o is not None
        if o.state != OrderState.HELD:
            raise RejectedError(f"order {o.platform_order_id} is not held (state {o.state})")
        sent = s.scalar(select(SupplierOrder.id).where(
            SupplierOrder.order_id == o.id,
            SupplierOrder.state.in_([SupplierOrderState.PLACED, SupplierOrderState.SHIPPED])).limit(1))
        target = OrderState.PLACED if sent else OrderState.NEW
        check_order(o.state, target)
        o.state, o.hold_reason, o.recheck_at, o.updated_at = target, None, None, now
        release_holds(s, [o.id], now, by)
        s.execute(update(Shipment).where(Shipment.order_id == o.id, Shipment.writeback_state == WritebackState.REJECTED)
                  .values(writeback_state=WritebackState.PENDING, next_attempt_at=None))
        return target.value


def hold(db: Database, order_id: int, reason: str, by: str = "operator") -> None:
    """A manual hold: nothing moves for this order until a person releases it."""
    now = clock.now()
    with db.begin() as s:
        o = s.get(Order, order_id)
        assert o is not None
        if o.state in (OrderState.CANCELLED, OrderState.SKIPPED):
            raise RejectedError(f"order {o.platform_order_id} is {o.state}; nothing to hold")
        hold_order(s, o, HoldReason.MANUAL, f"{reason} (by {by})", now, auto=False)


def reship(rt: Runtime, order_id: int, *, sku: str | None = None, qty: int | None = None,
           who: str = "operator") -> int:
    """``syncd orders reship ID [--line SKU --qty N]``: a new supplier order linked to the original (exchange,
    lost parcel), marked as a reship. Without ``sku``, every line of every supplier order again. Returns the
    new supplier order's id (one per supplier); placed by the next forward run."""
    now = clock.now()
    with rt.db.begin() as s:
        o = s.get(Order, order_id)
        if o is None:
            raise RejectedError(f"there is no order {order_id}")
        originals = list(s.scalars(select(SupplierOrder).where(
            SupplierOrder.order_id == o.id, SupplierOrder.kind != "reship",
            SupplierOrder.state.in_([SupplierOrderState.PLACED, SupplierOrderState.SHIPPED]))
            .order_by(SupplierOrder.id)))
        if not originals:
            raise RejectedError(f"order {o.platform_order_id} has not been placed with a supplier: nothing to reship")
        picks: list[tuple[SupplierOrder, list[dict[str, Any]]]] = []
        for so in originals:
            lines = [dict(ln) for ln in so.lines if sku is None or ln.get("merchant_sku") == sku]
            if not lines:
                continue
            if qty is not None:
                for ln in lines:
                    per_unit = int(ln["quantity"]) // max(1, int(ln.get("storefront_quantity", 1)))
                    if qty > int(ln.get("storefront_quantity") or ln["quantity"]):
                        raise RejectedError(f"the order has only {ln.get('storefront_quantity')} of {sku}")
                    ln["storefront_quantity"], ln["quantity"] = qty, qty * per_unit
            picks.append((so, lines))
        if not picks:
            raise RejectedError(f"order {o.platform_order_id} has no line with SKU {sku}")
        count = s.scalar(select(func.count()).select_from(SupplierOrder).where(
            SupplierOrder.order_id == o.id, SupplierOrder.kind == "reship")) or 0
        made = []
        for n, (so, lines) in enumerate(picks, start=1):
            new = SupplierOrder(order_id=o.id, supplier_id=so.supplier_id, kind="reship", lines=lines,
                                idempotency_key=idempotency_key(o.shop_id, o.platform_order_id, so.supplier_id,
                                                                100 + count + n),
                                state=SupplierOrderState.PENDING, attempts=0, reship_of=so.id,
                                cancel_state="none", created_at=now, updated_at=now)
            s.add(new)
            s.flush()
            made.append(new.id)
            audit(s, rt, so.supplier_id, "reship", f"{o.shop_id}/{o.platform_order_id}", key=new.idempotency_key,
                  outcome="intent", detail=f"by {who}: reship of supplier order {so.id}: "
                  + ", ".join(f"{ln['supplier_sku']}×{ln['quantity']}" for ln in lines))
    return made[0]
