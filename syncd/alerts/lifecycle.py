"""Keep the alerts table in step with the findings of one pass, and queue what people must hear.

For each (rule, subject):

* a new finding opens an alert and queues an ``open`` notification for every channel that hears its severity;
* a finding that stays keeps its alert (no message); it turns ``upgrade`` when its severity rises, ``remind``
  after the severity's cooldown, ``escalate`` (to the escalation channels, once) after ``escalate_after_hours``
  — an acknowledged alert is neither reminded nor escalated;
* an open alert whose finding is gone resolves and says so (``resolve``), where people heard of it; a
  superseded alert (deadline near → breached), a disabled rule or a rule in QUIET_RESOLVE closes silently.

Quiet hours delay notifications (``not_before``), never the alert: ``opened_at`` and the timers run on.
One open alert per (rule, subject) is the database's unique key (rule, subject, open); a second replica that
opened the same alert a moment earlier makes our insert fail — caught, and left to that replica to announce.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncd import clock
from syncd.alerts.config import SEVERITY_RANK, AlertsConfig
from syncd.alerts.model import Finding
from syncd.alerts.names import ACK_CLOSES, QUIET_RESOLVE, SEVERITY_WORDS, SUPERSEDES, Rule
from syncd.alerts.rules import local
from syncd.domain import Severity
from syncd.i18n import N_, _, zone_label
from syncd.store.db import Database
from syncd.store.models import Alert, Notification

log = logging.getLogger("syncd.alerts")

SEEN_REFRESH = timedelta(hours=1)  # last_seen_at is refreshed at most hourly: no write per alert per pass
CHUNK = 500


@dataclass
class SyncResult:
    opened: int = 0
    resolved: int = 0
    reminded: int = 0
    escalated: int = 0
    notifications: int = 0


@dataclass
class OpenAlert:
    id: int
    rule: str
    subject: str
    severity: str
    title: str
    detail: str
    opened_at: datetime
    last_seen_at: datetime
    last_notified_at: datetime | None
    notify_count: int
    escalated_at: datetime | None
    acked_at: datetime | None


def rank(severity: str) -> int:
    return SEVERITY_RANK.get(Severity(severity), 0)


def quiet_until(cfg: AlertsConfig, channel: str, severity: str, now: datetime) -> datetime:
    """When a notification of ``severity`` may go to ``channel``: now, or the end of its quiet hours."""
    routing = cfg.routing_for(channel)
    window = routing.quiet_window
    if window is None or (severity == Severity.CRITICAL and routing.critical_bypasses_quiet_hours):
        return now
    start, end = window
    here = clock.ensure_utc(now).astimezone(clock.SHANGHAI)
    t = here.time().replace(tzinfo=None)
    end_today = here.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if start < end:
        quiet, until = start <= t < end, end_today
    elif t >= start:
        quiet, until = True, end_today + timedelta(days=1)
    else:
        quiet, until = t < end, end_today
    return clock.ensure_utc(until) if quiet else now


def channels_for(cfg: AlertsConfig, channels: Sequence[str], rule: str, subject: str, severity: str) -> list[str]:
    """The channels that hear an alert of this severity. A failing channel's own alert goes to the others."""
    out = [c for c in channels if rank(severity) >= rank(cfg.routing_for(c).min_severity)]
    if rule == Rule.CHANNEL_FAILING:
        out = [c for c in out if subject != f"channel:{c}"]
    return out


_PREFIX = {"open": "{title}", "upgrade": N_("Now {severity}: {title}"), "remind": N_("Reminder: {title}"),
           "escalate": N_("Escalated: {title}"), "resolve": N_("Resolved: {title}")}


def severity_word(severity: str) -> str:
    """``critical`` as the reader's language says it."""
    return _(SEVERITY_WORDS[severity]) if severity in SEVERITY_WORDS else severity


def _message(kind: str, alert_id: int, title: str, detail: str, severity: str, opened_at: datetime,
             now: datetime) -> tuple[str, str]:
    """Title and body of one notification; the body's last line is the alert's footer (its id, how to ack)."""
    head = _(_PREFIX[kind]).format(severity=severity_word(severity), title=title)
    if kind == "resolve":
        return head, _("Alert #{id}: open from {opened} to {closed} ({zone}).").format(
            id=alert_id, opened=local(opened_at), closed=local(now), zone=zone_label())
    footer = _("Alert #{id} · {severity} · open since {opened} · silence it: syncd alerts ack {id}").format(
        id=alert_id, severity=severity_word(severity), opened=local(opened_at))
    return head, f"{detail}\n{footer}" if detail else footer


