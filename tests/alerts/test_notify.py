"""Delivery: rate limits from the database, digests within the sink's size, retries, nothing lost, nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import insert, select

from syncd import clock
from syncd.alerts.config import AlertsConfig
from syncd.alerts.facts import load_facts
from syncd.alerts.notify import Waiting, deliver, deliver_channel, plan, render, wire_size
from syncd.alerts.rules import evaluate
from syncd.domain import Message, Severity
from syncd.errors import RateLimitedError, RejectedError, TransientError
from syncd.store.db import Database
from syncd.store.models import Notification
from tests.alerts.rig import NOW, FakeSink, Rig

CFG = AlertsConfig()


def queue(db: Database, n: int, *, channel: str = "ops", severity: str = "warning", kind: str = "open",
          not_before: datetime | None = None, title: str = "Parcel stalled: order P-{i} (shop shop1)") -> None:
    with db.begin() as s:
        s.execute(insert(Notification), [
            {"channel": channel, "alert_id": None, "kind": kind, "severity": severity, "title": title.format(i=i),
             "body": f"Last scan 05-04 10:00.\nAlert #{i}", "created_at": clock.now(),
             "not_before": not_before or clock.now(), "attempts": 0} for i in range(n)])


def rows(db: Database) -> list[Notification]:
    with db.read() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_within_budget_each_notification_goes_alone(rig: Rig) -> None:
    queue(rig.db, 3)
    r = deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert (r.messages, r.notifications) == (3, 3)
    assert [m.title for m in rig.sinks["ops"].messages] == [f"Parcel stalled: order P-{i} (shop shop1)"
                                                            for i in range(3)]
    assert rig.sinks["ops"].messages[0].lines == ["Last scan 05-04 10:00.", "Alert #0"]
    assert all(n.sent_at == NOW and n.message_id == n.id for n in rows(rig.db))


def test_fifty_alerts_into_a_20_per_minute_channel_become_digests_each_alert_exactly_once(
        rig: Rig, frozen: time_machine.Traveller) -> None:
    sink = FakeSink("ops", per_minute=20, max_bytes=2000)
    queue(rig.db, 50)
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    first_minute = len(sink.messages)
    assert 1 < first_minute <= 20  # the 2000-byte limit forces several digests, the budget caps them
    for m in sink.messages:
        assert sum(wire_size(x) + 8 for x in m.lines) + 600 <= 2000 or len(m.lines) == 1
    frozen.shift(30)
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    frozen.shift(31)
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    text = sink.text()
    for i in range(50):
        assert text.count(f"order P-{i} (shop shop1)") == 1, i
    assert all(n.sent_at is not None for n in rows(rig.db))
    assert len({n.message_id for n in rows(rig.db)}) == len(sink.messages)


def test_the_budget_is_counted_from_the_database_across_restarts(rig: Rig, frozen: time_machine.Traveller) -> None:
    queue(rig.db, 20)
    deliver_channel(rig.db, "ops", FakeSink("ops"), CFG, clock.now())
    frozen.shift(10)
    queue(rig.db, 5)
    restarted = FakeSink("ops")  # a new process: nothing in memory
    deliver_channel(rig.db, "ops", restarted, CFG, clock.now())
    assert restarted.calls == 0
    frozen.shift(51)  # 61 s after the first burst
    deliver_channel(rig.db, "ops", restarted, CFG, clock.now())
    assert len(restarted.messages) == 5


def test_critical_alerts_lead_the_digest_and_the_daily_summary_goes_alone() -> None:
    due = [Waiting(i, i, "open", "warning" if i % 2 else "critical", f"t{i}", "", NOW, None, 0, None)
           for i in range(1, 7)]
    due.append(Waiting(99, None, "daily", "info", "syncd daily summary", "Orders: 3", NOW, None, 0, None))
    groups = plan(due, 2, 20_000)
    assert [[n.id for n in g] for g in groups] == [[99], [2, 4, 6, 1, 3, 5]]
    digest = render(groups[1])
    assert digest.title == "syncd: 6 alert updates (3 critical, 3 warning)"
    assert digest.severity == Severity.CRITICAL
    assert digest.lines[0] == "[critical] t2 (#2)"
    assert plan(due, 0, 20_000) == []


def test_a_transient_failure_keeps_the_message_and_retries_after_the_backoff(rig: Rig,
                                                                             frozen: time_machine.Traveller) -> None:
    sink = rig.sinks["ops"]
    sink.fail = [TransientError("dingtalk robot 'ops': HTTP 502")]
    queue(rig.db, 2)
    r = deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert (r.messages, r.failed, sink.calls) == (0, ["ops"], 1)  # the first failure stops this channel's pass
    first, second = rows(rig.db)
    assert (first.sent_at, first.attempts, first.next_attempt_at) == (None, 1, NOW + timedelta(seconds=60))
    assert first.last_error == "transient: dingtalk robot 'ops': HTTP 502"
    assert (second.attempts, second.next_attempt_at) == (0, NOW + timedelta(seconds=60))
    queue(rig.db, 1)  # a newer message waits behind the backoff too
    frozen.shift(59)
    deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert sink.calls == 1
    frozen.shift(1)
    assert deliver(rig.db, rig.sinks, CFG, clock.now()).messages == 3  # type: ignore[arg-type]
    assert all(x.sent_at is not None and x.last_error is None for x in rows(rig.db))


def test_a_rate_limited_channel_waits_for_the_services_retry_after(rig: Rig, frozen: time_machine.Traveller) -> None:
    rig.sinks["ops"].fail = [RateLimitedError("130101 send too fast", retry_after=600)]
    queue(rig.db, 1)
    deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert rows(rig.db)[0].next_attempt_at == NOW + timedelta(seconds=600)


def test_a_refusing_channel_keeps_its_messages_and_becomes_a_channel_failing_alert(
        rig: Rig, frozen: time_machine.Traveller) -> None:
    rig.sinks["ops"].fail = [RejectedError("dingtalk robot 'ops': 310000 keywords not in content")]
    queue(rig.db, 2)
    queue(rig.db, 1, not_before=NOW + timedelta(hours=3))  # waits for the end of quiet hours
    deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert all(n.sent_at is None and n.next_attempt_at == NOW + timedelta(minutes=60) for n in rows(rig.db))
    facts = load_facts(rig.db, CFG, clock.now(), ship_within={}, shops=[], suppliers=[], channels=["ops"])
    [f] = evaluate(facts, CFG, {}, clock.now())
    assert f.title == "Alert channel ops refuses messages: dingtalk robot 'ops': 310000 keywords not in content"
    frozen.shift(timedelta(minutes=60))
    assert deliver(rig.db, rig.sinks, CFG, clock.now()).messages == 2  # type: ignore[arg-type]
    # the channel works again: the message still waiting for its hour no longer counts as failing
    facts = load_facts(rig.db, CFG, clock.now(), ship_within={}, shops=[], suppliers=[], channels=["ops"])
    assert facts.channels == []


def test_one_failing_channel_does_not_hold_up_another(rig: Rig) -> None:
    sinks = {"ops": FakeSink("ops"), "boss": FakeSink("boss")}
    sinks["ops"].fail = [TransientError("timeout")]
    queue(rig.db, 1, channel="ops")
    queue(rig.db, 1, channel="boss")
    r = deliver(rig.db, sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert (r.messages, r.failed, len(sinks["boss"].messages)) == (1, ["ops"], 1)


def test_notifications_wait_for_their_not_before(rig: Rig, frozen: time_machine.Traveller) -> None:
    queue(rig.db, 1, not_before=NOW + timedelta(hours=1))
    deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert rig.sinks["ops"].calls == 0
    frozen.shift(timedelta(hours=1))
    deliver(rig.db, rig.sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert rig.sinks["ops"].calls == 1


def test_a_crash_between_send_and_record_sends_again_never_loses(rig: Rig, tmp_path: Path) -> None:
    class Dies(FakeSink):
        def send(self, message: object) -> None:
            super().send(message)  # type: ignore[arg-type]
            raise KeyboardInterrupt  # the process dies before the notification is marked sent

    queue(rig.db, 1)
    with pytest.raises(KeyboardInterrupt):
        deliver_channel(rig.db, "ops", Dies("ops"), CFG, clock.now())
    assert rows(rig.db)[0].sent_at is None
    again = FakeSink("ops")
    deliver_channel(rig.db, "ops", again, CFG, clock.now())
    assert len(again.messages) == 1 and rows(rig.db)[0].sent_at is not None


def test_more_digests_than_the_budget_wait_for_the_next_minute(rig: Rig, frozen: time_machine.Traveller) -> None:
    sink = FakeSink("ops", per_minute=20, max_bytes=1000)  # two alerts per digest
    queue(rig.db, 50, title="Parcel stalled since 05-04 10:00: parcel 中通快递 ZT{i:010d} of order P-{i} (shop shop1)")
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    assert len(sink.messages) == 20
    assert [m.title for m in sink.messages] == ["syncd: 2 alert updates (2 warning)"] * 20
    frozen.shift(59)
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    assert len(sink.messages) == 20
    frozen.shift(2)
    deliver_channel(rig.db, "ops", sink, CFG, clock.now())
    assert len(sink.messages) == 30  # the 10 left fit the new minute's budget: each goes alone
    text = sink.text()
    assert all(text.count(f"order P-{i} (shop shop1)") == 1 for i in range(50))


class Picky(FakeSink):
    """A sink whose renderer chokes on one alert's text (a bug of ours, an odd character from outside)."""

    def send(self, message: Message) -> None:
        if "BAD" in message.title:
            self.calls += 1
            raise ValueError("unbalanced markdown")
        super().send(message)


