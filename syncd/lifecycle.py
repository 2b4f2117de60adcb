"""The allowed state transitions of orders, supplier orders and shipments — in one place.

Order (pipeline state)::

    new ──route──▶ routed ──forward──▶ placed ──writeback──▶ shipped
     │  ▲            │                   │                      │
     ▼  │release     ▼                   ▼                      ▼
    held ◀───────────┴───────────────────┴──────────────────────┘
     │     (a release goes to the state the order's facts imply: new, routed, placed, shipped or cancelled)
     ▼
    cancelled   (cancelled or refunded on the storefront before anything was sent)

A stop (refund, cancellation) on an order with a supplier order at its supplier, in whatever state (held
included), asks the supplier to cancel; what it can no longer stop is alerted (``cancel_too_late``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class OrderState(enum.StrEnum):
    NEW = "new"
    HELD = "held"
    ROUTED = "routed"
    PLACED = "placed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # shipped or completed on the storefront without syncd: nothing to do


class SupplierOrderState(enum.StrEnum):
    PENDING = "pending"  # routed, not yet sent to the supplier
    PLACING = "placing"  # intent recorded (in a batch being written / API call in flight)
    PLACED = "placed"  # the supplier has it
    SHIPPED = "shipped"  # the supplier gave tracking for it
    CANCELLED = "cancelled"


class WritebackState(enum.StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    REJECTED = "rejected"  # the storefront refused; the order is held with its message
    SKIPPED = "skipped"  # nothing to upload (see the shipment's writeback_error)


class HoldReason(enum.StrEnum):
    ADDRESS_INCOMPLETE = "address_incomplete"
    UNMAPPED_SKU = "unmapped_sku"
    NOT_READY = "not_ready"  # unpaid, risk review, not yet released by the platform
    REFUND_REQUESTED = "refund_requested"
    OUT_OF_STOCK = "out_of_stock"
    COD_UNCONFIRMED = "cod_unconfirmed"
    SUPPLIER_REJECTED = "supplier_rejected"
    TRACKING_REJECTED = "tracking_rejected"
    MANUAL = "manual"
    SHADOW = "shadow"  # the shop runs in shadow mode (syncd.shadow): routed, but nothing is sent; clears when live


ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.NEW: frozenset({OrderState.ROUTED, OrderState.HELD, OrderState.CANCELLED, OrderState.SKIPPED}),
    # HELD → SHIPPED: a release whose facts say every parcel is on the storefront already
    OrderState.HELD: frozenset({OrderState.NEW, OrderState.ROUTED, OrderState.PLACED, OrderState.SHIPPED,
                                OrderState.CANCELLED, OrderState.HELD, OrderState.SKIPPED}),
    OrderState.ROUTED: frozenset({OrderState.PLACED, OrderState.HELD, OrderState.CANCELLED}),
    # PLACED → CANCELLED: every supplier order was cancelled at the supplier after a refund
    OrderState.PLACED: frozenset({OrderState.SHIPPED, OrderState.HELD, OrderState.CANCELLED}),
    OrderState.SHIPPED: frozenset({OrderState.HELD}),
    OrderState.CANCELLED: frozenset(),
    OrderState.SKIPPED: frozenset(),
}

SUPPLIER_ORDER_TRANSITIONS: dict[SupplierOrderState, frozenset[SupplierOrderState]] = {
    SupplierOrderState.PENDING: frozenset({SupplierOrderState.PLACING, SupplierOrderState.CANCELLED}),
    # PLACING → SHIPPED: the supplier answered a file the daemon wrote but had not recorded yet (crash).
    SupplierOrderState.PLACING: frozenset({SupplierOrderState.PLACED, SupplierOrderState.PENDING,
                                           SupplierOrderState.SHIPPED}),
    SupplierOrderState.PLACED: frozenset({SupplierOrderState.SHIPPED, SupplierOrderState.CANCELLED}),
    SupplierOrderState.SHIPPED: frozenset({SupplierOrderState.SHIPPED}),
    SupplierOrderState.CANCELLED: frozenset(),
}

WRITEBACK_TRANSITIONS: dict[WritebackState, frozenset[WritebackState]] = {
    WritebackState.PENDING: frozenset({WritebackState.UPLOADING, WritebackState.SKIPPED}),
    WritebackState.UPLOADING: frozenset({WritebackState.UPLOADED, WritebackState.PENDING, WritebackState.REJECTED}),
    WritebackState.UPLOADED: frozenset(),
    WritebackState.REJECTED: frozenset({WritebackState.PENDING}),  # after a person fixed it (release)
    WritebackState.SKIPPED: frozenset(),
}

# Holds that clear by themselves when a later pull (or a config change) shows the condition gone.
AUTO_HOLDS = frozenset({HoldReason.ADDRESS_INCOMPLETE, HoldReason.UNMAPPED_SKU, HoldReason.NOT_READY,
                        HoldReason.REFUND_REQUESTED, HoldReason.OUT_OF_STOCK, HoldReason.SHADOW})
# Of those, the ones worth re-checking on a timer (config or platform state may change without an order edit).
PERIODIC_RECHECK = frozenset({HoldReason.UNMAPPED_SKU, HoldReason.NOT_READY, HoldReason.OUT_OF_STOCK})
# Every other hold (tracking_rejected, supplier_rejected, cod_unconfirmed, manual) waits for a person: routing never
# releases it, whatever the order's later versions say (a cancellation before anything reached a supplier still
# ends it: see syncd.routing.decide).


# Holds a problem found later (the supplier refused the order, a tracking number is unusable) replaces: those that
# clear by themselves and a person's manual hold (quiet by default), never another problem that waits for a person.
YIELDING_HOLDS = AUTO_HOLDS | {HoldReason.MANUAL}


def may_hold_again(state: str, hold_reason: str | None, *, live: frozenset[OrderState]) -> bool:
    """Whether a stage that found a problem with an order holds it for that problem: an order in one of the
    ``live`` states, or one held for a reason the problem outranks (:data:`YIELDING_HOLDS`)."""
    if state == OrderState.HELD:
        return hold_reason in YIELDING_HOLDS
    return state in live


# A supplier order in one of these states exists at the supplier (or may: PLACING is an unknown outcome). An order
# with one reacts to a stop by asking the supplier to cancel, whatever the order's own state (held included).
AT_SUPPLIER = frozenset({SupplierOrderState.PLACING, SupplierOrderState.PLACED, SupplierOrderState.SHIPPED})


class TransitionError(Exception):
    """A programming error: a stage tried a move the lifecycle does not allow."""


def _check(kind: str, table: Mapping[Any, frozenset[Any]], old: str, new: str) -> None:
    # StrEnum members hash and compare like their values, so plain strings look up fine.
    allowed = table.get(old)
    if allowed is None or new not in allowed:
        raise TransitionError(f"{kind}: {old} → {new} is not allowed")


def check_order(old: str, new: str) -> None:
    _check("order", ORDER_TRANSITIONS, old, new)


def check_supplier_order(old: str, new: str) -> None:
    _check("supplier order", SUPPLIER_ORDER_TRANSITIONS, old, new)


def check_writeback(old: str, new: str) -> None:
    _check("shipment write-back", WRITEBACK_TRANSITIONS, old, new)


def order_sources(target: OrderState) -> list[str]:
    """Every state from which ``target`` may be entered (for guarded UPDATE ... WHERE state IN (...))."""
    return [s.value for s, allowed in ORDER_TRANSITIONS.items() if target in allowed]
