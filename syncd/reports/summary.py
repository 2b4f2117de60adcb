"""The reports' daily summary: each closed day of payment's exact partial figures (:mod:`syncd.reports.parts`),
so that a month is read as thirty days of sums instead of half a million orders (issue 18).

- **What it keeps** (``report_summary``): per day, grouping and key, the parts as JSON — minute histograms with
  the longest in seconds, parcel counts, on-time counts, money in fen. Grouping ``""`` holds the day's totals,
  ``province`` the delivery figures per province. Stalled and never picked up are never kept: they depend on the
  time of the report and are always counted live (:func:`syncd.reports.parcels.live_flags`).
- **Which days are clean** (``report_days``): rolled up, not marked stale since, counted with the same zone and
  commission rates as the report (``basis``), and with no order still due on the storefront after the report's
  time (``due_until``: before it, an order not uploaded yet may still be on time).
- **Keeping it true**: triggers (revision 0014) add a row to ``report_stale`` on every write to orders, order
  lines, supplier orders and parcels that a figure reads. The report treats the days of marks not applied yet as
  stale; :func:`roll_up` applies them (marks the days stale), then recomputes a bounded number of stale days
  with the raw queries, each day in one transaction: a crash leaves a day stale or clean, never half written.
- **Reading**: :func:`read` adds up the clean days; the report runs the raw queries for the others (today, days
  stale or never rolled up). With an empty summary the report is simply the raw one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, func, insert, select, union, update

from syncd import clock
from syncd.i18n import _
from syncd.reports.model import GROUPINGS, TOTAL, Hist, LogisticsRow, MarginRow
from syncd.reports.parcels import ParcelGroup, Thresholds
from syncd.reports.parts import MONEY, Parts, raw_parts, reading
from syncd.reports.period import Period, local_day
from syncd.reports.speed import due_until
from syncd.store.models import Order, ReportDay, ReportStale, ReportSummary

log = logging.getLogger("syncd.reports")

PROVINCE = "province"  # the grouping of the per-province delivery figures
DAYS_PER_RUN = 4  # a scheduled roll-up recomputes at most this many days (a day of 20,000 orders: seconds)
INTERVAL_MINUTES = 10
# the stored on-time counts are counted as at the end of time: an order not uploaded is late (see due_until)
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
KEPT = ("parcels", "delivered", "returned", "refused")  # the parcel counts kept (not the live ones)


def basis(zone: ZoneInfo, commission_bp: Mapping[str, int]) -> str:
    """What a day's figures were counted with: the zone of its days and the commission rates."""
    return json.dumps([zone.key, sorted(commission_bp.items())], separators=(",", ":"))


# ---- encoding ---------------------------------------------------------------------------------------------------

def _hist(h: Hist) -> list[int]:
    out = [h.top if h.top is not None else -1]
    for minute, n in sorted(h.counts.items()):
        out += (minute, n)
    return out


def _add_hist(into: Hist, data: list[int]) -> None:
    if len(data) < 3:
        return
    counts = into.counts
    for i in range(1, len(data), 2):
        counts[data[i]] += data[i + 1]
    if into.top is None or data[0] > into.top:
        into.top = data[0]


def _group(g: ParcelGroup) -> dict[str, Any]:
    return {"c": [getattr(g.row, name) for name in KEPT], "d": _hist(g.delivery),
            "h": {name: _hist(h) for name, h in g.steps.items()}}


def _add_group(table: dict[str, ParcelGroup], key: str, data: dict[str, Any]) -> None:
    g = table.get(key)
    if g is None:
        g = table[key] = ParcelGroup(LogisticsRow(key))
    for name, n in zip(KEPT, data["c"], strict=True):
        setattr(g.row, name, getattr(g.row, name) + n)
    _add_hist(g.delivery, data["d"])
    for name, h in data["h"].items():
        _add_hist(g.steps[name], h)


def _rows(day: str, parts: Parts, totals: bool) -> Iterator[dict[str, Any]]:
    """The summary rows of one day's parts: its grouping's keys, and (``totals``) the totals and provinces."""
    by = parts.by
    keys = set(parts.groups.groups) | set(parts.sent or ()) | set(parts.judged) | set(parts.money)
    for key in sorted(keys):
        data: dict[str, Any] = {}
        if key in parts.groups.groups:
            data["p"] = _group(parts.groups.groups[key])
        if parts.sent is not None and key in parts.sent:
            data["s"] = _hist(parts.sent[key])
        if key in parts.judged:
            data["j"] = parts.judged[key]
        if key in parts.money:
            data["m"] = [getattr(parts.money[key], name) for name in MONEY]
        yield {"day": day, "grouping": by, "key": key, "data": json.dumps(data, separators=(",", ":"))}
    if not totals:
        return
    whole = parts.whole.groups.get(TOTAL) or ParcelGroup(LogisticsRow(TOTAL))
    data = {"p": _group(whole), "s": _hist(parts.sent_total), "j": parts.judged_total,
            "m": [getattr(parts.money_total, name) for name in MONEY]}
    yield {"day": day, "grouping": TOTAL, "key": TOTAL, "data": json.dumps(data, separators=(",", ":"))}
    for province, g in parts.whole.provinces.items():
        yield {"day": day, "grouping": PROVINCE, "key": province, "data": json.dumps({"p": _group(g)})}


