"""The daily summary: at the configured Beijing time, once per day even across restarts and replicas.

The day is claimed in the ``usage`` table (name ``alerts.daily_digest``, the Beijing date) in the same
transaction that queues the summary's notifications, so a crash either queues it and records it, or neither.
The same table makes the daily pruning of old notifications and resolved alerts run once a day.
The numbers come from a few aggregate queries, run once a day (they scan orders / shipments of the last 24 h).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from syncd import clock
from syncd.alerts.config import AlertsConfig
from syncd.alerts.lifecycle import quiet_until, severity_word
from syncd.alerts.names import PARCEL_RULES, RULE_NAMES
from syncd.alerts.rules import join
from syncd.domain import Message, Severity
from syncd.i18n import _, ngettext
from syncd.money import fen_text
from syncd.reports import TOTAL, MarginRow, Period, ReportOptions, margin
from syncd.reports.speed import on_time
from syncd.store.db import Database
from syncd.store.models import Alert, Notification, Order, Shipment, Usage

USAGE_NAME = "alerts.daily_digest"
PRUNE_NAME = "alerts.prune"
DAY = timedelta(hours=24)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100), linear between the closest ranks (as numpy's default); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Yesterday:
    """The day before's orders (by payment time), on-time shipping and margin, as ``syncd report`` counts them."""

    day: str
    orders: int = 0
    on_time: int = 0
    late: int = 0
    pending: int = 0
    money: MarginRow = field(default_factory=lambda: MarginRow(""))


@dataclass
class DailySummary:
    day: str  # Beijing date
    pulled: int = 0  # orders first seen in the last 24 h
    shipped: int = 0  # orders whose first tracking upload was in the last 24 h
    ship_hours: list[float] = field(default_factory=list)  # payment → first tracking upload, per shipped order
    open_alerts: dict[str, dict[str, int]] = field(default_factory=dict)  # rule → severity → count
    yesterday: Yesterday | None = None  # the reports' figures of the Beijing day before (docs/reports.md)

    @property
    def median_hours(self) -> float | None:
        return percentile(self.ship_hours, 50)

    @property
    def p90_hours(self) -> float | None:
        return percentile(self.ship_hours, 90)

    @property
    def stalled(self) -> int:
        return sum(sum(by.values()) for rule, by in self.open_alerts.items() if rule in PARCEL_RULES)


def _yesterday(db: Database, now: datetime, options: ReportOptions) -> Yesterday:
    day = clock.ensure_utc(now).astimezone(clock.SHANGHAI).date() - timedelta(days=1)
    period = Period.day(day)
    out = Yesterday(day.isoformat())
    with db.engine.connect() as conn:
        out.orders = int(conn.scalar(select(func.count()).select_from(Order).where(
            Order.paid_at >= period.start, Order.paid_at < period.end)) or 0)
        out.on_time, out.late, out.pending = on_time(conn, None, period, now).get(TOTAL, (0, 0, 0))
        money = margin(conn, period, None, options.commission_bp)
    if money:
        out.money = money[0]
    return out


def summarize(db: Database, now: datetime, options: ReportOptions | None = None) -> DailySummary:
    """The numbers of the 24 hours before ``now``, and of the Beijing day before (orders, on time, margin)."""
    since = now - DAY
    out = DailySummary(clock.ensure_utc(now).astimezone(clock.SHANGHAI).date().isoformat())
    with db.read() as s:
        out.pulled = int(s.scalar(select(func.count()).select_from(Order).where(Order.first_seen_at > since)) or 0)
        first = (select(Shipment.order_id, func.min(Shipment.uploaded_at).label("first"))
                 .where(Shipment.uploaded_at > since).group_by(Shipment.order_id).subquery())
        rows = s.execute(select(Order.paid_at, first.c.first).join(first, first.c.order_id == Order.id)).all()
        out.shipped = len(rows)
        out.ship_hours = [(clock.ensure_utc(up) - clock.ensure_utc(paid)).total_seconds() / 3600
                          for paid, up in rows if paid is not None and up is not None]
        for rule, severity, n in s.execute(select(Alert.rule, Alert.severity, func.count())
                                           .where(Alert.open.is_(True)).group_by(Alert.rule, Alert.severity)):
            out.open_alerts.setdefault(rule, {})[severity] = int(n)
    out.yesterday = _yesterday(db, now, options or ReportOptions())
    return out


def _one_decimal(hours: float | None) -> str:
    return f"{hours or 0:.1f}"


