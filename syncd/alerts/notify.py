"""Deliver waiting notifications to each channel within its rate limit, as digests when many wait.

Per channel and pass:

* the budget is ``per_minute`` minus the messages sent in the last 60 s, counted from the database (so it
  holds across restarts and replicas);
* when no more wait than the budget allows, each goes alone; otherwise they are packed into digest messages
  (one message listing N alerts, critical first) that fit the sink's ``max_bytes`` — at most ``budget``
  messages; the rest waits for the next pass;
* a notification is marked sent only after the sink returned. A failure keeps every waiting message of the
  channel, with the reason and the time of the next try: TransientError / RateLimitedError after a backoff or
  the service's retry-after, RejectedError (a configuration problem) after ``rejected_retry_minutes`` — the
  ``channel_failing`` rule then tells the other channels that this one refuses messages;
* one message that cannot be rendered or that the sink chokes on (our bug, odd text) goes out as a plain
  stand-in naming its alerts, so it never blocks the messages behind it; a sink that fails even on that is
  treated as a failing channel. One channel's unexpected error never stops the other channels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from syncd import clock
from syncd.alerts.config import SEVERITY_RANK, AlertsConfig
from syncd.alerts.lifecycle import severity_word
from syncd.alerts.rules import REJECTED_PREFIX, join
from syncd.domain import Message, Severity
from syncd.errors import RejectedError, SyncdError, TransientError
from syncd.i18n import _, ngettext
from syncd.protocols import AlertSink
from syncd.store.db import Database
from syncd.store.models import Notification

log = logging.getLogger("syncd.alerts")

WINDOW = timedelta(seconds=60)
MAX_LOADED = 5000  # waiting notifications read per channel and pass (oldest first)
ENVELOPE_BYTES = 600  # the service's JSON around the text, the digest's title, the renderer's list marks
LINE_OVERHEAD = 8
ALONE = frozenset({"daily", "test"})  # never merged into a digest
TRANSIENT_PREFIX = "transient: "


@dataclass(frozen=True, slots=True)
class Waiting:
    id: int
    alert_id: int | None
    kind: str
    severity: str
    title: str
    body: str
    not_before: datetime
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass
class DeliveryResult:
    messages: int = 0
    notifications: int = 0
    failed: list[str] = field(default_factory=list)  # channel ids that failed this pass


def wire_size(text: str) -> int:
    """Bytes ``text`` may take on the wire, whatever the service does: JSON escapes, ``\\uXXXX`` for CJK."""
    return sum(1 if 32 <= ord(ch) < 127 and ch not in '"\\' else (2 if ord(ch) < 128 else 6) for ch in text)


def _rank(severity: str) -> int:
    try:
        return SEVERITY_RANK[Severity(severity)]
    except ValueError:
        return 0


def digest_line(n: Waiting) -> str:
    """One notification as one line of a digest: its title, its first detail line, its alert id."""
    lines = n.body.split("\n") if n.body else []
    first = lines[0] if len(lines) > 1 else ""  # a body of one line is the alert's footer alone
    tag = f" (#{n.alert_id})" if n.alert_id is not None else ""
    return f"[{n.severity}] {n.title}" + (f" — {first}" if first else "") + tag


def plan(due: Sequence[Waiting], budget: int, max_bytes: int) -> list[list[Waiting]]:
    """Group waiting notifications into at most ``budget`` messages. Each alone while they fit the budget;
    otherwise digests packed up to ``max_bytes``, critical first. What does not fit waits."""
    if budget <= 0 or not due:
        return []
    if len(due) <= budget:
        return [[n] for n in due]
    groups: list[list[Waiting]] = [[n] for n in due if n.kind in ALONE][:budget]
    rest = sorted((n for n in due if n.kind not in ALONE), key=lambda n: (-_rank(n.severity), n.id))
    limit = max(256, max_bytes - ENVELOPE_BYTES)
    current: list[Waiting] = []
    size = 0
    for n in rest:
        if len(groups) >= budget:
            break
        line = wire_size(digest_line(n)) + LINE_OVERHEAD
        if current and size + line > limit:
            groups.append(current)
            current, size = [], 0
            if len(groups) >= budget:
                break
        current.append(n)
        size += line
    if current and len(groups) < budget:
        groups.append(current)
    return groups


def render(group: Sequence[Waiting]) -> Message:
    """One notification as itself; several as a digest listing each on one line."""
    top = max(group, key=lambda n: _rank(n.severity)).severity
    severity = Severity(top) if top in {s.value for s in Severity} else Severity.WARNING
    if len(group) == 1:
        n = group[0]
        return Message(n.title, [ln for ln in n.body.split("\n") if ln], severity)
    counts: dict[str, int] = {}
    for n in group:
        counts[n.severity] = counts.get(n.severity, 0) + 1
    summary = join(_("{count} {severity}").format(count=counts[s], severity=severity_word(s))
                   for s in ("critical", "warning", "info") if s in counts)
    title = ngettext("syncd: {count} alert update ({summary})", "syncd: {count} alert updates ({summary})",
                     len(group)).format(count=len(group), summary=summary)
    return Message(title, [digest_line(n) for n in group], severity)


def plain(group: Sequence[Waiting]) -> Message:
    """A stand-in that cannot fail to render: only our own words (no text from outside); names the alerts."""
    severity = Severity.CRITICAL if any(n.severity == Severity.CRITICAL for n in group) else Severity.WARNING
    ids = ", ".join(f"#{n.alert_id}" if n.alert_id is not None else f"notification {n.id}" for n in group)
    title = ngettext("syncd: {count} alert update could not be rendered",
                     "syncd: {count} alert updates could not be rendered", len(group)).format(count=len(group))
    return Message(title, [_("See them with: syncd alerts ({ids})").format(ids=ids)], severity)


def _send(channel: str, sink: AlertSink, group: Sequence[Waiting]) -> None:
    """Send the group; when rendering it fails, or the sink fails on it in a way that is not the service
    saying busy or no (our bug, an answer we cannot read: a filter answering HTML to this one text), send the
    plain stand-in instead. Raises what the service answered, or the sink's error on the stand-in."""
    try:
        sink.send(render(group))
        return
    except (TransientError, RejectedError):
        raise  # the service answered busy, or refuses us: a matter of the channel
    except SyncdError as err:
        log.warning("alert channel %s: the answer to notifications %s could not be read (%s); sending a plain "
                    "stand-in", channel, [n.id for n in group], err)
    except Exception:
        log.exception("alert channel %s: notifications %s could not be rendered or sent; sending a plain stand-in",
                      channel, [n.id for n in group])
    sink.send(plain(group))


