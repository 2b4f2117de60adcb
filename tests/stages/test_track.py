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
from sqlalchemy import delete, func, select

from syncd import clock
from syncd.domain import LogisticsState, TrackEvent, TrackPush, TrackResult
from syncd.errors import ProtocolError, RejectedError
from syncd.stages.track import (
    apply_push,
    apply_result,
    first_read,
    is_stale,
    next_check,
    queries_used,
    sources,
    track,
)
from syncd.store.db import Database
from syncd.store.models import Cursor, Shipment, SupplierOrder, TrackingEvent
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


def test_is_stale_given_older_equal_and_newer_readings() -> None:
    t = clock.now()
    assert not is_stale(None, None) and not is_stale(None, t)  # nothing stored yet: any reading counts
    assert is_stale(t, None)  # no events after scans were seen: never erases them
    assert is_stale(t, t - timedelta(seconds=1)) and not is_stale(t, t + timedelta(seconds=1))
    assert not is_stale(t, t) and is_stale(t, t, authoritative=False)


def test_track_given_a_poll_answer_older_than_the_stored_push_keeps_the_state_and_counts_the_check(ht, db):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6051"])
    no = "75310000006051"
    delivering = TrackResult(LogisticsState.DELIVERING, [*_moving(3).events,
                             TrackEvent(_ago(1), LogisticsState.DELIVERING, "【杭州】派件中")])
    apply_push(h.rt, TrackPush("zhongtong", no, delivering), None)
    fake.results[no] = _moving(3)  # the provider's query lags its own push
    with time_machine.travel(clock.now() + timedelta(days=1, minutes=1), tick=False):
        assert track(h.rt) == 1
        sh = _shipments(db)[no]
        assert sh.logistics_state == "delivering" and sh.last_checked_at == clock.now()
        assert sh.next_check_at is not None and sh.next_check_at > clock.now()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TrackingEvent)) == 3


def test_apply_result_given_the_same_newest_event_lets_only_an_authoritative_source_change_the_state(ht, db):
    h, _ = ht
    _shipped(h, ["6061"])
    sid = _shipments(db)["75310000006061"].id
    at = _ago(2)
    words = TrackResult(LogisticsState.DELIVERING, [TrackEvent(at, LogisticsState.DELIVERING, "派件")])
    code = TrackResult(LogisticsState.PROBLEM, [TrackEvent(at, LogisticsState.PROBLEM, "派件")])
    now = clock.now()
    with db.begin() as s:
        assert apply_result(s, sid, code, now, source="k100")
        assert not apply_result(s, sid, words, now, source="supplier", authoritative=False)
    assert _shipments(db)["75310000006061"].logistics_state == "problem"
    with db.begin() as s:
        assert apply_result(s, sid, words, now, source="k100")
    assert _shipments(db)["75310000006061"].logistics_state == "delivering"


# ---- where a parcel is read: the supplier's trace, the provider, or both ------------------------------------


@dataclass
class FakeTracer:
    """An API supplier with a logistics trace of its own (1688's getLogisticsTraceInfo)."""

    results: dict[str, TrackResult | None] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    broken: bool = False

    def trace(self, supplier_ref: str, tracking_no: str) -> TrackResult | None:
        self.asked.append(tracking_no)
        if self.broken:
            raise ProtocolError("1688 trace: logisticsSteps is not a list of objects")
        return self.results.get(tracking_no)


def _traced(h: Harness, setting: str | None) -> FakeTracer:
    """Supplier acme answers with its own trace; its file says ``tracking_source: setting``."""
    tracer = FakeTracer()
    h.rt.api_suppliers["acme"] = tracer  # type: ignore[assignment]
    h.rt.config.suppliers["acme"] = SimpleNamespace(id="acme") if setting is None else \
        SimpleNamespace(id="acme", tracking_source=setting)  # type: ignore[assignment]
    with h.rt.db.begin() as s:
        for so in s.scalars(select(SupplierOrder)):
            so.supplier_ref = f"1688-{so.id}"
    return tracer


