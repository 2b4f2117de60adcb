"""The daily summary: due at its Beijing time, queued once per day across restarts, with correct numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import insert, select

from syncd import clock
from syncd.alerts.daily import daily_chores, percentile, queue_daily, render, summarize
from syncd.store.db import Database
from syncd.store.models import Alert, Notification
from tests.alerts.rig import NOW, Rig, alerts_config

H = timedelta(hours=1)
NINE = datetime(2024, 5, 6, 1, 0, tzinfo=UTC)  # 09:00 Beijing


@pytest.mark.parametrize(("values", "median", "p90"), [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5, 9.1),
    ([2, 4, 6, 8, 30], 6, 21.2),
    ([7], 7, 7),
])
def test_percentiles_interpolate_between_ranks(values: list[float], median: float, p90: float) -> None:
    assert percentile(values, 50) == pytest.approx(median)
    assert percentile(values, 90) == pytest.approx(p90)


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def daily_notes(db: Database) -> list[Notification]:
    with db.read() as s:
        return list(s.scalars(select(Notification).where(Notification.kind == "daily").order_by(Notification.id)))


def test_queued_once_per_day_from_its_time_on_even_after_a_restart(db: Database, tmp_path: Path) -> None:
    cfg = alerts_config(("ops", "boss"), daily_digest_at="09:00", daily_digest_channels=["ops"])
    with time_machine.travel(NINE - timedelta(seconds=1), tick=False) as t:
        assert queue_daily(db, cfg, ["ops", "boss"], clock.now()) is False
        t.shift(1)
        assert queue_daily(db, cfg, ["ops", "boss"], clock.now()) is True
        t.shift(H)
        assert queue_daily(db, cfg, ["ops", "boss"], clock.now()) is False
        t.shift(20 * H)  # 06:00 next day: not yet
        assert queue_daily(db, cfg, ["ops", "boss"], clock.now()) is False
        t.shift(3 * H)
        assert queue_daily(db, cfg, ["ops", "boss"], clock.now()) is True
    notes = daily_notes(db)
    assert [(n.channel, n.title) for n in notes] == [("ops", "syncd daily summary 2024-05-06"),
                                                      ("ops", "syncd daily summary 2024-05-07")]


def test_a_daemon_started_after_the_time_sends_that_days_summary_once(db: Database) -> None:
    cfg = alerts_config(daily_digest_at="09:00")
    with time_machine.travel(NINE + 6 * H, tick=False):
        assert queue_daily(db, cfg, ["ops"], clock.now()) is True
        assert queue_daily(db, cfg, ["ops"], clock.now()) is False


def test_no_summary_when_switched_off(db: Database) -> None:
    with time_machine.travel(NINE + H, tick=False):
        assert queue_daily(db, alerts_config(daily_digest_at=None), ["ops"], clock.now()) is False


def test_the_numbers_of_the_last_24_hours(rig: Rig) -> None:
    # orders shipped in the last 24 h, payment → first upload: 2, 4, 6, 8, 30 hours
    for hours in (2, 4, 6, 8, 30):
        o = rig.order(state="shipped", paid_at=NOW - (hours + 1) * H)
        rig.shipment(order_id=o, uploaded_at=NOW - H)
        if hours == 8:  # a second parcel later does not count twice
            rig.shipment(order_id=o, uploaded_at=NOW - 0.5 * H)
    old = rig.order(state="shipped", paid_at=NOW - 50 * H, first_seen_at=NOW - 49 * H)
    rig.shipment(order_id=old, uploaded_at=NOW - 25 * H)  # shipped yesterday
    with rig.db.begin() as s:
        s.execute(insert(Alert), [
            {"rule": rule, "subject": f"shipment:{i}", "open": open_, "severity": sev, "title": "t",
             "opened_at": NOW, "last_seen_at": NOW}
            for i, (rule, sev, open_) in enumerate([("no_pickup", "critical", True), ("no_pickup", "warning", True),
                                                     ("stalled_in_transit", "warning", True),
                                                     ("shop_paused", "critical", True),
                                                     ("no_pickup", "warning", None)])])
    summary = summarize(rig.db, NOW)
    assert summary.pulled == 5  # the old order was first seen 49 h ago
    assert summary.shipped == 5
    assert summary.median_hours == pytest.approx(6)
    assert summary.p90_hours == pytest.approx(21.2)
    assert summary.stalled == 3
    assert summary.open_alerts == {"no_pickup": {"critical": 1, "warning": 1}, "stalled_in_transit": {"warning": 1},
                                   "shop_paused": {"critical": 1}}
    msg = render(summary)
    assert msg.title == "syncd daily summary 2024-05-06"
    assert "Payment → tracking upload: median 6.0 h, 90th percentile 21.2 h (5 orders)." in msg.lines
    assert "Parcels stalled or in trouble: 3." in msg.lines
    assert "  no pickup scan: 2 (1 critical, 1 warning)" in msg.lines


def test_history_older_than_the_kept_days_is_pruned_once_a_day(rig: Rig, frozen: time_machine.Traveller) -> None:
    cfg = alerts_config(daily_digest_at=None, keep_history_days=30)
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    with rig.db.begin() as s:
        s.execute(insert(Alert), [
            {"rule": "no_pickup", "subject": f"shipment:{i}", "open": open_, "severity": "warning", "title": "t",
             "opened_at": at, "last_seen_at": at, "resolved_at": None if open_ else at}
            for i, (open_, at) in enumerate([(None, old), (None, recent), (True, old)])])
        s.execute(insert(Notification), [
            {"channel": "ops", "kind": "open", "severity": "warning", "title": "t", "created_at": at,
             "not_before": at, "sent_at": sent, "attempts": 1}
            for at, sent in [(old, old), (recent, recent), (old, None)]])
    assert daily_chores(rig.db, cfg, ["ops"], clock.now()) is False
    with rig.db.read() as s:
        assert sorted(a.subject for a in s.scalars(select(Alert))) == ["shipment:1", "shipment:2"]
        assert sorted(str(n.sent_at) for n in s.scalars(select(Notification))) == sorted([str(recent), "None"])
    with rig.db.begin() as s:  # more old history appears later the same day: left for tomorrow
        s.execute(insert(Notification), [{"channel": "ops", "kind": "open", "severity": "warning", "title": "t",
                                          "created_at": old, "not_before": old, "sent_at": old, "attempts": 1}])
    daily_chores(rig.db, cfg, ["ops"], clock.now())
    with rig.db.read() as s:
        assert len(s.scalars(select(Notification)).all()) == 3
    frozen.shift(timedelta(days=1))
    daily_chores(rig.db, cfg, ["ops"], clock.now())
    with rig.db.read() as s:
        assert len(s.scalars(select(Notification)).all()) == 2