def _backoff(attempts: int) -> float:
    return float(min(1800, 60 * 2 ** min(attempts, 5)))


def _load(db: Database, channel: str, now: datetime) -> tuple[list[Waiting], int]:
    with db.read() as s:
        rows = [Waiting(**r._mapping) for r in s.execute(
            select(Notification.id, Notification.alert_id, Notification.kind, Notification.severity,
                   Notification.title, Notification.body, Notification.not_before, Notification.next_attempt_at,
                   Notification.attempts, Notification.last_error)
            .where(Notification.channel == channel, Notification.sent_at.is_(None))
            .order_by(Notification.id).limit(MAX_LOADED))]
        if not rows:
            return rows, 0
        return rows, _sent_recently(s, channel, now)


def _sent_recently(s: Session, channel: str, now: datetime) -> int:
    return int(s.scalar(select(func.count(distinct(Notification.message_id)))
                        .where(Notification.channel == channel, Notification.sent_at > now - WINDOW)) or 0)


def sent_last_minute(db: Database, channel: str, now: datetime) -> int:
    """Messages delivered to ``channel`` in the rolling minute before ``now`` (from the database)."""
    with db.read() as s:
        return _sent_recently(s, channel, now)


def _mark_sent(db: Database, channel: str, group: Sequence[Waiting], clear_errors: bool) -> None:
    now = clock.now()
    ids = [n.id for n in group]
    with db.begin() as s:
        s.execute(update(Notification).where(Notification.id.in_(ids))
                  .values(sent_at=now, message_id=min(ids), attempts=Notification.attempts + 1, last_error=None,
                          next_attempt_at=None))
        if clear_errors:  # the channel works again: what still waits is no longer "failing"
            s.execute(update(Notification).where(Notification.channel == channel, Notification.sent_at.is_(None),
                                                 Notification.last_error.is_not(None))
                      .values(last_error=None, next_attempt_at=None))