class _Queue:
    """Notification rows to insert in one statement."""

    def __init__(self, cfg: AlertsConfig, now: datetime) -> None:
        self.cfg, self.now = cfg, now
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, alert_id: int, channels: Iterable[str], severity: str, title: str, detail: str,
            opened_at: datetime) -> None:
        head, body = _message(kind, alert_id, title, detail, severity, opened_at, self.now)
        note_sev = Severity.INFO if kind == "resolve" else severity
        for channel in channels:
            self.rows.append({"channel": channel, "alert_id": alert_id, "kind": kind, "severity": str(note_sev),
                              "title": head, "body": body, "created_at": self.now, "attempts": 0,
                              "not_before": quiet_until(self.cfg, channel, note_sev, self.now)})


def _load_open(s: Session) -> dict[tuple[str, str], OpenAlert]:
    rows = s.execute(select(Alert.id, Alert.rule, Alert.subject, Alert.severity, Alert.title, Alert.detail,
                            Alert.opened_at, Alert.last_seen_at, Alert.last_notified_at, Alert.notify_count,
                            Alert.escalated_at, Alert.acked_at).where(Alert.open.is_(True)))
    return {(r.rule, r.subject): OpenAlert(**r._mapping) for r in rows}


def _pending(s: Session, channels: Sequence[str]) -> dict[int, set[tuple[str, str]]]:
    """Alert id → {(channel, kind)} of its notifications not delivered yet."""
    out: dict[int, set[tuple[str, str]]] = defaultdict(set)
    if channels:
        for alert_id, channel, kind in s.execute(
                select(Notification.alert_id, Notification.channel, Notification.kind)
                .where(Notification.channel.in_(sorted(channels)), Notification.sent_at.is_(None),
                       Notification.alert_id.is_not(None))):
            if alert_id is not None:
                out[alert_id].add((channel, kind))
    return out


