"""The seller's reports: processing speed, logistics, cost and margin, from the database, for a period of whole
days (the display zone) and a grouping (shop, supplier, sku, carrier, day). Definitions: docs/reports.md.

The console and ``syncd report`` call :func:`build_report` (everything) or the section functions
(:func:`speed`, :func:`logistics`, :func:`provinces`, :func:`margin`) with a connection::

    from syncd.reports import Period, ReportOptions, build_report
    report = build_report(db.engine, Period(date(2026, 11, 1), date(2026, 11, 30)), "supplier",
                          ReportOptions.from_config(config), now=clock.now())

Every figure is aggregated by the database (GROUP BY, histograms of whole minutes for the durations), so a
month of a million orders reads in seconds on SQLite and PostgreSQL (``syncd.reports.bench``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from syncd import clock
from syncd.money import basis_points
from syncd.reports.logistics import Thresholds, logistics, provinces
from syncd.reports.margin import margin
from syncd.reports.model import (
    GROUPINGS,
    TOTAL,
    Distribution,
    LogisticsRow,
    MarginRow,
    ProvinceRow,
    Report,
    SpeedRow,
)
from syncd.reports.period import Period
from syncd.reports.speed import speed

if TYPE_CHECKING:
    from syncd.config.loader import Config

__all__ = ["GROUPINGS", "TOTAL", "Distribution", "LogisticsRow", "MarginRow", "Period", "ProvinceRow", "Report",
           "ReportOptions", "SpeedRow", "Thresholds", "build_report", "logistics", "margin", "provinces", "speed"]


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What the reports take from the configuration: commission per shop, the parcel thresholds."""

    commission_bp: Mapping[str, int] = field(default_factory=dict)  # shop → hundredths of a percent
    shops_without_commission: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_config(cls, config: Config) -> ReportOptions:
        rates = {sid: getattr(shop, "commission_percent", None) for sid, shop in config.shops.items()}
        alerts = config.alerts
        return cls({sid: basis_points(r) for sid, r in rates.items() if r is not None},
                   tuple(sorted(sid for sid, r in rates.items() if r is None)),
                   Thresholds(float(alerts.stalled_in_transit_hours), 24.0))


def _one(rows: list[SpeedRow] | list[LogisticsRow] | list[MarginRow], empty: object) -> object:
    return rows[0] if rows else empty


def build_report(engine: Engine, period: Period, by: str, options: ReportOptions | None = None,
                 now: datetime | None = None) -> Report:
    """Every section of the report for ``period`` grouped ``by`` (one of :data:`GROUPINGS`), with the totals."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: expected one of {', '.join(GROUPINGS)}")
    now = now or clock.now()
    options = options or ReportOptions()
    with engine.connect() as conn:
        totals = (_one(speed(conn, period, None, now), SpeedRow(TOTAL)),
                  _one(logistics(conn, period, None, now, options.thresholds), LogisticsRow(TOTAL)),
                  _one(margin(conn, period, None, options.commission_bp), MarginRow(TOTAL)))
        return Report(period, by, speed(conn, period, by, now), logistics(conn, period, by, now, options.thresholds),
                      margin(conn, period, by, options.commission_bp), provinces(conn, period),
                      totals,  # type: ignore[arg-type]
                      list(options.shops_without_commission))