def test_an_unrenderable_notification_goes_out_as_a_plain_stand_in_and_the_others_go_too(rig: Rig) -> None:
    sink = Picky("ops")
    for title in ("order P-1 late", "order BAD late", "order P-3 late"):
        queue(rig.db, 1, title=title)
    r = deliver(rig.db, {"ops": sink}, CFG, clock.now())  # type: ignore[dict-item]
    assert (r.messages, r.notifications, r.failed) == (3, 3, [])
    assert [m.title for m in sink.messages] == ["order P-1 late", "syncd: 1 alert update could not be rendered",
                                                "order P-3 late"]
    assert "syncd alerts" in sink.messages[1].lines[0]
    assert all(n.sent_at is not None for n in rows(rig.db))


def test_a_channel_raising_an_unexpected_error_keeps_its_messages_and_the_next_channel_still_gets_its_own(
        rig: Rig, frozen: time_machine.Traveller) -> None:
    sinks = {"a": FakeSink("a"), "broken": FakeSink("broken"), "c": FakeSink("c")}
    sinks["broken"].fail = [RuntimeError("robot client bug"), RuntimeError("robot client bug")]
    for channel in sinks:
        queue(rig.db, 1, channel=channel)
    r = deliver(rig.db, sinks, CFG, clock.now())  # type: ignore[arg-type]
    assert (r.messages, r.failed) == (2, ["broken"])
    assert (len(sinks["a"].messages), len(sinks["c"].messages)) == (1, 1)
    (kept,) = [n for n in rows(rig.db) if n.channel == "broken"]
    assert kept.sent_at is None and kept.last_error == "transient: internal error: RuntimeError"
    frozen.shift(61)
    assert deliver(rig.db, sinks, CFG, clock.now()).messages == 1  # type: ignore[arg-type]
    assert len(sinks["broken"].messages) == 1