def render(summary: DailySummary) -> Message:
    """The summary in the active language."""
    lines = [_("Orders pulled in the last 24 h: {pulled}; shipped (tracking uploaded): {shipped}.").format(
        pulled=summary.pulled, shipped=summary.shipped)]
    if summary.ship_hours:
        n = len(summary.ship_hours)
        lines.append(ngettext("Payment → tracking upload: median {median} h, 90th percentile {p90} h ({count} order).",
                              "Payment → tracking upload: median {median} h, 90th percentile {p90} h "
                              "({count} orders).", n).format(
            median=_one_decimal(summary.median_hours), p90=_one_decimal(summary.p90_hours), count=n))
    else:
        lines.append(_("Payment → tracking upload: no order shipped in the last 24 h."))
    lines.append(_("Parcels stalled or in trouble: {count}.").format(count=summary.stalled))
    if summary.yesterday is not None:
        lines.extend(yesterday_lines(summary.yesterday))
    total = sum(sum(by.values()) for by in summary.open_alerts.values())
    lines.append((_("Open alerts: {count}:") if total else _("Open alerts: {count}.")).format(count=total))
    for rule in sorted(summary.open_alerts):
        by = summary.open_alerts[rule]
        parts = join(_("{count} {severity}").format(count=by[s], severity=severity_word(s))
                     for s in ("critical", "warning", "info") if by.get(s))
        name = _(RULE_NAMES[rule]) if rule in RULE_NAMES else rule
        lines.append(_("  {rule}: {count} ({parts})").format(rule=name, count=sum(by.values()), parts=parts))
    return Message(_("syncd daily summary {day}").format(day=summary.day), lines, Severity.INFO)


def yesterday_lines(y: Yesterday) -> list[str]:
    """Three lines: the day before's orders, on-time rate, margin (amounts in yuan)."""
    lines = [ngettext("Orders paid {day}: {count}.", "Orders paid {day}: {count}.", y.orders).format(
        day=y.day, count=y.orders)]
    judged = y.on_time + y.late
    if judged:
        lines.append(_("On time (tracking on the storefront by the ship-by time): {rate}% — {on_time} of {judged}; "
                       "{pending} not due yet.").format(rate=f"{y.on_time * 100 / judged:.1f}", on_time=y.on_time,
                                                        judged=judged, pending=y.pending))
    else:
        lines.append(_("On time: none of those orders shipped or due yet ({pending} not due yet).").format(
            pending=y.pending))
    m = y.money
    missing = _(" ({count} without a known cost, left out)").format(count=m.missing_cost) if m.missing_cost else ""
    lines.append(_("Margin: {margin} yuan on {revenue} yuan of sales, {orders} orders at suppliers{missing}.").format(
        margin=fen_text(m.margin_fen), revenue=fen_text(m.revenue_fen), orders=m.orders, missing=missing))
    return lines


def due_day(cfg: AlertsConfig, now: datetime) -> str | None:
    """The Beijing date whose summary is due at ``now`` (its time has come), or None."""
    at = cfg.daily_time
    if at is None:
        return None
    here = clock.ensure_utc(now).astimezone(clock.SHANGHAI)
    return here.date().isoformat() if here.time().replace(tzinfo=None) >= at else None


def _done_today(db: Database, now: datetime) -> set[str]:
    day = clock.ensure_utc(now).astimezone(clock.SHANGHAI).date().isoformat()
    with db.read() as s:
        return set(s.scalars(select(Usage.name).where(Usage.day == day, Usage.name.in_([USAGE_NAME, PRUNE_NAME]))))


def queue_daily(db: Database, cfg: AlertsConfig, channels: Sequence[str], now: datetime, *,
                checked: bool = False, options: ReportOptions | None = None) -> bool:
    """Queue today's summary once it is due, unless it was queued already. True when queued now.
    ``checked``: the caller already knows today's summary was not queued yet."""
    day = due_day(cfg, now)
    targets = [c for c in (cfg.daily_digest_channels if cfg.daily_digest_channels is not None else channels)
               if c in channels]
    if day is None or not targets or (not checked and USAGE_NAME in _done_today(db, now)):
        return False
    message = render(summarize(db, now, options))
    body = "\n".join(message.lines)
    rows = [{"channel": c, "alert_id": None, "kind": "daily", "severity": str(Severity.INFO),
             "title": message.title, "body": body, "created_at": now, "attempts": 0,
             "not_before": quiet_until(cfg, c, Severity.INFO, now)} for c in targets]
    try:
        with db.begin() as s:
            s.execute(insert(Usage).values(name=USAGE_NAME, day=day, count=1))
            s.execute(insert(Notification), rows)
    except IntegrityError:
        return False  # another replica queued it a moment ago
    return True


def prune(db: Database, cfg: AlertsConfig, now: datetime) -> int:
    """Once a day: forget delivered notifications and resolved alerts older than ``keep_history_days``, so
    the tables the watch pass reads stay small. Returns how many rows went (0 when already done today)."""
    day = clock.ensure_utc(now).astimezone(clock.SHANGHAI).date().isoformat()
    cut = now - timedelta(days=cfg.keep_history_days)
    try:
        with db.begin() as s:
            s.execute(insert(Usage).values(name=PRUNE_NAME, day=day, count=1))
            notes = s.execute(delete(Notification).where(Notification.sent_at < cut))
            alerts = s.execute(delete(Alert).where(Alert.open.is_(None), Alert.resolved_at < cut))
            return int(notes.rowcount) + int(alerts.rowcount)  # type: ignore[attr-defined]
    except IntegrityError:
        return 0


def daily_chores(db: Database, cfg: AlertsConfig, channels: Sequence[str], now: datetime,
                 options: ReportOptions | None = None) -> bool:
    """The summary when due, and the history pruning: one cheap look-up per pass once both are done.
    True when the summary was queued now."""
    done = _done_today(db, now)
    queued = USAGE_NAME not in done and queue_daily(db, cfg, channels, now, checked=True, options=options)
    if PRUNE_NAME not in done:
        prune(db, cfg, now)
    return queued
