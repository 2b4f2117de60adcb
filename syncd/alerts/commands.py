"""What the CLI calls: ``syncd alerts`` (list), ``syncd alerts ack ID``, ``syncd alerts test CHANNEL``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from syncd import clock
from syncd.alerts.names import ACK_CLOSES
from syncd.alerts.notify import sent_last_minute
from syncd.alerts.rules import local
from syncd.domain import Message, Severity
from syncd.errors import NotFoundError, RateLimitedError, RejectedError
from syncd.i18n import _, zone_label
from syncd.metrics import Sample
from syncd.runtime import Runtime
from syncd.store.audit import record
from syncd.store.db import Database
from syncd.store.models import Alert, Notification


def _iso(dt: Any) -> str | None:
    return clock.ensure_utc(dt).isoformat() if dt is not None else None


def list_open(db: Database) -> list[dict[str, Any]]:
    """Open alerts, critical first, oldest first."""
    with db.read() as s:
        rows = s.execute(select(Alert).where(Alert.open.is_(True)).order_by(Alert.opened_at, Alert.id)).scalars().all()
    order = {"critical": 0, "warning": 1, "info": 2}
    return [
        {"id": a.id, "rule": a.rule, "severity": a.severity, "subject": a.subject, "shop": a.shop_id,
         "title": a.title, "detail": a.detail, "opened_at": _iso(a.opened_at),
         "last_notified_at": _iso(a.last_notified_at), "notify_count": a.notify_count,
         "escalated_at": _iso(a.escalated_at), "acked_at": _iso(a.acked_at),
         "acked_by": a.acked_by}
        for a in sorted(rows, key=lambda a: order.get(a.severity, 3))
    ]


def ack(db: Database, alert_id: int, who: str, why: str = "") -> dict[str, Any]:
    """Acknowledge an open alert: no more reminders nor escalation (it still resolves by itself). An alert
    about one event (a rejected supplier file) closes for good. Raises RejectedError for an unknown id, a
    resolved alert or one acknowledged already; written to the audit log with who and why."""
    now = clock.now()
    with db.begin() as s:
        a = s.get(Alert, alert_id)
        if a is None:
            raise NotFoundError(_("no alert #{id}; list the open ones with: syncd alerts").format(id=alert_id))
        if not a.open:
            raise RejectedError(_("alert #{id} is already resolved; nothing to acknowledge").format(id=alert_id))
        if a.acked_at is not None:
            raise RejectedError(_("alert #{id} was acknowledged already by {who} at {at}; it stays quiet until it "
                                  "resolves").format(id=alert_id, who=a.acked_by, at=clock.local_text(a.acked_at)))
        closes = a.rule in ACK_CLOSES
        values: dict[str, Any] = {"acked_at": now, "acked_by": who[:100]}
        if closes:
            values.update(open=None, resolved_at=now)
        s.execute(update(Alert).where(Alert.id == alert_id).values(**values))
        # reminders and escalations not delivered yet are moot now
        s.execute(delete(Notification).where(Notification.alert_id == alert_id, Notification.sent_at.is_(None),
                                             Notification.kind.in_(["remind", "escalate"] + (["open"] if closes
                                                                                             else []))))
        record(s, who, "ack_alert", f"alert #{alert_id} {a.rule} {a.subject}", why,
               "closed" if closes else "no more reminders")
        return {"id": alert_id, "rule": a.rule, "title": a.title, "closed": closes}


def open_counts(db: Database) -> dict[tuple[str, str], int]:
    """(rule, severity) → open alerts."""
    with db.read() as s:
        return {(r, sev): int(n) for r, sev, n in s.execute(
            select(Alert.rule, Alert.severity, func.count()).where(Alert.open.is_(True))
            .group_by(Alert.rule, Alert.severity))}


def alert_samples(db: Database, channels: Sequence[str]) -> list[Sample]:
    """/metrics: open alerts per (rule, severity), messages waiting per channel (two indexed GROUP BYs)."""
    out = [Sample("syncd_alerts_open", n, {"rule": rule, "severity": sev}, "Open alerts per rule and severity.")
           for (rule, sev), n in sorted(open_counts(db).items())]
    waiting: dict[str, int] = dict.fromkeys(channels, 0)
    if channels:
        with db.read() as s:
            for channel, n in s.execute(select(Notification.channel, func.count())
                                        .where(Notification.channel.in_(sorted(channels)),
                                               Notification.sent_at.is_(None))
                                        .group_by(Notification.channel)):
                waiting[channel] = int(n)
    out += [Sample("syncd_alert_messages_waiting", n, {"channel": c},
                   "Alert notifications not delivered yet per channel.") for c, n in sorted(waiting.items())]
    return out


def send_test(rt: Runtime, channel_id: str) -> str:
    """Send a test message to one channel right now. Raises the channel's own error (RejectedError with what
    is misconfigured, TransientError / RateLimitedError when it may pass later)."""
    sink = rt.sinks.get(channel_id)
    if sink is None:
        known = ", ".join(sorted(rt.sinks)) or _("none configured in alerts.yaml")
        raise NotFoundError(_("no alert channel {channel} (channels: {known})").format(channel=repr(channel_id),
                                                                                        known=known))
    now = clock.now()
    if sent_last_minute(rt.db, channel_id, now) >= sink.per_minute:
        raise RateLimitedError(_("channel {channel} already sent {n} messages in the last minute; try again in a "
                                 "minute").format(channel=channel_id, n=sink.per_minute), retry_after=60)
    sink.send(Message(_("syncd test message"),
                      [_("Channel {channel} ({kind}) works: sent {at} ({zone}) by {holder}.").format(
                          channel=channel_id, kind=sink.kind, at=local(now), zone=zone_label(), holder=rt.holder),
                       _("Alerts about orders and parcels will arrive here.")], Severity.INFO))
    sent = clock.now()
    with rt.db.begin() as s:
        nid = s.execute(insert(Notification).values(
            channel=channel_id, alert_id=None, kind="test", severity=str(Severity.INFO), title=_("syncd test message"),
            body="", created_at=now, not_before=now, sent_at=sent, attempts=1).returning(Notification.id)).scalar_one()
        s.execute(update(Notification).where(Notification.id == nid).values(message_id=nid))
    return f"test message delivered to {channel_id} ({sink.kind})"
