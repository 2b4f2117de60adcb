"""Cost and margin, integer fen, over the period's orders that reached their supplier.

Per order: **revenue** is what the buyer paid for its lines not refunded (the storefront's unit price ×
quantity; nothing for an order refunded in full); **commission** the shop's ``commission_percent`` of revenue,
rounded to the fen per order; **cost** the sum of its supplier orders the supplier has and was paid for
(placed or shipped; a 1688 order still unpaid is not counted), each at the supplier's own amount or the
configured one; **margin** = revenue − commission − cost. An order with a supplier order of unknown cost is
counted in ``missing_cost`` and left out of every money column (a missing cost is never taken as zero).
An order refunded in full after its supplier was paid is a loss: its cost, with no revenue.

By SKU an order's cost is shared among its lines in proportion to their amounts; by supplier an order's
revenue is shared equally among its supplier orders (each keeps its own cost). Shares are rounded down to the
fen, so groups may add up to a few fen less than the total. Carriers carry no money: no margin by carrier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, and_, case, func, literal, or_, select

from syncd.domain import RefundState
from syncd.reports.model import MarginRow
from syncd.reports.period import Period
from syncd.reports.sources import AT_SUPPLIER, in_period, source
from syncd.store.models import Order, OrderLine, SupplierOrder

PAID_AT_SUPPLIER = and_(SupplierOrder.state.in_(AT_SUPPLIER),
                        or_(SupplierOrder.paid.is_(None), SupplierOrder.paid.is_(True)))


def _rate(commission_bp: Mapping[str, int]) -> ColumnElement[int]:
    if not commission_bp:
        return literal(0)
    return case(dict(commission_bp), value=Order.shop_id, else_=0)


def _per_order(period: Period) -> Any:
    """One row per order of the period at its supplier: revenue, gross, lines, cost, unknown costs, refunded."""
    ids = select(Order.id).where(in_period(period))
    amount = OrderLine.unit_price_fen * OrderLine.quantity
    lines = (select(OrderLine.order_id.label("oid"),
                    func.sum(case((OrderLine.refund_state != RefundState.REFUNDED, amount), else_=0)).label("rev"),
                    func.sum(amount).label("gross"), func.count().label("n"))
             .where(OrderLine.order_id.in_(ids)).group_by(OrderLine.order_id).subquery())
    costs = (select(SupplierOrder.order_id.label("oid"),
                    func.coalesce(func.sum(SupplierOrder.cost_fen), 0).label("cost"),
                    func.sum(case((SupplierOrder.cost_fen.is_(None), 1), else_=0)).label("unknown"),
                    func.count().label("sos"))
             .where(SupplierOrder.order_id.in_(ids), PAID_AT_SUPPLIER).group_by(SupplierOrder.order_id).subquery())
    refunded = Order.refund_state == RefundState.REFUNDED
    return (select(Order.id.label("oid"),
                   case((refunded, 0), else_=func.coalesce(lines.c.rev, 0)).label("rev"),
                   func.coalesce(lines.c.gross, 0).label("gross"), func.coalesce(lines.c.n, 0).label("n"),
                   costs.c.cost, costs.c.unknown, costs.c.sos, case((refunded, 1), else_=0).label("refunded"))
            .select_from(Order.__table__.join(costs, costs.c.oid == Order.id).outerjoin(lines, lines.c.oid == Order.id))
            .where(in_period(period)).subquery())


def _aggregate(key: Any, frm: FromClause, oid: Any, rev: Any, cost: Any, missing: Any, refunded: Any,
               rate: ColumnElement[int]) -> Any:
    known = ~missing
    commission = (rev * rate + 5000) // 10000
    return (select(key,
                   func.count(func.distinct(oid)),
                   func.sum(case((known, rev), else_=0)),
                   func.sum(case((known, commission), else_=0)),
                   func.sum(case((known, cost), else_=0)),
                   func.count(func.distinct(case((missing, oid)))),
                   func.count(func.distinct(case((refunded, oid)))),
                   func.sum(case((and_(refunded, known), cost), else_=0)))
            .select_from(frm).group_by(key))


def margin(conn: Connection, period: Period, by: str | None, commission_bp: Mapping[str, int]) -> list[MarginRow]:
    """One row per group (``by`` None: one row over everything), sorted by key. ``commission_bp``: each shop's
    commission in hundredths of a percent (a shop not in it: none)."""
    po = _per_order(period)
    rate = _rate(commission_bp)
    refunded = po.c.refunded == 1
    if by == "carrier":
        return []
    if by == "sku":
        amount = OrderLine.unit_price_fen * OrderLine.quantity
        line_rev = case((or_(refunded, OrderLine.refund_state == RefundState.REFUNDED), 0), else_=amount)
        share = case((po.c.gross > 0, po.c.cost * amount // po.c.gross), else_=po.c.cost // po.c.n)
        frm = (OrderLine.__table__.join(po, po.c.oid == OrderLine.order_id)
               .join(Order.__table__, Order.id == OrderLine.order_id))
        q = _aggregate(OrderLine.merchant_sku, frm, po.c.oid, line_rev, share, po.c.unknown > 0, refunded, rate)
    elif by == "supplier":
        frm = (SupplierOrder.__table__.join(po, po.c.oid == SupplierOrder.order_id)
               .join(Order.__table__, Order.id == SupplierOrder.order_id))
        cost = func.coalesce(SupplierOrder.cost_fen, 0)
        q = _aggregate(SupplierOrder.supplier_id, frm, po.c.oid, po.c.rev // po.c.sos, cost,
                       SupplierOrder.cost_fen.is_(None), refunded, rate).where(PAID_AT_SUPPLIER)
    else:
        src = source("order", by, period, conn.dialect.name)
        assert src is not None
        q = _aggregate(src.key, src.frm.join(po, po.c.oid == Order.id), po.c.oid, po.c.rev, po.c.cost,
                       po.c.unknown > 0, refunded, rate)
    rows = [MarginRow(str(k), *(int(v or 0) for v in vals)) for k, *vals in conn.execute(q)]
    return sorted(rows, key=lambda r: r.key)

