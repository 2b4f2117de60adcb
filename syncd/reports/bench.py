"""How long the reports take on a database: ``syncd report`` for a month, each grouping, timed.

The benchmark seeds the orders (``syncd/bench_seed.py``) and calls :func:`time_month`; by hand::

    python -m syncd.reports.bench sqlite:///data/syncd.db 2026-11

The issue's bound: a month over 1,000,000 orders under 10 s on SQLite and PostgreSQL (docs/benchmarks.md).
"""

from __future__ import annotations

import calendar
import os
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Engine, create_engine, func, select

from syncd.reports import GROUPINGS, Period, ReportOptions, build_report
from syncd.store.models import Order


def month(year: int, month_no: int) -> Period:
    """The whole month, Beijing days."""
    return Period(date(year, month_no, 1), date(year, month_no, calendar.monthrange(year, month_no)[1]))


def time_month(engine: Engine, period: Period, groupings: Sequence[str] = GROUPINGS,
               options: ReportOptions | None = None, now: datetime | None = None) -> dict[str, float]:
    """Seconds :func:`build_report` took for ``period``, per grouping (each the whole report: every section
    grouped that way, plus the totals), measured one after the other on a warm connection pool."""
    out: dict[str, float] = {}
    for by in groupings:
        start = time.perf_counter()
        build_report(engine, period, by, options, now)
        out[by] = time.perf_counter() - start
    return out


def orders_in(engine: Engine, period: Period) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Order).where(
            Order.paid_at >= period.start, Order.paid_at < period.end)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m syncd.reports.bench DATABASE_URL YYYY-MM", file=sys.stderr)
        return 2
    year, month_no = (int(x) for x in args[1].split("-"))
    engine = create_engine(args[0])
    period = month(year, month_no)
    print(f"{orders_in(engine, period):,} orders paid in {period.text()}")
    print(f"  load average {os.getloadavg()[0]:.1f} at the start; CPU: this process (on SQLite the queries too)")
    for by in GROUPINGS:
        cpu = time.process_time()
        seconds = time_month(engine, period, [by])[by]
        print(f"  --by {by:<8} {seconds:6.2f} s   CPU {time.process_time() - cpu:6.2f} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
