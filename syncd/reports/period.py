"""A report's period (whole days in the display zone) and the SQL pieces that depend on the database: a
duration in seconds, the local day of a time, minute buckets for the distributions.

Durations are aggregated in the database as a histogram of whole minutes per group (GROUP BY group, minute):
a month of a million orders comes back as a few thousand rows, and the median and 90th percentile are read
from the cumulative counts exactly as from the sorted list of minute values. The maximum is kept to the second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from syncd import clock


@dataclass(frozen=True, slots=True)
class Period:
    """From the start of ``first`` to the end of ``last`` (both included), days of ``zone``."""

    first: date
    last: date
    zone: ZoneInfo = clock.SHANGHAI

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @property
    def start(self) -> datetime:
        """The first instant, aware UTC."""
        return datetime.combine(self.first, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day, aware UTC (excluded)."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @classmethod
    def day(cls, day: date, zone: ZoneInfo = clock.SHANGHAI) -> Period:
        return cls(day, day, zone)

    def text(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first} – {self.last}"


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[int]:
    """``end − start`` in whole seconds, computed by the database."""
    if dialect == "sqlite":  # times are text there; julianday keeps about a tenth of a millisecond
        return cast(func.round((func.julianday(end) - func.julianday(start)) * 86400), Integer)
    return cast(func.extract("epoch", end - start), Integer)


def local_day(dialect: str, at: Any, period: Period) -> ColumnElement[str]:
    """The ``YYYY-MM-DD`` of ``at`` in the period's zone."""
    if dialect == "sqlite":
        # SQLite knows no zones: the zone's offset at the period's start (Asia/Shanghai has had one offset since
        # 1991; a zone with daylight saving may put an hour around midnight on the wrong day in SQLite only).
        offset = period.start.astimezone(period.zone).utcoffset() or timedelta()
        return func.date(at, f"{int(offset.total_seconds()) // 60:+d} minutes")
    return func.to_char(func.timezone(literal(period.zone.key), at), "YYYY-MM-DD")


def percentile_of_counts(counts: Iterable[tuple[int, int]], total: int, q: float) -> float | None:
    """The ``q``-th percentile (0–100) of a histogram ``(value, count)`` sorted by value, linear between the
    closest ranks (as :func:`syncd.alerts.daily.percentile` over the expanded list)."""
    if total <= 0:
        return None
    pos = (total - 1) * q / 100
    lo_rank, hi_rank = int(pos), min(int(pos) + 1, total - 1)
    lo = hi = None
    seen = 0
    for value, n in counts:
        if lo is None and lo_rank < seen + n:
            lo = value
        if hi_rank < seen + n:
            hi = value
            break
        seen += n
    assert lo is not None and hi is not None
    return lo + (hi - lo) * (pos - int(pos))