def _add_money(into: MarginRow, values: list[int]) -> None:
    for name, v in zip(MONEY, values, strict=True):
        setattr(into, name, getattr(into, name) + v)


def read(conn: Connection, days: Collection[date], by: str) -> Parts:
    """The parts of ``days`` (clean ones: see :func:`clean_days`) added up, for a report grouped ``by``."""
    out = Parts(by)
    if not days:
        return out
    wanted = [d.isoformat() for d in days]
    q = (select(ReportSummary.grouping, ReportSummary.key, ReportSummary.data)
         .where(ReportSummary.day.in_(wanted), ReportSummary.grouping.in_([by, TOTAL, PROVINCE])))
    for grouping, key, text in conn.execute(q):
        data = json.loads(text)
        if grouping == PROVINCE:
            _add_group(out.whole.provinces, key, data["p"])
        elif grouping == TOTAL:
            _add_group(out.whole.groups, TOTAL, data["p"])
            _add_hist(out.sent_total, data["s"])
            for i in range(3):
                out.judged_total[i] += data["j"][i]
            _add_money(out.money_total, data["m"])
        else:
            if "p" in data:
                _add_group(out.groups.groups, key, data["p"])
            if "s" in data and out.sent is not None:
                _add_hist(out.sent.setdefault(key, Hist()), data["s"])
            if "j" in data:
                j = out.judged.setdefault(key, [0, 0, 0])
                for i in range(3):
                    j[i] += data["j"][i]
            if "m" in data:
                _add_money(out.money.setdefault(key, MarginRow(key)), data["m"])
    return out


# ---- which days are clean ---------------------------------------------------------------------------------------

def _marked(conn: Connection, zone: ZoneInfo, max_id: int | None = None, period: Period | None = None) -> set[date]:
    """The days of payment (in ``zone``) of the orders marked stale (up to mark ``max_id``; paid in ``period``),
    counted by the database: a backlog of millions of marks comes back as a few days."""
    dialect = conn.dialect.name
    like = period or Period.day(clock.now().astimezone(zone).date(), zone)  # the zone's offset on SQLite
    by_order = (select(local_day(dialect, Order.paid_at, like).label("d"))
                .join(ReportStale, ReportStale.order_id == Order.id).where(Order.paid_at.is_not(None)))
    by_time = (select(local_day(dialect, ReportStale.paid_at, like).label("d"))
               .where(ReportStale.paid_at.is_not(None)))
    if max_id is not None:
        by_order, by_time = by_order.where(ReportStale.id <= max_id), by_time.where(ReportStale.id <= max_id)
    if period is not None:
        by_order = by_order.where(Order.paid_at >= period.start, Order.paid_at < period.end)
        by_time = by_time.where(ReportStale.paid_at >= period.start, ReportStale.paid_at < period.end)
    return {date.fromisoformat(d) for (d,) in conn.execute(union(by_order, by_time)) if d}


def clean_days(conn: Connection, period: Period, key: str, now: datetime) -> set[date]:
    """The days of ``period`` whose summary is exactly what the raw queries give at ``now``: rolled up with
    ``basis`` ``key``, no write marked since, no order still due on the storefront after ``now``."""
    rows = conn.execute(select(ReportDay.day, ReportDay.due_until).where(
        ReportDay.day >= period.first.isoformat(), ReportDay.day <= period.last.isoformat(),
        ReportDay.clean.is_(True), ReportDay.basis == key))
    out = {date.fromisoformat(day) for day, due in rows if due is None or due < now}
    if out:
        out -= _marked(conn, period.zone, period=period)
    return out


# ---- rolling up -------------------------------------------------------------------------------------------------

def apply_marks(engine: Engine, zone: ZoneInfo, now: datetime | None = None) -> int:
    """Turn the marks written so far into stale days (the days of payment they touch), and mark the days from the
    first payment to yesterday that were never rolled up (a database upgraded with history: the job backfills it
    a few days a run), in one transaction; returns how many days were marked."""
    now = now or clock.now()
    with engine.begin() as conn:
        top = conn.scalar(select(func.max(ReportStale.id)))
        days = {d.isoformat() for d in _marked(conn, zone, max_id=top)} if top is not None else set()
        first = conn.scalar(select(func.min(Order.paid_at)))
        if first is not None:
            day, last = first.astimezone(zone).date(), now.astimezone(zone).date() - timedelta(days=1)
            known = set(conn.scalars(select(ReportDay.day)))
            while day <= last:
                if day.isoformat() not in known:
                    days.add(day.isoformat())
                day += timedelta(days=1)
        _mark_stale(conn, sorted(days))
        if top is not None:
            conn.execute(delete(ReportStale).where(ReportStale.id <= top))
    return len(days)