def _mark_failed(db: Database, channel: str, group: Sequence[Waiting], error: str, retry_in: float) -> None:
    now = clock.now()
    ids = [n.id for n in group]
    with db.begin() as s:
        # the whole channel waits (not just this message): the robot is down or refuses us
        s.execute(update(Notification).where(Notification.channel == channel, Notification.sent_at.is_(None))
                  .values(attempts=Notification.attempts + case((Notification.id.in_(ids), 1), else_=0),
                          last_error=error[:1000], next_attempt_at=now + timedelta(seconds=retry_in)))


def deliver_channel(db: Database, channel: str, sink: AlertSink, cfg: AlertsConfig, now: datetime) -> DeliveryResult:
    """Send what waits for one channel, within its budget. Never raises for the channel's own errors."""
    result = DeliveryResult()
    rows, recent = _load(db, channel, now)
    if not rows:
        return result
    if any(n.next_attempt_at is not None and n.next_attempt_at > now for n in rows):
        return result  # backing off after a failure
    had_errors = any(n.last_error for n in rows)
    due = [n for n in rows if n.not_before <= now]
    groups = plan(due, max(0, int(sink.per_minute) - recent), int(sink.max_bytes))
    for group in groups:
        try:
            _send(channel, sink, group)
        except RejectedError as err:
            _mark_failed(db, channel, group, f"{REJECTED_PREFIX}{err}", cfg.rejected_retry_minutes * 60)
            if not had_errors:
                log.error("alert channel %s refuses messages: %s (kept; trying again in %g min)", channel, err,
                          cfg.rejected_retry_minutes)
            result.failed.append(channel)
            break
        except SyncdError as err:  # TransientError, RateLimitedError, an unreadable answer: try again later
            retry_after = getattr(err, "retry_after", None)
            wait = float(retry_after) if retry_after else _backoff(max(n.attempts for n in group))
            _mark_failed(db, channel, group, f"{TRANSIENT_PREFIX}{err}", wait)
            if not had_errors:
                log.warning("alert channel %s failed: %s (kept; trying again in %.0f s)", channel, err, wait)
            result.failed.append(channel)
            break
        except Exception as err:  # the sink fails even on the plain stand-in: the channel itself is broken
            if isinstance(err, SQLAlchemyError):
                raise
            wait = _backoff(max(n.attempts for n in group))
            _mark_failed(db, channel, group, f"{TRANSIENT_PREFIX}internal error: {type(err).__name__}", wait)
            if not had_errors:
                log.error("alert channel %s failed: unexpected error (kept; trying again in %.0f s)", channel, wait,
                          exc_info=err)
            result.failed.append(channel)
            break
        _mark_sent(db, channel, group, had_errors)
        if had_errors:
            log.info("alert channel %s delivers again", channel)
            had_errors = False
        result.messages += 1
        result.notifications += len(group)
    return result


def deliver(db: Database, sinks: Mapping[str, AlertSink], cfg: AlertsConfig, now: datetime) -> DeliveryResult:
    """Every channel in turn; one failing channel never stops the others."""
    total = DeliveryResult()
    for channel, sink in sinks.items():
        try:
            r = deliver_channel(db, channel, sink, cfg, now)
        except Exception as err:  # an error of our own on this channel: the next channels still get their messages
            if isinstance(err, SQLAlchemyError):
                raise  # the database itself: no channel can be served
            log.exception("alert channel %s: delivery failed", channel)
            total.failed.append(channel)
            continue
        total.messages += r.messages
        total.notifications += r.notifications
        total.failed += r.failed
    return total
