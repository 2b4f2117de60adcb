"""Logistics: the parcels of the period's orders per group, how many stall, are never picked up, come back or
are refused, and how many days delivery takes (per group and per province).

States are as the tracking stage left them at the time of the report: a parcel stalled last week and
delivered since counts as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from syncd.domain import STALLED_VERDICT, LogisticsState
from syncd.reports.model import LogisticsRow, ProvinceRow
from syncd.reports.period import Period
from syncd.reports.sources import in_period, source
from syncd.reports.speed import histogram
from syncd.store.models import Shipment

MOVING = (LogisticsState.PICKED_UP, LogisticsState.IN_TRANSIT, LogisticsState.DELIVERING)
BACK = (LogisticsState.RETURNING, LogisticsState.RETURNED)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a parcel counts as stalled or never picked up (the alert rules' defaults)."""

    stall_hours: float = 48  # alerts.yaml stalled_in_transit_hours
    no_pickup_hours: float = 24  # platforms count a number without a scan within 24 h as a fake shipment


def logistics(conn: Connection, period: Period, by: str | None, now: datetime,
              limits: Thresholds = Thresholds()) -> list[LogisticsRow]:
    """One row per group (``by`` None: one row over everything), sorted by key."""
    src = source("parcel", by, period, conn.dialect.name)
    assert src is not None  # every grouping reaches parcels
    state = Shipment.logistics_state
    quiet_since = func.coalesce(Shipment.last_event_at, Shipment.handed_over_at)
    stalled = and_(state.in_(MOVING), or_(quiet_since < now - timedelta(hours=limits.stall_hours),
                                          Shipment.track_verdict == STALLED_VERDICT))
    unpicked = and_(state == LogisticsState.NONE, Shipment.picked_up_at.is_(None),
                    Shipment.handed_over_at < now - timedelta(hours=limits.no_pickup_hours))

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (select(src.key, func.count(), n(state == LogisticsState.DELIVERED), n(stalled), n(unpicked),
                n(state.in_(BACK)), n(state == LogisticsState.REFUSED))
         .select_from(src.frm).where(in_period(period)).group_by(src.key))
    rows = {}
    for k, parcels, delivered, stuck, never, back, refused in conn.execute(q):
        rows[str(k)] = LogisticsRow(str(k), int(parcels), int(delivered or 0), int(stuck or 0), int(never or 0),
                                    int(back or 0), int(refused or 0))
    days = histogram(conn, "parcel", by, period, Shipment.handed_over_at, Shipment.delivered_at) or {}
    for key, dist in days.items():
        if key in rows:
            rows[key].delivery_days = dist
    return sorted(rows.values(), key=lambda r: r.key)


def provinces(conn: Connection, period: Period) -> list[ProvinceRow]:
    """Parcels and delivery time per receiver province (``""`` where the storefront gave none), most first."""
    src = source("parcel", None, period, conn.dialect.name)
    assert src is not None
    q = (select(Shipment.province, func.count(), func.sum(case((Shipment.logistics_state == LogisticsState.DELIVERED,
                                                                1), else_=0)))
         .select_from(src.frm).where(in_period(period)).group_by(Shipment.province))
    rows = {str(p): ProvinceRow(str(p), int(c), int(d or 0)) for p, c, d in conn.execute(q)}
    days = histogram(conn, "parcel", None, period, Shipment.handed_over_at, Shipment.delivered_at,
                     key=Shipment.province) or {}
    for p, dist in days.items():
        if p in rows:
            rows[p].delivery_days = dist
    return sorted(rows.values(), key=lambda r: (-r.parcels, r.province))
