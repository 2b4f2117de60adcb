"""writeback: each order's outcome is recorded as it completes; an unreadable answer is an unknown outcome,
read back before anything is sent again; an order that keeps failing is set aside with an alert."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.domain import Parcel, ShipResult
from syncd.errors import AuthError, ProtocolError
from syncd.stages import writeback
from syncd.store.db import Database
from syncd.store.models import Alert, AuditEntry, Order, Shipment
from tests.fakes import FakeStorefront, make_order
from tests.stages.harness import Harness, build

PIDS = [f"31{i}" for i in range(5)]
MIDDLE = PIDS[2]


@pytest.fixture
def h(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(writeback, "IN_FLIGHT", 1)  # these tests follow the calls one after another
    return _five_orders_to_upload(db, tmp_path)


def _five_orders_to_upload(db: Database, tmp_path: Path) -> Harness:
    h = build(db, tmp_path)
    for i, pid in enumerate(PIDS):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=30 - i)))
    h.cycle()
    h.reply("acme", "r.csv", [(pid, "中通", f"ZT{pid}000") for pid in PIDS])
    h.stage("collect")
    return h


def garble(shop: FakeStorefront, pid: str, error: Callable[[], Exception], *, accepted: bool,
           times: int = 1) -> None:
    """The next ``times`` uploads of ``pid`` get an answer we cannot read; ``accepted``: the shop took it."""
    real = shop.ship
    left = [times]

    def ship(platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        if platform_order_id != pid or left[0] == 0:
            return real(platform_order_id, parcels, whole_order)
        left[0] -= 1
        if accepted:
            real(platform_order_id, parcels, whole_order)
        else:
            shop.ship_calls.append((platform_order_id, list(parcels), whole_order))
        raise error()

    shop.ship = ship  # type: ignore[method-assign]


def _shipments(db: Database) -> dict[str, tuple[str, int, int]]:
    with db.read() as s:
        return {pid: (st, att, faults) for pid, st, att, faults in s.execute(
            select(Order.platform_order_id, Shipment.writeback_state, Shipment.writeback_attempts,
                   Shipment.writeback_faults).join(Order, Order.id == Shipment.order_id))}


def _states(db: Database) -> dict[str, str]:
    with db.read() as s:
        return dict(s.execute(select(Order.platform_order_id, Order.state)).all())


def _uploads(shop: FakeStorefront) -> Counter[str]:
    return Counter(pid for pid, _, _ in shop.ship_calls)


def test_writeback_given_an_unreadable_answer_on_the_middle_order_records_the_others_as_they_complete(h: Harness,
                                                                                                     db: Database):
    garble(h.shop, MIDDLE, lambda: ProtocolError("douyin order.logisticsAdd: answer is not JSON"), accepted=False)
    h.stage("writeback")
    wb = _shipments(db)
    assert {pid: wb[pid][0] for pid in PIDS} == {**dict.fromkeys(PIDS, "uploaded"), MIDDLE: "pending"}
    assert wb[MIDDLE][1:] == (1, 1)  # one attempt, one unreadable answer: waits for its backoff
    assert _uploads(h.shop) == Counter(PIDS)
    assert [st for pid, st in _states(db).items() if pid != MIDDLE] == ["shipped"] * 4
    with db.read() as s:
        outcomes = dict(s.execute(select(AuditEntry.subject, AuditEntry.outcome)
                                  .where(AuditEntry.action == "upload_tracking", AuditEntry.outcome != "intent"))
                        .all())
    assert outcomes == {**{f"order shop1/{pid}": "ok" for pid in PIDS}, f"order shop1/{MIDDLE}": "unknown"}


def test_writeback_given_an_unreadable_answer_to_an_accepted_upload_reads_back_and_never_sends_again(h: Harness,
                                                                                                    db: Database):
    garble(h.shop, MIDDLE, lambda: ProtocolError("pdd: truncated JSON"), accepted=True)
    h.stage("writeback")
    assert _shipments(db)[MIDDLE][0] == "pending"
    h.stage("writeback")  # backoff not over: nothing happens
    assert h.shop.get_calls == []
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert h.shop.get_calls == [MIDDLE]
    assert _uploads(h.shop) == Counter(PIDS)  # read back: the shop had it; not sent twice
    assert h.shop.shipped[MIDDLE] == [f"ZT{MIDDLE}000"]
    assert _shipments(db)[MIDDLE][0] == "uploaded"
    assert set(_states(db).values()) == {"shipped"}


def test_writeback_given_an_unreadable_answer_to_a_lost_upload_reads_back_then_sends_it_once(h: Harness,
                                                                                             db: Database):
    garble(h.shop, MIDDLE, lambda: ProtocolError("taobao: HTML page with HTTP 200"), accepted=False)
    h.stage("writeback")
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert h.shop.get_calls == [MIDDLE]
    assert _uploads(h.shop)[MIDDLE] == 2
    assert [p.attempted for pid, parcels, _ in h.shop.ship_calls if pid == MIDDLE for p in parcels] == [False, True]
    assert h.shop.shipped[MIDDLE] == [f"ZT{MIDDLE}000"]
    assert _shipments(db)[MIDDLE][:2] == ("uploaded", 1)


def test_writeback_given_a_read_back_that_fails_sends_nothing_and_waits(h: Harness, db: Database):
    garble(h.shop, MIDDLE, lambda: ProtocolError("answer is not JSON"), accepted=False)
    h.stage("writeback")
    h.shop.fail_get.append(ProtocolError("order.orderDetail: answer is not JSON"))
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert _uploads(h.shop)[MIDDLE] == 1  # outcome still unknown: never sent blindly
    assert _shipments(db)[MIDDLE] == ("pending", 2, 2)


def test_writeback_given_an_unexpected_error_on_the_middle_order_goes_on_with_the_rest(h: Harness, db: Database):
    garble(h.shop, MIDDLE, lambda: KeyError("logistics_code"), accepted=True)
    h.stage("writeback")
    wb = _shipments(db)
    assert [pid for pid in PIDS if wb[pid][0] == "uploaded"] == [p for p in PIDS if p != MIDDLE]
    assert wb[MIDDLE] == ("pending", 1, 1)
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert _uploads(h.shop) == Counter(PIDS)
    assert _shipments(db)[MIDDLE][0] == "uploaded"


def test_writeback_given_an_order_whose_answers_stay_unreadable_sets_it_aside_with_an_alert(h: Harness,
                                                                                          db: Database):
    from syncd.stages.watch import rules_pass

    garble(h.shop, MIDDLE, lambda: ProtocolError("answer is not JSON"), accepted=False, times=100)
    h.shop.fail_get.extend(ProtocolError("answer is not JSON") for _ in range(100))
    at = clock.now()
    for _ in range(writeback.MAX_FAULTS):
        with time_machine.travel(at):
            h.stage("writeback")
        at += timedelta(hours=2)
    assert _shipments(db)[MIDDLE] == ("rejected", writeback.MAX_FAULTS, 0)
    assert _states(db)[MIDDLE] == "held"
    assert _uploads(h.shop)[MIDDLE] == 1  # after the first unreadable answer only read-backs, never a blind send
    with time_machine.travel(at):
        h.stage("writeback")
        rules_pass(h.rt)
    assert _uploads(h.shop)[MIDDLE] == 1  # set aside: no more calls
    with db.read() as s:
        oid = s.scalar(select(Order.id).where(Order.platform_order_id == MIDDLE))
        alert = s.scalars(select(Alert).where(Alert.subject == f"order:{oid}")).one()
    assert (alert.rule, alert.severity) == ("order_held", "critical")
    assert "could not be read" in alert.detail
    assert {pid: st for pid, st in _states(db).items() if pid != MIDDLE} == dict.fromkeys(
        [p for p in PIDS if p != MIDDLE], "shipped")


def test_writeback_given_a_token_refused_mid_batch_keeps_what_was_uploaded_and_frees_the_rest(h: Harness,
                                                                                             db: Database):
    garble(h.shop, MIDDLE, lambda: AuthError("access token expired"), accepted=False)
    h.stage("writeback")
    wb = _shipments(db)
    assert [wb[pid][0] for pid in PIDS] == ["uploaded", "uploaded", "pending", "pending", "pending"]
    assert [wb[pid][1] for pid in PIDS[3:]] == [0, 0]  # never sent: no read-back needed later
    h.stage("writeback")  # the two never sent go at once; the refused one waits for its backoff
    assert _uploads(h.shop) == Counter(PIDS)
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert _uploads(h.shop) == Counter([*PIDS, MIDDLE])
    assert set(_states(db).values()) == {"shipped"}


def test_on_storefront_given_tracking_numbers_in_any_case_matches_each_parcel():
    order = make_order("1", clock.now())
    order.shipped_tracking.append(" zt1 ")
    parcels = [Parcel("zhongtong", "ZT1", [], "r1"), Parcel("zhongtong", "ZT2", [], "r2")]
    assert writeback.on_storefront(order, parcels[:1])
    assert not writeback.on_storefront(order, parcels)
    assert not writeback.on_storefront(order, [])


def _snapshot_at(shop: FakeStorefront, db: Database, pid: str) -> dict[str, str]:
    """The write-back states on our side at the moment ``pid``'s upload is sent."""
    real, seen = shop.ship, {}

    def ship(platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        if platform_order_id == pid:
            seen.update({p: st for p, (st, _, _) in _shipments(db).items()})
        return real(platform_order_id, parcels, whole_order)

    shop.ship = ship  # type: ignore[method-assign]
    return seen


def test_writeback_given_an_unreadable_answer_records_it_and_the_successes_before_it_before_the_next_call(
        h: Harness, db: Database):
    seen = _snapshot_at(h.shop, db, PIDS[3])
    garble(h.shop, MIDDLE, lambda: ProtocolError("douyin order.logisticsAdd: answer is not JSON"), accepted=True)
    h.stage("writeback")
    assert [seen[p] for p in PIDS] == ["uploaded", "uploaded", "pending", "uploading", "uploading"]


def test_writeback_given_successes_records_them_together_within_record_every(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch):
    seen = _snapshot_at(h.shop, db, PIDS[4])
    h.stage("writeback")  # a fast batch: one transaction for its successes, at its end
    assert set(seen.values()) == {"uploading"} and set(_shipments(db)[p][0] for p in PIDS) == {"uploaded"}


def test_writeback_given_record_every_passed_records_each_success_before_the_next_call(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(writeback, "RECORD_EVERY", 0.0)
    seen = _snapshot_at(h.shop, db, PIDS[1])
    h.stage("writeback")
    assert seen[PIDS[0]] == "uploaded" and seen[PIDS[1]] == "uploading"


def test_writeback_given_a_batch_keeps_in_flight_uploads_going_at_once(db: Database, tmp_path: Path):
    h = _five_orders_to_upload(db, tmp_path)
    # each upload waits at the barrier until IN_FLIGHT of them are in the shop at once (one after another, the
    # first would wait alone and the barrier break)
    together = threading.Barrier(writeback.IN_FLIGHT, timeout=20)
    real = h.shop.ship

    def ship(platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        if platform_order_id in PIDS[:writeback.IN_FLIGHT]:
            together.wait()
        return real(platform_order_id, parcels, whole_order)

    h.shop.ship = ship  # type: ignore[method-assign]
    h.stage("writeback")
    assert not together.broken
    assert _uploads(h.shop) == Counter(PIDS)
    assert set(_states(db).values()) == {"shipped"}


def test_writeback_given_a_token_refused_with_uploads_in_flight_records_them_and_starts_no_more(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    h = _five_orders_to_upload(db, tmp_path)
    first = PIDS[:writeback.IN_FLIGHT]  # in flight together; the first is refused while the others are still out
    together = threading.Barrier(len(first), timeout=20)
    refusal_seen = threading.Event()  # the stage has recorded the refusal: only then do the others answer
    real_ship, real_record = h.shop.ship, writeback._record_completed
    sent = []

    def ship(platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        sent.append(platform_order_id)
        together.wait()
        if platform_order_id == first[0]:
            raise AuthError("access token expired")
        assert refusal_seen.wait(20)
        return real_ship(platform_order_id, parcels, whole_order)

    def record(rt, shop_id, completed):  # type: ignore[no-untyped-def]
        refused = any(isinstance(o.error, AuthError) for o in completed)
        real_record(rt, shop_id, completed)
        if refused:
            refusal_seen.set()

    h.shop.ship = ship  # type: ignore[method-assign]
    monkeypatch.setattr(writeback, "_record_completed", record)
    h.stage("writeback")
    wb = _shipments(db)
    assert sorted(sent) == sorted(first)  # nothing started after the refusal
    assert [wb[pid][0] for pid in first[1:]] == ["uploaded"] * (len(first) - 1)  # the ones in flight: recorded
    assert wb[first[0]][0] == "pending"
    assert [wb[pid][:2] for pid in PIDS[len(first):]] == [("pending", 0)]  # never sent: freed, no read-back


def test_writeback_takes_over_a_dead_replicas_upload_of_an_order_held_since_and_only_reads_it_back(h: Harness, db):
    """A replica died mid-upload; a person has held the order since. The call may have gone through: the parcel is
    read back (on the storefront: uploaded, the order stays held), never sent again while the order is held, and
    not left 'uploading' for ever."""
    from sqlalchemy import update

    on_shop, lost = PIDS[0], PIDS[1]
    h.shop.shipped[on_shop] = [f"ZT{on_shop}000"]  # the dead replica's call went through
    with db.begin() as s:
        ids = dict(s.execute(select(Order.platform_order_id, Order.id).where(
            Order.platform_order_id.in_([on_shop, lost]))).all())
        s.execute(update(Shipment).where(Shipment.order_id.in_(ids.values())).values(
            writeback_state="uploading", claimed_by="pod-dead", claim_until=clock.now() - timedelta(minutes=1)))
        s.execute(update(Order).where(Order.id.in_(ids.values())).values(state="held", hold_reason="manual"))
    h.stage("writeback")
    got = _shipments(db)
    assert got[on_shop][0] == "uploaded" and got[lost][0] == "pending"
    assert _states(db)[on_shop] == "held" and _states(db)[lost] == "held"
    assert on_shop not in _uploads(h.shop) and lost not in _uploads(h.shop)  # nothing sent for a held order
    assert {got[p][0] for p in PIDS[2:]} == {"uploaded"}


def test_writeback_given_shops_with_nothing_due_asks_once_for_them_all_and_records_their_runs_together(
        db: Database, tmp_path: Path):
    """An agency's fifty shops, each asked alone every run whether it had a parcel to write back, cost four
    statements a shop with nothing to do: the shops with a parcel due are found in one read, the others' runs
    recorded in one statement, so a run costs the same for eight idle shops as for one. A shop with a parcel due
    is still written back."""
    from syncd.store.models import StageRun

    h = _five_orders_to_upload(db, tmp_path)

    def statements(idle_shops: int) -> int:
        for i in range(idle_shops):
            h.rt.storefronts.setdefault(f"idle{i}", FakeStorefront())
        before = db.statements.count
        h.stage("writeback")
        return db.statements.count - before

    first = statements(1)  # shop1's five parcels go, one idle shop beside it
    assert sorted(pid for pid, _, _ in h.shop.ship_calls) == sorted(PIDS)
    assert statements(1) == statements(8)  # nothing due anywhere: the same cost for eight idle shops as for one
    assert first > statements(8)
    with db.read() as s:
        runs = {scope: at for scope, at in s.execute(select(StageRun.scope, StageRun.last_success_at)
                                                     .where(StageRun.stage == "writeback"))}
    assert set(runs) == {"shop1", *(f"idle{i}" for i in range(8))} and all(runs.values())