def _insert_alerts(s: Session, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert new open alerts; those another replica opened meanwhile are skipped (it announces them)."""
    if not rows:
        return {}
    stmt = insert(Alert).returning(Alert.id, Alert.rule, Alert.subject)
    try:
        with s.begin_nested():
            return {(r.rule, r.subject): r.id for r in s.execute(stmt, rows)}
    except IntegrityError:
        pass
    ids: dict[tuple[str, str], int] = {}
    for row in rows:
        try:
            with s.begin_nested():
                ids[(row["rule"], row["subject"])] = s.execute(stmt, row).one().id
        except IntegrityError:
            log.info("alert %s %s was opened by another replica; it sends the notifications",
                     row["rule"], row["subject"])
    return ids


def _already_closed(s: Session, findings: list[Finding]) -> set[tuple[str, str]]:
    """(rule, subject) of ACK_CLOSES rules that alerted before: they never reopen."""
    wanted = [f for f in findings if f.rule in ACK_CLOSES]
    if not wanted:
        return set()
    out: set[tuple[str, str]] = set()
    for rule in {f.rule for f in wanted}:
        subjects = sorted({f.subject for f in wanted if f.rule == rule})
        for i in range(0, len(subjects), CHUNK):
            out.update((rule, subj) for subj in s.scalars(
                select(Alert.subject).where(Alert.rule == rule, Alert.subject.in_(subjects[i:i + CHUNK]))))
    return out


def sync(db: Database, findings: Sequence[Finding], cfg: AlertsConfig, channels: Sequence[str],
         now: datetime) -> SyncResult:
    """Open, keep, remind, escalate and resolve alerts from this pass's findings; queue notifications."""
    result = SyncResult()
    enabled = cfg.enabled_rules
    found = {(f.rule, f.subject): f for f in findings}
    escalate_to = [c for c in cfg.escalate_to if c in channels]
    queue = _Queue(cfg, now)
    with db.begin() as s:
        current = _load_open(s)
        pending = _pending(s, channels)
        changed: list[dict[str, Any]] = []
        seen: list[dict[str, Any]] = []

        # -- findings that already have an open alert
        for key, f in found.items():
            a = current.get(key)
            if a is None:
                continue
            detail = "\n".join(f.lines)
            severity, notified, count, escalated = a.severity, a.last_notified_at, a.notify_count, a.escalated_at
            dirty = (f.title, detail) != (a.title, a.detail)
            if rank(f.severity) > rank(a.severity):
                severity, notified, count, dirty = str(f.severity), now, count + 1, True
                queue.add("upgrade", a.id, channels_for(cfg, channels, f.rule, f.subject, severity), severity,
                          f.title, detail, a.opened_at)
            elif rank(f.severity) < rank(a.severity):
                severity, dirty = str(f.severity), True
            elif a.acked_at is None:
                cooldown = cfg.remind_after(a.severity)
                if cooldown is not None and now - (notified or a.opened_at) >= cooldown and a.id not in pending:
                    queue.add("remind", a.id, channels_for(cfg, channels, f.rule, f.subject, severity), severity,
                              f.title, detail, a.opened_at)
                    notified, count, dirty = now, count + 1, True
                    result.reminded += 1
            if (a.acked_at is None and escalated is None and escalate_to
                    and rank(severity) >= rank(cfg.escalate_min_severity)
                    and now - a.opened_at >= timedelta(hours=cfg.escalate_after_hours)):
                queue.add("escalate", a.id, escalate_to, severity, f.title, detail, a.opened_at)
                escalated, dirty = now, True
                result.escalated += 1
            if dirty:
                changed.append({"a_id": a.id, "last_seen_at": now, "severity": severity, "title": f.title,
                                "detail": detail, "last_notified_at": notified, "notify_count": count,
                                "escalated_at": escalated})
            elif now - a.last_seen_at >= SEEN_REFRESH:
                seen.append({"a_id": a.id, "last_seen_at": now})

        # -- new findings
        closed_for_good = _already_closed(s, [f for k, f in found.items() if k not in current])
        new_rows = [{"rule": f.rule, "subject": f.subject, "open": True, "severity": str(f.severity),
                     "shop_id": f.shop_id, "title": f.title, "detail": "\n".join(f.lines), "opened_at": now,
                     "last_seen_at": now, "last_notified_at": now, "notify_count": 1}
                    for k, f in found.items() if k not in current and k not in closed_for_good]
        for key, alert_id in _insert_alerts(s, new_rows).items():
            f = found[key]
            queue.add("open", alert_id, channels_for(cfg, channels, f.rule, f.subject, f.severity), f.severity,
                      f.title, "\n".join(f.lines), now)
            result.opened += 1

        # -- open alerts whose condition is gone
        closing: list[int] = []
        for key, a in current.items():
            if key in found:
                continue
            closing.append(a.id)
            superseded = any((sup, a.subject) in found for sup, old in SUPERSEDES.items() if old == a.rule)
            if superseded or a.rule not in enabled or a.rule in QUIET_RESOLVE:
                continue
            never_heard = {c for c, kind in pending.get(a.id, ()) if kind == "open"}
            heard = channels_for(cfg, channels, a.rule, a.subject, a.severity)
            if a.escalated_at is not None:
                heard += [c for c in escalate_to if c not in heard]
            queue.add("resolve", a.id, [c for c in heard if c not in never_heard], a.severity, a.title, "",
                      a.opened_at)
        result.resolved = len(closing)

        table = cast(Table, Alert.__table__)
        by_id = table.c.id == bindparam("a_id")
        if changed:  # one executemany: bound names differ from the column names, as SQLAlchemy requires
            s.execute(update(table).where(by_id).values({k: bindparam(f"v_{k}") for k in changed[0] if k != "a_id"}),
                      [{k if k == "a_id" else f"v_{k}": v for k, v in row.items()} for row in changed])
        if seen:
            s.execute(update(table).where(by_id).values(last_seen_at=bindparam("v_seen")),
                      [{"a_id": row["a_id"], "v_seen": row["last_seen_at"]} for row in seen])
        for i in range(0, len(closing), CHUNK):
            ids = closing[i:i + CHUNK]
            s.execute(update(Alert).where(Alert.id.in_(ids)).values(open=None, resolved_at=now))
        stale = [i for i in closing if i in pending]
        for i in range(0, len(stale), CHUNK):  # never deliver news about an alert that is already over
            s.execute(delete(Notification).where(Notification.alert_id.in_(stale[i:i + CHUNK]),
                                                 Notification.sent_at.is_(None)))
        if queue.rows:
            s.execute(insert(Notification), queue.rows)
        result.notifications = len(queue.rows)
    if result.opened or result.resolved:
        log.info("alerts: %d opened, %d closed, %d notification(s) queued", result.opened, result.resolved,
                 result.notifications)
    return result
