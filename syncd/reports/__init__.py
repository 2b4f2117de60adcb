"""The seller's reports: processing speed, logistics, cost and margin, from the database, for a period of whole
days (the display zone) and a grouping (shop, supplier, sku, carrier, day). Definitions: docs/reports.md.

The console and ``syncd report`` call :func:`build_report` (everything) or the section functions
(:func:`speed`, :func:`logistics`, :func:`provinces`, :func:`margin`) with a connection::

    from syncd.reports import Period, ReportOptions, build_report
    report = build_report(db.engine, Period(date(2026, 11, 1), date(2026, 11, 30)), "supplier",
                          ReportOptions.from_config(config), now=clock.now())

Every figure is aggregated by the database (GROUP BY, histograms of whole minutes for the durations) except the
parcels', counted by minute in Python from one read. Read raw, a month of about 500,000 orders took 1–3 minutes of
CPU per grouping at 1,000,000 orders stored; so the days before today are kept as exact partial figures in a
daily summary (:mod:`syncd.reports.summary`, docs/reports.md) that the report adds up, reading raw only the days it
cannot trust (today, days written to since their roll-up): the same figures, in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from syncd import clock
from syncd.money import basis_points
from syncd.reports import summary
from syncd.reports.logistics import logistics, provinces
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
from syncd.reports.parcels import Thresholds, live_flags
from syncd.reports.parts import raw_parts, reading, to_report
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


def _runs(period: Period, days: set[date]) -> Iterator[Period]:
    """The periods of consecutive days of ``period`` not in ``days``."""
    day, first = period.first, None
    while day <= period.last + timedelta(days=1):
        inside = day <= period.last and day not in days
        if inside and first is None:
            first = day
        elif not inside and first is not None:
            yield Period(first, day - timedelta(days=1), period.zone)
            first = None
        day += timedelta(days=1)


def build_report(engine: Engine, period: Period, by: str, options: ReportOptions | None = None,
                 now: datetime | None = None, *, use_summary: bool = True) -> Report:
    """Every section of the report for ``period`` grouped ``by`` (one of :data:`GROUPINGS`), with the totals.

    The days whose daily summary is clean are added up from it (with the stalled and never-picked-up parcels
    counted live); the others (today, days stale or never rolled up) are read with the raw queries, once per run
    of consecutive days. ``use_summary`` False: every day raw. Either way the figures are the same."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: expected one of {', '.join(GROUPINGS)}")
    now = now or clock.now()
    options = options or ReportOptions()
    rates = dict(options.commission_bp)
    with reading(engine) as conn:
        clean = summary.clean_days(conn, period, summary.basis(period.zone, rates), now) if use_summary else set()
        parts = summary.read(conn, clean, by)
        if clean:
            parts.add_live(live_flags(conn, period, by, now, options.thresholds, clean))
        for run in _runs(period, clean):
            parts.merge(raw_parts(conn, run, by, now, rates, options.thresholds))
    return to_report(parts, period, list(options.shops_without_commission))
