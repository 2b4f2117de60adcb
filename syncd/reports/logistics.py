"""Logistics: the parcels of the period's orders per group, how many stall, are never picked up, come back or
are refused, and how many days delivery takes (per group and per province). Counted in one read of the parcels
(:mod:`syncd.reports.parcels`).

States are as the tracking stage left them at the time of the report: a parcel stalled last week and
delivered since counts as delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from syncd.reports.model import LogisticsRow, ProvinceRow
from syncd.reports.parcels import Thresholds, parcel_figures
from syncd.reports.period import Period

__all__ = ["Thresholds", "logistics", "provinces"]


def logistics(conn: Connection, period: Period, by: str | None, now: datetime,
              limits: Thresholds | None = None) -> list[LogisticsRow]:
    """One row per group (``by`` None: one row over everything), sorted by key."""
    return parcel_figures(conn, period, by, now, limits).logistics()


def provinces(conn: Connection, period: Period, now: datetime | None = None) -> list[ProvinceRow]:
    """Parcels and delivery time per receiver province (``""`` where the storefront gave none), most first."""
    from syncd import clock

    return parcel_figures(conn, period, None, now or clock.now()).province_rows()
