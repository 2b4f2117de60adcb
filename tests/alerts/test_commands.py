"""What the CLI calls: list open alerts, acknowledge one, send a test message."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from syncd.alerts import commands
from syncd.alerts.notify import sent_last_minute
from syncd.errors import RateLimitedError, RejectedError
from syncd.store.models import Alert, Notification
from tests.alerts.rig import NOW, Rig


def add_alert(rig: Rig, rule: str, subject: str, severity: str, *, open_: bool | None = True) -> int:
    with rig.db.begin() as s:
        return int(s.execute(insert(Alert).returning(Alert.id), [
            {"rule": rule, "subject": subject, "open": open_, "severity": severity, "title": f"{rule} {subject}",
             "detail": "d", "shop_id": "shop1", "opened_at": NOW, "last_seen_at": NOW}]).scalar_one())


def test_list_open_puts_critical_first_and_leaves_resolved_out(rig: Rig) -> None:
    add_alert(rig, "no_pickup", "shipment:1", "warning")
    crit = add_alert(rig, "shop_paused", "shop:shop1", "critical")
    add_alert(rig, "no_pickup", "shipment:2", "warning", open_=None)
    got = commands.list_open(rig.db)
    assert (got[0]["id"], got[0]["rule"], got[0]["severity"]) == (crit, "shop_paused", "critical")
    assert [a["subject"] for a in got] == ["shop:shop1", "shipment:1"]
    assert got[0]["opened_at"] == NOW.isoformat() and got[0]["acked_at"] is None
    assert commands.open_counts(rig.db) == {("no_pickup", "warning"): 1, ("shop_paused", "critical"): 1}


def test_metrics_samples_count_open_alerts_and_waiting_messages(rig: Rig) -> None:
    add_alert(rig, "no_pickup", "shipment:1", "warning")
    add_alert(rig, "no_pickup", "shipment:2", "warning")
    with rig.db.begin() as s:
        s.execute(insert(Notification), [
            {"channel": "ops", "kind": "open", "severity": "warning", "title": "t", "created_at": NOW,
             "not_before": NOW, "attempts": 0, "sent_at": sent} for sent in (None, None, NOW)])
    got = {(x.name, tuple(sorted(x.labels.items()))): x.value for x in commands.alert_samples(rig.db, ["ops", "boss"])}
    assert got == {("syncd_alerts_open", (("rule", "no_pickup"), ("severity", "warning"))): 2,
                   ("syncd_alert_messages_waiting", (("channel", "boss"),)): 0,
                   ("syncd_alert_messages_waiting", (("channel", "ops"),)): 2}


def test_ack_records_who_and_drops_waiting_reminders(rig: Rig) -> None:
    a = add_alert(rig, "no_pickup", "shipment:1", "warning")
    with rig.db.begin() as s:
        s.execute(insert(Notification), [
            {"channel": "ops", "alert_id": a, "kind": kind, "severity": "warning", "title": "t", "created_at": NOW,
             "not_before": NOW, "attempts": 0} for kind in ("open", "remind")])
    assert commands.ack(rig.db, a, "li") == {"id": a, "rule": "no_pickup", "title": "no_pickup shipment:1",
                                              "closed": False}
    with rig.db.read() as s:
        alert = s.get(Alert, a)
        assert alert is not None and (alert.acked_by, alert.acked_at, alert.open) == ("li", NOW, True)
        assert [n.kind for n in s.scalars(select(Notification))] == ["open"]


def test_ack_of_an_unknown_or_resolved_alert_is_refused(rig: Rig) -> None:
    with pytest.raises(RejectedError, match="no alert #999; list the open ones with: syncd alerts"):
        commands.ack(rig.db, 999, "li")
    gone = add_alert(rig, "no_pickup", "shipment:1", "warning", open_=None)
    with pytest.raises(RejectedError, match=f"alert #{gone} is already resolved"):
        commands.ack(rig.db, gone, "li")


def test_send_test_delivers_now_and_counts_against_the_channels_budget(rig: Rig) -> None:
    assert commands.send_test(rig.rt, "ops") == "test message delivered to ops (fake)"
    [m] = rig.sinks["ops"].messages
    assert m.title == "syncd test message" and "Channel ops (fake) works" in m.lines[0]
    assert sent_last_minute(rig.db, "ops", NOW) == 1


def test_send_test_refuses_an_unknown_channel_and_a_full_budget(rig: Rig) -> None:
    with pytest.raises(RejectedError, match=r"no alert channel 'nope' \(channels: ops\)"):
        commands.send_test(rig.rt, "nope")
    rig.sinks["ops"].per_minute = 1
    commands.send_test(rig.rt, "ops")
    with pytest.raises(RateLimitedError, match="already sent 1 messages in the last minute"):
        commands.send_test(rig.rt, "ops")


def test_send_test_raises_the_channels_own_error_and_records_nothing(rig: Rig) -> None:
    rig.sinks["ops"].fail = [RejectedError("dingtalk robot 'ops': 310000 sign not match")]
    with pytest.raises(RejectedError, match="sign not match"):
        commands.send_test(rig.rt, "ops")
    assert sent_last_minute(rig.db, "ops", NOW) == 0
