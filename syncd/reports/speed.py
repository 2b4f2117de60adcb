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

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from syncd.domain import RefundState
from syncd.lifecycle import OrderState
from syncd.reports.model import Hist, SpeedRow, hists
from syncd.reports.parcels import parcel_figures
from syncd.reports.period import Period, seconds_between
from syncd.reports.sources import Unit, in_period, source
from syncd.store.models import Order, Shipment, SupplierOrder

SUPPLIER_ORDER_STEP = "paid_to_sent"


def histogram(conn: Connection, unit: Unit, by: str | None, period: Period, start: Any, end: Any,
              *where: ColumnElement[bool] | None) -> dict[str, Hist] | None:
    """The histogram of ``end − start`` per group, counted by the database; None when the unit has no such
    group."""
    src = source(unit, by, period, conn.dialect.name)
    if src is None:
        return None
    secs = seconds_between(conn.dialect.name, start, end)
    conds = [c for c in where if c is not None]
    inner = (select(src.key.label("k"), secs.label("s")).select_from(src.frm)
             .where(in_period(period), start.is_not(None), end.is_not(None), *conds).subquery())
    minute = inner.c.s // 60
    q = select(inner.c.k, minute, func.count(), func.max(inner.c.s)).group_by(inner.c.k, minute)
    return hists(conn.execute(q))


def sent_hists(conn: Connection, period: Period, by: str | None) -> dict[str, Hist] | None:
    """paid → sent to the supplier, per group, over supplier orders (reships left out)."""
    return histogram(conn, "supplier_order", by, period, Order.paid_at, SupplierOrder.placed_at,
                     SupplierOrder.kind != "reship")


def _first_uploads(period: Period) -> Any:
    """Per order of the period with a parcel on the storefront: its first upload."""
    return (select(Shipment.order_id, func.min(Shipment.uploaded_at).label("up"))
            .where(Shipment.order_id.in_(select(Order.id).where(in_period(period))),
                   Shipment.uploaded_at.is_not(None))
            .group_by(Shipment.order_id).subquery())


def _judged(period: Period, up: Any) -> list[ColumnElement[bool]]:
    """The orders judged on time or not: with a ship-by time, and uploaded or still due (not cancelled, skipped
    or refunded in full)."""
    return [in_period(period), Order.ship_by.is_not(None),
            or_(up.is_not(None), and_(Order.state.not_in([OrderState.CANCELLED, OrderState.SKIPPED]),
                                      Order.refund_state != RefundState.REFUNDED))]


def on_time(conn: Connection, by: str | None, period: Period, now: datetime) -> dict[str, tuple[int, int, int]]:
    """Per group: (on time, late, pending) over the period's orders that have a ship-by time. An order that
    with no tracking on the storefront that was cancelled, skipped or refunded in full is not judged."""
    src = source("order", by, period, conn.dialect.name)
    assert src is not None  # every grouping reaches orders
    first = _first_uploads(period)
    up = first.c.up
    q = (select(src.key,
                func.sum(case((up <= Order.ship_by, 1), else_=0)),
                func.sum(case((up > Order.ship_by, 1), (and_(up.is_(None), Order.ship_by < now), 1), else_=0)),
                func.sum(case((and_(up.is_(None), Order.ship_by >= now), 1), else_=0)))
         .select_from(src.frm.outerjoin(first, first.c.order_id == Order.id))
         .where(*_judged(period, up))
         .group_by(src.key))
    return {str(k): (int(a or 0), int(b or 0), int(c or 0)) for k, a, b, c in conn.execute(q)}


def due_until(conn: Connection, period: Period) -> datetime | None:
    """The latest ship-by time among the period's judged orders not on the storefront yet: until then some of
    them may still be pending, from then on every one is late (None: there is none)."""
    first = _first_uploads(period)
    q = (select(func.max(Order.ship_by)).select_from(Order.__table__.outerjoin(first, first.c.order_id == Order.id))
         .where(*_judged(period, first.c.up), first.c.up.is_(None)))
    return conn.scalar(q)


def assemble(sent: dict[str, Hist] | None, steps: Mapping[str, Mapping[str, Hist]],
             judged: Mapping[str, tuple[int, int, int]], keys: Iterable[str] | None = None) -> list[SpeedRow]:
    """Speed rows from the parts (``sent`` None: the grouping has no supplier-order step), sorted by key;
    ``keys``: only these groups."""
    wanted = set(keys) if keys is not None else None
    rows: dict[str, SpeedRow] = {}

    def row(key: str) -> SpeedRow | None:
        if wanted is not None and key not in wanted:
            return None
        if key not in rows:
            rows[key] = SpeedRow(key)
            if sent is None:
                rows[key].paid_to_sent = None
        return rows[key]

    for key, h in (sent or {}).items():
        if (r := row(key)) is not None:
            r.paid_to_sent = h.distribution()
    for name, per_key in steps.items():
        for key, h in per_key.items():
            if (r := row(key)) is not None:
                setattr(r, name, h.distribution())
    for key, (good, late, pending) in judged.items():
        if (r := row(key)) is not None:
            r.on_time, r.late, r.pending = good, late, pending
    return sorted(rows.values(), key=lambda r: r.key)


def speed(conn: Connection, period: Period, by: str | None, now: datetime) -> list[SpeedRow]:
    """One row per group (``by`` None: one row over everything, key ``""``), sorted by key."""
    return assemble(sent_hists(conn, period, by), parcel_figures(conn, period, by, now).steps(),
                    on_time(conn, by, period, now))
