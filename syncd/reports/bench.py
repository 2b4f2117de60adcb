"""How long the reports take on a database: ``syncd report`` for a month, each grouping, timed.

The benchmark seeds the orders (``syncd/bench_seed.py``) and calls :func:`time_month`; by hand::

    python -m syncd.reports.bench sqlite:///data/syncd.db 2026-11 [--by sku] [--raw] [--rebuild]

``--rebuild`` first computes the daily summary (the backfill, timed); ``--raw`` times the raw queries alone (the
report as it was before the summary). The issue's bound: a month over 1,000,000 orders under 10 s on SQLite and
PostgreSQL (docs/benchmarks.md, docs/reports.md).
"""

from __future__ import annotations

import calendar
import os
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Engine, create_engine, func, select

from syncd import clock
from syncd.reports import GROUPINGS, Period, ReportOptions, build_report, summary
from syncd.store.models import Order


def month(year: int, month_no: int) -> Period:
    """The whole month, Beijing days."""
    return Period(date(year, month_no, 1), date(year, month_no, calendar.monthrange(year, month_no)[1]))


def time_month(engine: Engine, period: Period, groupings: Sequence[str] = GROUPINGS,
               options: ReportOptions | None = None, now: datetime | None = None, *,
               use_summary: bool = True) -> dict[str, float]:
    """Seconds :func:`build_report` took for ``period``, per grouping (each the whole report: every section
    grouped that way, plus the totals), measured one after the other on a warm connection pool."""
    out: dict[str, float] = {}
    for by in groupings:
        start = time.perf_counter()
        build_report(engine, period, by, options, now, use_summary=use_summary)
        out[by] = time.perf_counter() - start
    return out


def orders_in(engine: Engine, period: Period) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Order).where(
            Order.paid_at >= period.start, Order.paid_at < period.end)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    flags = {a for a in args if a in ("--raw", "--rebuild")}
    groupings: Sequence[str] = GROUPINGS
    if "--by" in args:
        at = args.index("--by")
        groupings = [args[at + 1]]
        del args[at:at + 2]
    args = [a for a in args if a not in flags]
    if len(args) != 2 or any(by not in GROUPINGS for by in groupings):
        print("usage: python -m syncd.reports.bench DATABASE_URL YYYY-MM [--by GROUPING] [--raw] [--rebuild]",
              file=sys.stderr)
        return 2
    year, month_no = (int(x) for x in args[1].split("-"))
    engine = create_engine(args[0])
    period = month(year, month_no)
    print(f"{orders_in(engine, period):,} orders paid in {period.text()}")
    print(f"  load average {os.getloadavg()[0]:.1f} at the start; CPU: this process (on SQLite the queries too)")
    if "--rebuild" in flags:
        cpu, start = time.process_time(), time.perf_counter()
        days = summary.rebuild(engine, period.zone, {})
        print(f"  summary rebuilt: {days} days in {time.perf_counter() - start:.1f} s, "
              f"CPU {time.process_time() - cpu:.1f} s, load {os.getloadavg()[0]:.1f}")
    with engine.connect() as conn:
        clean = summary.clean_days(conn, period, summary.basis(period.zone, {}), clock.now())
    print(f"  {'raw queries' if '--raw' in flags else f'summary: {len(clean)} clean day(s) of the month'}")
    for by in groupings:
        cpu = time.process_time()
        seconds = time_month(engine, period, [by], use_summary="--raw" not in flags)[by]
        print(f"  --by {by:<8} {seconds:6.2f} s   CPU {time.process_time() - cpu:6.2f} s   "
              f"load {os.getloadavg()[0]:.1f}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
