"""Validate a pulled order and split it into supplier orders — pure logic, no database, no network."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd import details
from syncd.config.models import Component, Route
from syncd.domain import PAST_SHIPPING, OrderStatus, PaymentMode, RefundState
from syncd.lifecycle import AUTO_HOLDS, HoldReason
from syncd.money import yuan_to_fen

if TYPE_CHECKING:
    from syncd.config.loader import Config


@dataclass(frozen=True, slots=True)
class LineView:
    id: int
    platform_line_id: str
    merchant_sku: str
    quantity: int
    title: str = ""
    spec: str = ""
    refund_state: str = RefundState.NONE


@dataclass(frozen=True, slots=True)
class OrderView:
    shop_id: str
    platform_order_id: str
    status: str
    ready_to_ship: bool
    not_ready_reason: str | None
    refund_state: str
    paid_at: datetime | None
    receiver: Mapping[str, Any]
    lines: Sequence[LineView]
    payment_mode: str = PaymentMode.PREPAID
    cod_confirmed: bool = False  # a person confirmed the cash-on-delivery order (``syncd orders confirm-cod``)
    hold_reason: str | None = None  # the open hold's reason, when the order is held
    at_supplier: bool = False  # a supplier order of it is (or may be) at its supplier (lifecycle.AT_SUPPLIER)


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    reason: HoldReason
    detail: str


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime


@dataclass(frozen=True, slots=True)
class Keep:
    """Leave a held order as it is: its hold waits for a person, or the supplier already has its goods."""

    reason: str


@dataclass(frozen=True, slots=True)
class SupplierPart:
    supplier_id: str
    idempotency_key: str
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RouteTo:
    parts: list[SupplierPart]


Decision = Cancel | Skip | Hold | Wait | Keep | RouteTo


def idempotency_key(shop_id: str, platform_order_id: str, supplier_id: str, seq: int = 1) -> str:
    """Stable key of one supplier order; never changes, whatever happens to the order later."""
    digest = hashlib.sha256(f"{shop_id}\x1f{platform_order_id}\x1f{supplier_id}\x1f{seq}".encode()).hexdigest()
    return f"sd{digest[:30]}"


def fresh_key(shop_id: str, platform_order_id: str, supplier_id: str, taken: Collection[str]) -> str:
    """The first key of this supplier order that no earlier supplier order of the order used: one withdrawn
    before it was sent (or cancelled at the supplier) keeps its key, and the order sent after all needs its own.
    Reships count from 100 (:func:`syncd.operations.reship`)."""
    for seq in range(1, 100):
        key = idempotency_key(shop_id, platform_order_id, supplier_id, seq)
        if key not in taken:
            return key
    raise ValueError(f"order {shop_id}/{platform_order_id}: 99 supplier orders at {supplier_id} already")


def supplier_lines(ln: LineView, route: Route, *, supplier_sku: str | None = None) -> list[dict[str, Any]]:
    """The supplier-order lines of one storefront line: one per supplier SKU (a bundle has several)."""
    parts = route.parts()
    if supplier_sku is not None:  # the fallback supplier's SKU replaces the whole line
        parts = [Component(supplier_sku=supplier_sku, multiplier=route.multiplier if not route.components else 1)]
    return [{
        "order_line_id": ln.id,
        "platform_line_id": ln.platform_line_id,
        "merchant_sku": ln.merchant_sku,
        "supplier_sku": part.supplier_sku,
        "quantity": ln.quantity * part.multiplier,
        "storefront_quantity": ln.quantity,
        "title": ln.title,
        "spec": ln.spec,
    } for part in parts]


def config_cost_fen(lines: Sequence[Mapping[str, Any]], routes: Mapping[str, Route],
                    supplier_shipping_fee: float | None = None) -> int | None:
    """What the configuration says a supplier order costs, fen: each route's ``cost`` per supplier unit (per
    storefront unit for a bundle) plus one freight (the largest ``shipping_fee`` of its routes, else the
    supplier's). None when a line's route has no cost, or the line went to a fallback supplier whose price the
    route does not know: a missing cost is never counted as zero."""
    goods, fee, bundles_seen = 0, None, set()
    for ln in lines:
        route = routes.get(str(ln.get("merchant_sku", "")))
        if route is None or route.cost is None:
            return None
        if route.components:
            if ln.get("order_line_id") in bundles_seen:
                continue  # one bundle line becomes several supplier lines; its cost is per storefront unit
            bundles_seen.add(ln.get("order_line_id"))
            units = int(ln.get("storefront_quantity", 0))
        elif ln.get("supplier_sku") != route.supplier_sku:
            return None
        else:
            units = int(ln.get("quantity", 0))
        goods += yuan_to_fen(route.cost) * units
        if route.shipping_fee is not None:
            fee = max(fee or 0, yuan_to_fen(route.shipping_fee))
    if fee is None and supplier_shipping_fee is not None:
        fee = yuan_to_fen(supplier_shipping_fee)
    return goods + (fee or 0)


def cost_columns(config: Config, supplier_id: str, lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``cost_fen`` / ``cost_source`` of a new supplier order from the configuration (routes, the supplier's
    freight): the route stage and a reship stamp them; an API supplier's own amount replaces them later."""
    supplier = config.suppliers.get(supplier_id)
    cost = config_cost_fen(lines, config.routes, supplier.shipping_fee if supplier else None)
    return {"cost_fen": cost, "cost_source": None if cost is None else "config"}


def address_gaps(receiver: Mapping[str, Any]) -> list[str]:
    """What the listed (encrypted/masked) receiver lacks; the decrypted form is checked again at forward."""
    gaps = []
    if not (receiver.get("name_cipher") or receiver.get("name_masked")):
        gaps.append("name")
    if not (receiver.get("phone_cipher") or receiver.get("phone_masked")):
        gaps.append("phone")
    if not receiver.get("province"):
        gaps.append("province")
    if not receiver.get("city"):
        gaps.append("city")
    if not (receiver.get("address_cipher") or receiver.get("address_masked")):
        gaps.append("street address")
    return gaps




def decide(order: OrderView, routes: Mapping[str, Route], suppliers: set[str], now: datetime,
           cool_off: timedelta) -> Decision:
    """What to do with one order now.

    A held order is decided again only within what its hold allows: a hold that waits for a person
    (any but :data:`~syncd.lifecycle.AUTO_HOLDS`) ends by itself only when the order is cancelled or shipped on the
    storefront before anything reached a supplier; an order whose goods are (or may be) at a supplier is never
    cancelled or skipped here (the cancellation stage asks the supplier, and alerts when it is too late).
    """
    decision = _decide(order, routes, suppliers, now, cool_off)
    if order.hold_reason is None:
        return decision
    ends = isinstance(decision, Cancel | Skip)
    if order.at_supplier and ends:
        return Keep("the supplier has the order already: its cancellation is asked of the supplier")
    if order.hold_reason not in AUTO_HOLDS and not ends:  # a reason this version does not know waits too
        return Keep(f"held as {order.hold_reason}: waits for a person (syncd orders release)")
    return decision


def _decide(order: OrderView, routes: Mapping[str, Route], suppliers: set[str], now: datetime,
            cool_off: timedelta) -> Decision:
    if order.status == OrderStatus.CANCELLED or order.refund_state == RefundState.REFUNDED:
        return Cancel("cancelled or refunded on the storefront before forwarding")
    if order.status in PAST_SHIPPING:
        return Skip(f"already {order.status} on the storefront before syncd forwarded it")
    if order.refund_state == RefundState.REQUESTED:
        skus = [ln.merchant_sku for ln in order.lines if ln.refund_state != RefundState.NONE]
        return Hold(HoldReason.REFUND_REQUESTED,
                    details.REFUND_ON.format(skus=", ".join(skus)) if skus else details.REFUND)
    if order.status == OrderStatus.UNPAID:
        return Hold(HoldReason.NOT_READY, details.NOT_PAID)
    if not order.ready_to_ship:
        return Hold(HoldReason.NOT_READY, order.not_ready_reason or details.NOT_RELEASED)
    if order.payment_mode == PaymentMode.COD and not order.cod_confirmed:
        return Hold(HoldReason.COD_UNCONFIRMED,
                    details.COD.format(shop=order.shop_id, order=order.platform_order_id))
    gaps = address_gaps(order.receiver)
    if gaps:
        return Hold(HoldReason.ADDRESS_INCOMPLETE, details.RECEIVER_LACKS.format(fields=", ".join(gaps)))
    if not order.lines:
        return Hold(HoldReason.UNMAPPED_SKU, details.NO_LINES)
    unmapped = sorted({ln.merchant_sku or f"(line {ln.platform_line_id} has no SKU code)"
                       for ln in order.lines if ln.merchant_sku not in routes})
    if unmapped:
        return Hold(HoldReason.UNMAPPED_SKU, details.NO_ROUTE.format(skus=", ".join(unmapped)))
    disabled = sorted({routes[ln.merchant_sku].supplier for ln in order.lines
                       if routes[ln.merchant_sku].supplier not in suppliers})
    if disabled:
        return Hold(HoldReason.UNMAPPED_SKU, details.SUPPLIER_OFF.format(suppliers=", ".join(disabled)))
    if cool_off and order.paid_at and order.paid_at + cool_off > now:
        return Wait(order.paid_at + cool_off)
    return RouteTo(split(order.shop_id, order.platform_order_id, order.lines, routes))


def split(shop_id: str, platform_order_id: str, lines: Sequence[LineView], routes: Mapping[str, Route]
          ) -> list[SupplierPart]:
    """The supplier orders of an order whose every line has a route: one per supplier, ordered by supplier."""
    by_supplier: dict[str, list[dict[str, Any]]] = {}
    for ln in lines:
        route = routes[ln.merchant_sku]
        by_supplier.setdefault(route.supplier, []).extend(supplier_lines(ln, route))
    return [SupplierPart(sid, idempotency_key(shop_id, platform_order_id, sid), part)
            for sid, part in sorted(by_supplier.items())]
