"""What an operator does by hand: release or hold an order."""

from __future__ import annotations

from sqlalchemy import select, update

from syncd import clock
from syncd.errors import RejectedError
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState, check_order
from syncd.stages.route import hold_order
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