@pytest.mark.parametrize(("setting", "trace", "provider", "expected"), [
    ("auto", True, True, (False, True)), ("auto", True, False, (True, False)),
    ("supplier", True, True, (True, False)), ("provider", True, True, (False, True)),
    ("both", True, True, (True, True)), ("both", True, False, (True, False)),
    ("provider", True, False, (True, False)),  # check-config refuses this; at run time the trace is still read
    ("supplier", False, True, (False, True)), ("auto", False, False, (False, False)),
])
def test_sources_given_the_setting_and_what_exists(setting, trace, provider, expected) -> None:
    assert sources(setting, has_trace=trace, has_provider=provider) == expected


def test_track_given_a_1688_parcel_and_kuaidi100_configured_follows_it_with_kuaidi100_by_default(ht, db):
    h, fake = ht
    _shipped(h, ["6301"])
    tracer = _traced(h, "auto")
    assert track(h.rt) == 1
    assert tracer.asked == [] and [no for _, no, _ in fake.asked] == ["75310000006301"]


def test_track_given_a_1688_parcel_in_subscribe_mode_subscribes_it_to_kuaidi100(ht, db):
    h, fake = ht
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=100, mode="subscribe", min_poll_minutes=60,
                                           callback_base_url="https://syncd.example.com")
    _shipped(h, ["6311"])
    tracer = _traced(h, None)  # a file without the key: auto
    track(h.rt)
    assert tracer.asked == [] and fake.asked[0][0] == "subscribe"


def test_track_given_tracking_source_supplier_reads_only_the_trace(ht, db):
    h, fake = ht
    _shipped(h, ["6321"])
    tracer = _traced(h, "supplier")
    tracer.results["75310000006321"] = _moving(2)
    assert track(h.rt) == 1
    assert tracer.asked == ["75310000006321"] and fake.asked == []
    assert _shipments(db)["75310000006321"].logistics_state == "in_transit"


def test_track_given_both_kuaidi100s_reading_wins_at_the_same_scan_and_a_newer_scan_wins_from_either(ht, db):
    h, fake = ht
    h.rt.config.tracking.daily_query_budget = 100
    _shipped(h, ["6331"])
    no = "75310000006331"
    tracer = _traced(h, "both")
    scan = TrackEvent(_ago(1), LogisticsState.DELIVERING, "【杭州市】快递员正在派件")
    tracer.results[no] = TrackResult(LogisticsState.DELIVERING, [*_moving(3).events, scan])
    fake.results[no] = TrackResult(LogisticsState.PROBLEM, [*_moving(3).events, scan], provider_state="2 疑难")
    track(h.rt)
    assert (tracer.asked, [n for _, n, _ in fake.asked]) == ([no], [no])
    assert _shipments(db)[no].logistics_state == "problem"
    # later the trace has a newer scan than Kuaidi100 (which lags): the newer scan wins
    with time_machine.travel(clock.now() + timedelta(hours=2), tick=False):
        tracer.results[no] = TrackResult(LogisticsState.DELIVERED, [*_moving(3).events, scan,
                                         TrackEvent(_ago(0.5), LogisticsState.DELIVERED, "已签收")])
        track(h.rt)
    assert _shipments(db)[no].logistics_state == "delivered"


def test_track_given_both_and_kuaidi100_refusing_the_carrier_keeps_the_traces_reading_without_a_verdict(ht, db):
    h, fake = ht
    _shipped(h, ["6336"])
    no = "75310000006336"
    tracer = _traced(h, "both")
    tracer.results[no] = _moving(2)
    fake.refuse.add(no)
    assert track(h.rt) == 1
    sh = _shipments(db)[no]
    assert (sh.logistics_state, sh.track_verdict) == ("in_transit", None)


def test_track_given_no_trace_at_the_supplier_falls_back_on_the_provider(ht, db):
    h, fake = ht
    _shipped(h, ["6341"])
    tracer = _traced(h, "supplier")  # the trace answers None (order.createtime.history)
    track(h.rt)
    assert tracer.asked == ["75310000006341"] and [n for _, n, _ in fake.asked] == ["75310000006341"]


