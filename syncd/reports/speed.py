"""Processing speed: how long each step of an order took, per group, and the share shipped on time.

- paid → sent (supplier orders, not reships): the order paid → sent to the supplier (API call answered,
  outbox file written);
- sent → supplier shipped (parcels): the supplier order sent → the parcel handed over (the supplier's own send
  time, else when its number arrived);
- shipped → tracking on storefront (parcels): handed over → tracking number uploaded to the storefront;
- shipped → first scan (parcels): handed over → the carrier's first scan;
- first scan → delivered (parcels): the first scan → delivered;
- on time (orders with a ship-by time): the first tracking upload at or before the platform's ship-by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from syncd.domain import RefundState
from syncd.lifecycle import OrderState
from syncd.reports.model import Distribution, SpeedRow, distributions
from syncd.reports.period import Period, seconds_between
from syncd.reports.sources import Unit, in_period, source
from syncd.store.models import Order, Shipment, SupplierOrder

# (SpeedRow field, unit, start, end, extra condition)
STEPS: tuple[tuple[str, Unit, Any, Any, Any], ...] = (
    ("paid_to_sent", "supplier_order", Order.paid_at, SupplierOrder.placed_at, SupplierOrder.kind != "reship"),
    ("sent_to_shipped", "parcel", SupplierOrder.placed_at, Shipment.handed_over_at, None),
    ("shipped_to_uploaded", "parcel", Shipment.handed_over_at, Shipment.uploaded_at, None),
    ("shipped_to_first_scan", "parcel", Shipment.handed_over_at, Shipment.picked_up_at, None),
    ("first_scan_to_delivered", "parcel", Shipment.picked_up_at, Shipment.delivered_at, None),
)


def histogram(conn: Connection, unit: Unit, by: str | None, period: Period, start: Any, end: Any,
              *where: ColumnElement[bool] | None, key: Any = None) -> dict[str, Distribution] | None:
    """The distribution of ``end − start`` per group (``key``: another column to group by); None when the unit
    has no such group."""
    src = source(unit, by, period, conn.dialect.name)
    if src is None:
        return None
    secs = seconds_between(conn.dialect.name, start, end)
    conds = [c for c in where if c is not None]
    inner = (select((src.key if key is None else key).label("k"), secs.label("s")).select_from(src.frm)
             .where(in_period(period), start.is_not(None), end.is_not(None), *conds).subquery())
    minute = inner.c.s // 60
    q = select(inner.c.k, minute, func.count(), func.max(inner.c.s)).group_by(inner.c.k, minute)
    return distributions(conn.execute(q))


def on_time(conn: Connection, by: str | None, period: Period, now: datetime) -> dict[str, tuple[int, int, int]]:
    """Per group: (on time, late, pending) over the period's orders that have a ship-by time. An order that
    with no tracking on the storefront that was cancelled, skipped or refunded in full is not judged."""
    src = source("order", by, period, conn.dialect.name)
    assert src is not None  # every grouping reaches orders
    first = (select(Shipment.order_id, func.min(Shipment.uploaded_at).label("up"))
             .where(Shipment.order_id.in_(select(Order.id).where(in_period(period))),
                    Shipment.uploaded_at.is_not(None))
             .group_by(Shipment.order_id).subquery())
    up = first.c.up
    q = (select(src.key,
                func.sum(case((up <= Order.ship_by, 1), else_=0)),
                func.sum(case((up > Order.ship_by, 1), (and_(up.is_(None), Order.ship_by < now), 1), else_=0)),
                func.sum(case((and_(up.is_(None), Order.ship_by >= now), 1), else_=0)))
         .select_from(src.frm.outerjoin(first, first.c.order_id == Order.id))
         .where(in_period(period), Order.ship_by.is_not(None),
                or_(up.is_not(None), and_(Order.state.not_in([OrderState.CANCELLED, OrderState.SKIPPED]),
                                          Order.refund_state != RefundState.REFUNDED)))
         .group_by(src.key))
    return {str(k): (int(a or 0), int(b or 0), int(c or 0)) for k, a, b, c in conn.execute(q)}


def speed(conn: Connection, period: Period, by: str | None, now: datetime) -> list[SpeedRow]:
    """One row per group (``by`` None: one row over everything, key ``""``), sorted by key."""
    rows: dict[str, SpeedRow] = {}

    def row(key: str) -> SpeedRow:
        if key not in rows:
            rows[key] = SpeedRow(key)
        return rows[key]

    absent: list[str] = []
    for name, unit, start, end, extra in STEPS:
        found = histogram(conn, unit, by, period, start, end, extra)
        if found is None:
            absent.append(name)
            continue
        for key, dist in found.items():
            setattr(row(key), name, dist)
    for key, (good, late, pending) in on_time(conn, by, period, now).items():
        r = row(key)
        r.on_time, r.late, r.pending = good, late, pending
    out = sorted(rows.values(), key=lambda r: r.key)
    _not_applicable(out, absent)
    return out


def _not_applicable(rows: Sequence[SpeedRow], names: Sequence[str]) -> None:
    for r in rows:
        for name in names:
            setattr(r, name, None)
