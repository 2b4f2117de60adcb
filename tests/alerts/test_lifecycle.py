"""Alert lifecycle: open once, no duplicates, remind, escalate, ack, resolve, quiet hours, two replicas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, update

from syncd import clock
from syncd.alerts import commands, lifecycle
from syncd.alerts.config import AlertsConfig
from syncd.alerts.lifecycle import SyncResult, sync
from syncd.alerts.model import Finding
from syncd.domain import Severity
from syncd.store.models import Alert, Notification
from tests.alerts.rig import NOW, Rig, alerts_config

H = timedelta(hours=1)
S = timedelta(seconds=1)
WARN = Finding("no_pickup", "shipment:7", Severity.WARNING,
               "No pickup scan: parcel 中通快递 ZT1 of order P-7 (shop shop1)",
               ("Handed over 05-06 00:00; no carrier scan since.",), "shop1")
CRIT = Finding(WARN.rule, WARN.subject, Severity.CRITICAL, WARN.title, WARN.lines, "shop1")


def run(rig: Rig, findings: Sequence[Finding], cfg: AlertsConfig | None = None,
        channels: Sequence[str] = ("ops",)) -> SyncResult:
    return sync(rig.db, findings, cfg or alerts_config(channels=tuple(channels)), list(channels), clock.now())


def notes(rig: Rig) -> list[Notification]:
    with rig.db.read() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def alerts(rig: Rig) -> list[Alert]:
    with rig.db.read() as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def delivered(rig: Rig) -> None:
    """Pretend every waiting notification went out now."""
    with rig.db.begin() as s:
        s.execute(update(Notification).where(Notification.sent_at.is_(None))
                  .values(sent_at=clock.now(), message_id=Notification.id))


def kinds(rig: Rig) -> list[tuple[str, str]]:
    return [(n.channel, n.kind) for n in notes(rig)]


def test_a_new_finding_opens_one_alert_and_notifies_once(rig: Rig, frozen: time_machine.Traveller) -> None:
    assert run(rig, [WARN]).opened == 1
    frozen.shift(60)
    assert run(rig, [WARN]) == SyncResult()
    frozen.shift(60)
    run(rig, [WARN])
    [a] = alerts(rig)
    assert (a.rule, a.subject, a.open, a.severity, a.opened_at) == ("no_pickup", "shipment:7", True, "warning", NOW)
    [n] = notes(rig)
    assert (n.channel, n.kind, n.alert_id, n.not_before) == ("ops", "open", a.id, NOW)
    assert n.title == WARN.title and WARN.lines[0] in n.body and f"syncd alerts ack {a.id}" in n.body


def test_reminder_after_the_severity_cooldown_and_not_while_a_message_still_waits(
        rig: Rig, frozen: time_machine.Traveller) -> None:
    run(rig, [WARN])
    frozen.shift(8 * H)
    assert run(rig, [WARN]).reminded == 0  # the opening message has not gone out yet
    delivered(rig)
    frozen.shift(-S)
    run(rig, [WARN])
    frozen.shift(S)
    assert run(rig, [WARN]).reminded == 1
    assert kinds(rig) == [("ops", "open"), ("ops", "remind")]
    assert notes(rig)[-1].title.startswith("Reminder: ")
    delivered(rig)
    frozen.shift(8 * H - S)
    assert run(rig, [WARN]).reminded == 0
    frozen.shift(S)
    assert run(rig, [WARN]).reminded == 1
    assert alerts(rig)[0].notify_count == 3


def test_escalation_after_n_hours_goes_to_the_escalation_channels_once(rig: Rig,
                                                                     frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(("ops", "boss"), escalate_to=["boss"], routing={"boss": {"min_severity": "critical"}},
                        remind_every_hours={"critical": 0})
    run(rig, [CRIT], cfg, ("ops", "boss"))
    assert kinds(rig) == [("ops", "open"), ("boss", "open")]
    delivered(rig)
    frozen.shift(12 * H - S)
    assert run(rig, [CRIT], cfg, ("ops", "boss")).escalated == 0
    frozen.shift(S)
    assert run(rig, [CRIT], cfg, ("ops", "boss")).escalated == 1
    frozen.shift(H)
    assert run(rig, [CRIT], cfg, ("ops", "boss")).escalated == 0
    assert kinds(rig)[2:] == [("boss", "escalate")]
    assert notes(rig)[-1].title.startswith("Escalated: ")


def test_min_severity_routing_keeps_warnings_off_a_critical_only_channel(rig: Rig) -> None:
    cfg = alerts_config(("ops", "boss"), routing={"boss": {"min_severity": "critical"}})
    run(rig, [WARN], cfg, ("ops", "boss"))
    assert kinds(rig) == [("ops", "open")]


def test_ack_silences_reminders_and_escalation(rig: Rig, frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(("ops", "boss"), escalate_to=["boss"], escalate_min_severity="warning")
    run(rig, [WARN], cfg, ("ops", "boss"))
    delivered(rig)
    [a] = alerts(rig)
    commands.ack(rig.db, a.id, "li")
    frozen.shift(48 * H)
    r = run(rig, [WARN], cfg, ("ops", "boss"))
    assert (r.reminded, r.escalated) == (0, 0)
    assert len(notes(rig)) == 2
    assert alerts(rig)[0].acked_by == "li"


def test_resolve_when_the_condition_clears_says_so_where_it_was_heard(rig: Rig,
                                                                    frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(("ops", "boss"), routing={"boss": {"min_severity": "critical"}})
    run(rig, [WARN], cfg, ("ops", "boss"))
    delivered(rig)
    frozen.shift(H)
    assert run(rig, [], cfg, ("ops", "boss")).resolved == 1
    [a] = alerts(rig)
    assert (a.open, a.resolved_at) == (None, NOW + H)
    assert kinds(rig) == [("ops", "open"), ("ops", "resolve")]
    res = notes(rig)[-1]
    assert res.title == "Resolved: " + WARN.title and res.severity == "info"
    # it may come back later: a new alert then
    frozen.shift(H)
    assert run(rig, [WARN], cfg, ("ops", "boss")).opened == 1
    assert [x.open for x in alerts(rig)] == [None, True]


def test_an_alert_resolved_before_its_message_went_out_sends_neither(rig: Rig, frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(routing={"ops": {"quiet_hours": "11:00-13:00"}})
    run(rig, [WARN], cfg)
    frozen.shift(H)
    run(rig, [], cfg)
    assert notes(rig) == []


def test_quiet_hours_delay_the_notification_not_the_alert(rig: Rig, frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(routing={"ops": {"quiet_hours": "11:00-13:00"}})  # now is 12:00 Beijing
    run(rig, [WARN, Finding("shop_paused", "shop:shop1", Severity.CRITICAL, "Shop shop1 is paused")], cfg)
    a = {x.rule: x for x in alerts(rig)}
    assert a["no_pickup"].opened_at == NOW
    n = {x.kind + x.severity: x for x in notes(rig)}
    assert n["openwarning"].not_before == NOW + H  # 13:00 Beijing
    assert n["opencritical"].not_before == NOW  # critical bypasses quiet hours by default


def test_a_rising_severity_is_announced_and_a_falling_one_is_not(rig: Rig, frozen: time_machine.Traveller) -> None:
    run(rig, [WARN])
    delivered(rig)
    frozen.shift(H)
    run(rig, [CRIT])
    assert kinds(rig)[-1] == ("ops", "upgrade")
    assert notes(rig)[-1].title == "Now critical: " + WARN.title
    assert alerts(rig)[0].severity == "critical"
    delivered(rig)
    frozen.shift(H)
    run(rig, [WARN])
    assert len(notes(rig)) == 2 and alerts(rig)[0].severity == "warning"


def test_a_breached_deadline_closes_the_near_alert_silently(rig: Rig, frozen: time_machine.Traveller) -> None:
    near = Finding("ship_deadline_near", "order:45", Severity.WARNING, "Ship by 05-07 12:00: order P-45")
    breached = Finding("ship_deadline_breached", "order:45", Severity.CRITICAL, "Ship deadline passed: order P-45")
    run(rig, [near])
    delivered(rig)
    frozen.shift(12 * H)
    run(rig, [breached])
    assert [(a.rule, a.open) for a in alerts(rig)] == [("ship_deadline_near", None), ("ship_deadline_breached", True)]
    assert kinds(rig) == [("ops", "open"), ("ops", "open")]


def test_a_disabled_rules_alerts_close_silently(rig: Rig, frozen: time_machine.Traveller) -> None:
    run(rig, [WARN])
    delivered(rig)
    run(rig, [], alerts_config(disabled_rules=["no_pickup"]))
    assert alerts(rig)[0].open is None and len(notes(rig)) == 1


def test_a_failing_channels_own_alert_goes_to_the_other_channels(rig: Rig) -> None:
    f = Finding("channel_failing", "channel:ops", Severity.CRITICAL, "Alert channel ops refuses messages: bad key")
    run(rig, [f], channels=("ops", "boss"))
    assert kinds(rig) == [("boss", "open")]


def test_an_acknowledged_rejected_file_closes_and_does_not_come_back(rig: Rig,
                                                                     frozen: time_machine.Traveller) -> None:
    f = Finding("supplier_file_rejected", "file:11", Severity.WARNING, "Supplier acme: file r.csv has 2 rejected")
    run(rig, [f])
    [a] = alerts(rig)
    assert commands.ack(rig.db, a.id, "li")["closed"] is True
    assert notes(rig) == []  # the opening message had not gone out: moot
    frozen.shift(H)
    assert run(rig, [f]).opened == 0
    assert len(alerts(rig)) == 1
    # and after its window it closes without a "resolved" message
    g = Finding("supplier_file_rejected", "file:12", Severity.WARNING, "Supplier acme: file s.csv has 1 rejected")
    run(rig, [g])
    delivered(rig)
    run(rig, [])
    assert kinds(rig) == [("ops", "open")]


def test_an_alert_another_replica_just_opened_is_neither_duplicated_nor_announced_twice(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    other = Finding("shop_paused", "shop:shop1", Severity.CRITICAL, "Shop shop1 is paused")
    run(rig, [WARN])
    real = lifecycle._load_open

    def stale_view(s: Any) -> dict[tuple[str, str], Any]:
        return {k: v for k, v in real(s).items() if k != (WARN.rule, WARN.subject)}

    monkeypatch.setattr(lifecycle, "_load_open", stale_view)  # as if read before the other replica committed
    r = run(rig, [WARN, other])
    assert r.opened == 1
    assert sorted((a.rule, a.open) for a in alerts(rig)) == [("no_pickup", True), ("shop_paused", True)]
    assert [n.kind for n in notes(rig)] == ["open", "open"]


def test_an_unchanged_pass_over_many_open_alerts_costs_a_few_statements(rig: Rig,
                                                                         frozen: time_machine.Traveller) -> None:
    many = [Finding("no_pickup", f"shipment:{i}", Severity.WARNING, f"No pickup {i}") for i in range(400)]
    run(rig, many)
    delivered(rig)
    frozen.shift(60)
    before = rig.db.statements.count
    run(rig, many)
    assert rig.db.statements.count - before <= 4


def test_last_seen_is_refreshed_hourly_not_every_pass(rig: Rig, frozen: time_machine.Traveller) -> None:
    run(rig, [WARN], alerts_config(remind_every_hours={"warning": 0}))
    frozen.shift(30 * 60)
    run(rig, [WARN], alerts_config(remind_every_hours={"warning": 0}))
    assert alerts(rig)[0].last_seen_at == NOW
    frozen.shift(30 * 60)
    run(rig, [WARN], alerts_config(remind_every_hours={"warning": 0}))
    assert alerts(rig)[0].last_seen_at == NOW + H


def test_a_changed_detail_is_rewritten_without_a_message(rig: Rig, frozen: time_machine.Traveller) -> None:
    run(rig, [WARN])
    frozen.shift(60)
    run(rig, [Finding(WARN.rule, WARN.subject, WARN.severity, WARN.title, ("Tracking provider: refused.",))])
    assert alerts(rig)[0].detail == "Tracking provider: refused." and len(notes(rig)) == 1