def test_track_given_nobody_has_a_trace_asks_again_much_later_not_at_every_pass(ht, db):
    h, _ = ht
    h.rt.tracker = None
    _shipped(h, ["6351"])
    tracer = _traced(h, "supplier")
    track(h.rt)
    track(h.rt)
    assert tracer.asked == ["75310000006351"]
    sh = _shipments(db)["75310000006351"]
    assert sh.last_checked_at is None and sh.next_check_at is not None


def test_track_given_an_unreadable_trace_does_not_count_as_read(ht, db):
    h, _ = ht
    h.rt.tracker = None
    _shipped(h, ["6361"])
    _traced(h, "supplier").broken = True
    track(h.rt)
    sh = _shipments(db)["75310000006361"]
    assert sh.last_checked_at is None and sh.next_check_at is not None  # the alerts wait for a reading


def test_first_read_after_subscribing_is_when_no_pickup_could_first_apply() -> None:
    now, twelve = clock.now(), timedelta(hours=12)
    assert first_read(now - timedelta(hours=30), now, twelve) is None  # handed over long ago: read at once
    assert first_read(now - timedelta(hours=2), now, twelve) == now + timedelta(hours=10)
    assert first_read(now + timedelta(days=3), now, twelve) == now + timedelta(hours=24)


def test_track_given_a_parcel_handed_over_30_hours_ago_in_subscribe_mode_subscribes_and_reads_it_at_once(ht, db):
    h, fake = ht
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=100, mode="subscribe", min_poll_minutes=60,
                                           callback_base_url="https://syncd.example.com")
    _shipped(h, ["6371", "6372"])
    from sqlalchemy import update

    with db.begin() as s:
        s.execute(update(Shipment).where(Shipment.tracking_no == "75310000006371")
                  .values(handed_over_at=_ago(30)))
    track(h.rt)
    assert [(what, no) for what, no, _ in fake.asked] == [("subscribe", "75310000006371"),
                                                        ("zhongtong", "75310000006371"),
                                                        ("subscribe", "75310000006372")]
    sh = _shipments(db)
    assert sh["75310000006371"].last_checked_at is not None and sh["75310000006372"].last_checked_at is None
    assert sh["75310000006372"].next_check_at is not None
    assert sh["75310000006372"].next_check_at - clock.now() > timedelta(hours=11)


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


def test_track_records_a_pass_in_the_same_statements_for_twenty_parcels_as_for_three(db, tmp_path):
    """A pass's answers are recorded together: one transaction, not one (or two) per parcel."""
    counts = []
    for n, base in ((3, 6900), (20, 6950)):
        with db.begin() as s:  # a fresh shop: the first harness's cursors would put these orders behind them
            s.execute(delete(Cursor))
        h = build(db, tmp_path / str(n))
        fake = FakeTracker()
        h.rt.tracker = fake
        h.rt.config.tracking = SimpleNamespace(daily_query_budget=100, mode="poll", min_poll_minutes=60)
        pids = [str(base + i) for i in range(n)]
        _shipped(h, pids)
        for i, pid in enumerate(pids):  # moving, quiet (no record), and refused parcels in every pass
            number = f"7531{pid:0>10}"
            if i % 3 == 0:
                fake.results[number] = _moving(2)
            elif i % 3 == 1:
                fake.refuse.add(number)
        before = db.statements.count
        assert track(h.rt) == n
        counts.append(db.statements.count - before)
    sh = _shipments(db)
    assert sum(1 for x in sh.values() if x.logistics_state == "in_transit") == 1 + 7
    assert sum(1 for x in sh.values() if (x.track_verdict or "").startswith("refused")) == 1 + 7
    with db.read() as s:
        assert queries_used(s, "k100", clock.now()) == 23
        assert s.scalar(select(func.count()).select_from(TrackingEvent)) == 2 * 8
    assert counts[1] == counts[0], counts