def _mark_stale(conn: Connection, days: Iterable[str]) -> None:
    days = list(days)
    for start in range(0, len(days), 500):
        chunk = days[start:start + 500]
        conn.execute(update(ReportDay).where(ReportDay.day.in_(chunk)).values(clean=False))
        known = set(conn.scalars(select(ReportDay.day).where(ReportDay.day.in_(chunk))))
        new = [{"day": d, "clean": False, "basis": ""} for d in chunk if d not in known]
        if new:
            conn.execute(insert(ReportDay), new)


def roll_up_day(engine: Engine, day: date, zone: ZoneInfo, commission_bp: Mapping[str, int],
                now: datetime) -> None:
    """Recompute one day's summary with the raw queries and mark it clean, in one transaction."""
    period = Period.day(day, zone)
    rates = dict(commission_bp)
    limits = Thresholds()
    with reading(engine) as conn:  # the raw queries outside the write: a writer never waits for them
        rows = list(_rows(day.isoformat(), raw_parts(conn, period, "shop", END_OF_TIME, rates, limits), True))
        for by in GROUPINGS:
            if by != "shop":
                parts = raw_parts(conn, period, by, END_OF_TIME, rates, limits, totals=False)
                rows += _rows(day.isoformat(), parts, False)
        due = due_until(conn, period)
    # A write to the day after the read above left its mark, which makes the day stale again: the report does not
    # trust it, the next run recomputes it.
    with engine.begin() as conn:
        conn.execute(delete(ReportSummary).where(ReportSummary.day == day.isoformat()))
        for start in range(0, len(rows), 500):
            conn.execute(insert(ReportSummary), rows[start:start + 500])
        conn.execute(update(ReportDay).where(ReportDay.day == day.isoformat()).values(
            clean=True, basis=basis(zone, rates), due_until=due, rolled_at=now))


def due_days(engine: Engine, zone: ZoneInfo, commission_bp: Mapping[str, int], now: datetime) -> list[date]:
    """The days to roll up, newest first: stale, or counted with another basis, and over (before today)."""
    today = now.astimezone(zone).date().isoformat()
    with engine.connect() as conn:
        days = conn.scalars(select(ReportDay.day).where(
            ReportDay.day < today, (ReportDay.clean.is_(False)) | (ReportDay.basis != basis(zone, commission_bp)))
            .order_by(ReportDay.day.desc()))
        return [date.fromisoformat(d) for d in days]


def roll_up(engine: Engine, zone: ZoneInfo, commission_bp: Mapping[str, int], now: datetime | None = None,
            max_days: int | None = DAYS_PER_RUN, progress: Callable[[int, int], None] | None = None) -> int:
    """Apply the marks, then recompute at most ``max_days`` stale days (None: all), newest first; returns how
    many days were recomputed."""
    now = now or clock.now()
    apply_marks(engine, zone, now)
    days = due_days(engine, zone, commission_bp, now)
    if max_days is not None:
        days = days[:max_days]
    for n, day in enumerate(days, 1):
        roll_up_day(engine, day, zone, commission_bp, now)
        if progress:
            progress(n, len(days))
    return len(days)


def rebuild(engine: Engine, zone: ZoneInfo, commission_bp: Mapping[str, int], now: datetime | None = None,
            progress: Callable[[int, int], None] | None = None) -> int:
    """Every day from the first payment to yesterday, computed once (the backfill); returns the days."""
    now = now or clock.now()
    with engine.begin() as conn:
        conn.execute(update(ReportDay).values(clean=False))
    return roll_up(engine, zone, commission_bp, now, None, progress)


def run_job(rt: Any) -> None:
    """The scheduled roll-up (every :data:`INTERVAL_MINUTES`): bounded, logs a failure, never raises into the
    scheduler."""
    from syncd.reports import ReportOptions

    if rt.stop.is_set():
        return
    try:
        zone = ZoneInfo(rt.config.global_.timezone)
        options = ReportOptions.from_config(rt.config)
        done = roll_up(rt.db.engine, zone, options.commission_bp)
    except Exception:  # the scheduler must never see an exception; the next run tries again
        log.exception(_("report summary: the roll-up failed; it runs again in {minutes} minutes").format(
            minutes=INTERVAL_MINUTES))
        return
    if done:
        log.info(_("report summary: {days} day(s) recomputed").format(days=done))
