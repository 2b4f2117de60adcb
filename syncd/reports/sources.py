"""What each figure is counted over (a unit: order, supplier order, parcel) and how a unit finds its group.

Every unit belongs to an order paid in the period (``orders.paid_at``, indexed). A unit in several groups
counts in each: an order split over two suppliers counts for both, an order of two SKUs for both SKUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, FromClause, Select, and_, literal, select

from syncd.lifecycle import SupplierOrderState
from syncd.reports.model import TOTAL
from syncd.reports.period import Period, local_day
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder

Unit = Literal["order", "supplier_order", "parcel"]
# supplier orders the supplier has (or had): placed, shipped; cancelled ones count where a figure says so
AT_SUPPLIER = (SupplierOrderState.PLACED, SupplierOrderState.SHIPPED)


def in_period(period: Period) -> ColumnElement[bool]:
    return and_(Order.paid_at >= period.start, Order.paid_at < period.end)


def _period_ids(period: Period) -> Select[Any]:
    return select(Order.id).where(in_period(period))


@dataclass(frozen=True, slots=True)
class Source:
    """The FROM of a figure, with its group key (None: the figure does not apply to the grouping)."""

    frm: FromClause
    key: ColumnElement[Any]


def source(unit: Unit, by: str | None, period: Period, dialect: str) -> Source | None:
    """The units of the period joined to their group (``by`` None: one group over everything)."""
    frm: FromClause
    if unit == "order":
        frm = Order.__table__
    elif unit == "supplier_order":
        frm = SupplierOrder.__table__.join(Order.__table__, Order.id == SupplierOrder.order_id)
    else:
        frm = (Shipment.__table__.join(Order.__table__, Order.id == Shipment.order_id)
               .join(SupplierOrder.__table__, SupplierOrder.id == Shipment.supplier_order_id))
    key: Any
    if by is None:
        key = literal(TOTAL)
    elif by == "shop":
        key = Order.shop_id
    elif by == "day":
        key = local_day(dialect, Order.paid_at, period)
    elif by == "supplier" and unit != "order":
        key = SupplierOrder.supplier_id
    elif by == "supplier":
        sub = (select(SupplierOrder.order_id, SupplierOrder.supplier_id.label("k")).distinct()
               .where(SupplierOrder.order_id.in_(_period_ids(period)),
                      SupplierOrder.state != SupplierOrderState.CANCELLED).subquery())
        frm, key = frm.join(sub, sub.c.order_id == Order.id), sub.c.k
    elif by == "carrier" and unit == "parcel":
        key = Shipment.carrier
    elif by == "carrier" and unit == "order":
        sub = (select(Shipment.order_id, Shipment.carrier.label("k")).distinct()
               .where(Shipment.order_id.in_(_period_ids(period))).subquery())
        frm, key = frm.join(sub, sub.c.order_id == Order.id), sub.c.k
    elif by == "carrier":
        return None
    elif by == "sku":
        sub = (select(OrderLine.order_id, OrderLine.merchant_sku.label("k")).distinct()
               .where(OrderLine.order_id.in_(_period_ids(period))).subquery())
        frm, key = frm.join(sub, sub.c.order_id == Order.id), sub.c.k
    else:
        raise ValueError(f"unknown grouping {by!r}: expected one of shop, supplier, sku, carrier, day")
    return Source(frm, key)
