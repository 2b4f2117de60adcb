"""The track stage over a real database: oldest-checked first, within the daily budget, slowing for quiet
parcels, stopping at a final state; events kept once; the supplier's own trace where it has one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import func, select

from syncd import clock
from syncd.domain import LogisticsState, TrackEvent, TrackPush, TrackResult
from syncd.errors import ProtocolError, RejectedError
from syncd.stages.track import apply_push, next_check, queries_used, track
from syncd.store.db import Database
from syncd.store.models import Shipment, TrackingEvent
from tests.fakes import make_order
from tests.stages.harness import Harness, build


@dataclass
class FakeTracker:
    name: str = "k100"
    results: dict[str, TrackResult] = field(default_factory=dict)
    asked: list[tuple[str, str, str | None]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    garble: dict[str, Exception] = field(default_factory=dict)  # tracking number → raised once

    def query(self, carrier: str, tracking_no: str, phone: str | None) -> TrackResult:
        self.asked.append((carrier, tracking_no, phone))
        if tracking_no in self.refuse:
            raise RejectedError("700 unsupported carrier")
        if tracking_no in self.garble:
            raise self.garble.pop(tracking_no)
        return self.results.get(tracking_no, TrackResult(LogisticsState.NONE, [], verdict="no_records"))

    def subscribe(self, carrier: str, tracking_no: str, phone: str | None, callback_url: str) -> None:
        self.asked.append(("subscribe", tracking_no, callback_url))

    def parse_push(self, form: Mapping[str, str]) -> TrackPush:
        raise NotImplementedError

    def push_reply(self, ok: bool, message: str) -> tuple[int, str, bytes]:
        return 200, "application/json", b"{}"

    def close(self) -> None:
        return None


def _ago(hours: float) -> datetime:
    return clock.now() - timedelta(hours=hours)


def _moving(hours_since_last: float) -> TrackResult:
    return TrackResult(LogisticsState.IN_TRANSIT, [
        TrackEvent(_ago(hours_since_last + 10), LogisticsState.PICKED_UP, "【金华】已揽收"),
        TrackEvent(_ago(hours_since_last), LogisticsState.IN_TRANSIT, "【杭州】已发出"),
    ])


def _shipped(h: Harness, pids: list[str]) -> None:
    for pid in pids:
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=5)))
    h.cycle()
    h.reply("acme", "r.csv", [(pid, "中通快递", f"7531{pid:0>10}") for pid in pids])
    h.stage("collect")


@pytest.fixture
def ht(db: Database, tmp_path: Path) -> tuple[Harness, FakeTracker]:
    h = build(db, tmp_path)
    fake = FakeTracker()
    h.rt.tracker = fake
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=3, mode="poll", min_poll_minutes=60)
    return h, fake


def _shipments(db: Database) -> dict[str, Shipment]:
    with db.read() as s:
        return {sh.tracking_no: sh for sh in s.scalars(select(Shipment))}


def test_track_given_more_parcels_than_the_budget_asks_only_the_budget_and_counts_it(ht, db):
    h, fake = ht
    _shipped(h, ["6001", "6002", "6003", "6004"])
    assert track(h.rt) == 3
    assert len(fake.asked) == 3 and all(c == "zhongtong" for c, _, _ in fake.asked)
    assert track(h.rt) == 0  # used up for today
    with db.read() as s:
        assert queries_used(s, "k100", clock.now()) == 3
    sh = _shipments(db)
    assert sum(1 for x in sh.values() if x.last_checked_at is None) == 1


def test_track_given_a_moving_parcel_records_events_once_and_slows_down_when_quiet(ht, db):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6011"])
    no = "75310000006011"
    fake.results[no] = _moving(2)
    track(h.rt)
    track(h.rt)  # not due again yet: nothing asked
    assert len(fake.asked) == 1
    sh = _shipments(db)[no]
    assert sh.logistics_state == "in_transit" and sh.picked_up_at is not None and sh.last_event_at is not None
    assert sh.next_check_at is not None and timedelta(minutes=59) < sh.next_check_at - clock.now() <= timedelta(hours=1)
    with time_machine.travel(clock.now() + timedelta(hours=2), tick=False):
        track(h.rt)  # same history again: no duplicate events
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TrackingEvent)) == 2
    now = clock.now()
    assert next_check(TrackResult(LogisticsState.IN_TRANSIT, _moving(40).events), now) - now \
        == pytest.approx(timedelta(hours=10), abs=timedelta(seconds=1))
    assert next_check(TrackResult(LogisticsState.IN_TRANSIT, _moving(200).events), now) - now == timedelta(hours=12)


def test_track_given_a_delivered_parcel_stops_following_it(ht, db):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6021"])
    no = "75310000006021"
    fake.results[no] = TrackResult(LogisticsState.DELIVERED, [*_moving(5).events,
                                   TrackEvent(_ago(1), LogisticsState.DELIVERED, "已签收")], final=True)
    track(h.rt)
    sh = _shipments(db)[no]
    assert (sh.track_final, sh.next_check_at, sh.logistics_state) == (True, None, "delivered")
    assert sh.delivered_at is not None
    with time_machine.travel(clock.now() + timedelta(days=3), tick=False):
        track(h.rt)
    assert len(fake.asked) == 1


def test_track_given_a_refused_number_keeps_the_verdict_and_goes_on_with_the_others(ht, db):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6031", "6032"])
    fake.refuse.add("75310000006031")
    assert track(h.rt) == 2
    sh = _shipments(db)
    assert sh["75310000006031"].track_verdict == "refused: 700 unsupported carrier"
    assert sh["75310000006032"].track_verdict == "no_records" and sh["75310000006032"].logistics_state == "none"


def test_push_given_a_verified_update_records_it_on_the_parcel(ht, db):
    h, _ = ht
    _shipped(h, ["6041"])
    no = "75310000006041"
    assert apply_push(h.rt, TrackPush("zhongtong", no, _moving(3)), None) == 1
    sh = _shipments(db)[no]
    assert sh.logistics_state == "in_transit" and sh.next_check_at is not None
    assert sh.next_check_at - clock.now() >= timedelta(hours=23)  # pushes carry the news: slow poll only


def test_due_given_new_overdue_future_and_final_parcels_takes_new_by_id_then_most_overdue_within_the_limit(ht, db):
    from sqlalchemy import update

    from syncd.stages.track import _due

    h, _fake = ht
    pids = ["6101", "6102", "6103", "6104", "6105", "6106"]
    _shipped(h, pids)
    sh = _shipments(db)
    ids = {pid: sh[f"7531{pid:0>10}"].id for pid in pids}
    plan = {"6101": _ago(1), "6102": None, "6103": _ago(5), "6104": clock.now() + timedelta(hours=1),
            "6105": None, "6106": _ago(3)}
    with db.begin() as s:
        for pid, at in plan.items():
            s.execute(update(Shipment).where(Shipment.id == ids[pid]).values(next_check_at=at))
        s.execute(update(Shipment).where(Shipment.id == ids["6105"]).values(track_final=True))
    with db.read() as s:
        got = [p.id for p in _due(h.rt, s, clock.now(), 10)]
        first_two = [p.id for p in _due(h.rt, s, clock.now(), 2)]
    # never checked first (6105 is final: never again), then the longest overdue; 6104 is not due yet
    assert got == [ids["6102"], ids["6103"], ids["6106"], ids["6101"]]
    assert first_two == got[:2]


def test_run_given_more_parcels_due_than_one_batch_goes_on_batch_after_batch_within_the_budget(ht, db, monkeypatch):
    from syncd.stages import track as track_stage

    h, fake = ht
    monkeypatch.setattr(track_stage, "BATCH", 2)
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=5, mode="poll", min_poll_minutes=60)
    _shipped(h, ["6201", "6202", "6203", "6204", "6205", "6206", "6207"])
    with time_machine.travel(clock.now(), tick=False):
        report = h.stage("track")
    assert report.ok and len(fake.asked) == 5  # three batches of two, the last cut by the budget of five
    assert sum(1 for x in _shipments(db).values() if x.last_checked_at is None) == 2


@pytest.mark.parametrize("garbled", ["protocol", "unexpected", "unrecordable"])
def test_track_given_a_garbled_answer_for_the_middle_parcel_records_the_others_and_asks_it_again_later(
        ht, db, garbled):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6101", "6102", "6103"])
    numbers = [f"7531{pid:0>10}" for pid in ("6101", "6102", "6103")]
    for no in numbers:
        fake.results[no] = _moving(2)
    if garbled == "protocol":
        fake.garble[numbers[1]] = ProtocolError("kuaidi100 poll/query.do: answer is not JSON")
    elif garbled == "unexpected":
        fake.garble[numbers[1]] = KeyError("ischeck")
    else:  # an event time without a zone: the store refuses it
        fake.results[numbers[1]] = TrackResult(LogisticsState.IN_TRANSIT, [
            TrackEvent(datetime(2024, 5, 6, 12, 0), LogisticsState.IN_TRANSIT, "【杭州】已发出")])
    assert track(h.rt) == 2
    sh = _shipments(db)
    assert [sh[no].logistics_state for no in numbers] == ["in_transit", "none", "in_transit"]
    assert sh[numbers[1]].next_check_at is not None and sh[numbers[1]].next_check_at > clock.now()
    fake.results[numbers[1]] = _moving(2)
    with time_machine.travel(clock.now() + timedelta(hours=3), tick=False):
        track(h.rt)
    assert _shipments(db)[numbers[1]].logistics_state == "in_transit"
