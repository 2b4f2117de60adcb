"""Garbled answers in every stage: an answer we cannot read (an HTML page with HTTP 200, truncated JSON: a
ProtocolError) or one our code trips over (an unexpected exception) hits the MIDDLE item of a batch.

Each attack checks the same three things: the items before and after complete and are recorded in the same
run; the garbled item is settled later without being sent twice (read back / looked up first); no order is
lost or doubled (counted on the other side: the storefront's accepted tracking numbers, the supplier's
created and cancelled orders, the parcels recorded, the messages delivered).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import func, select

from syncd import clock
from syncd.alerts.config import AlertsConfig
from syncd.alerts.notify import deliver
from syncd.domain import (
    InboxFile,
    LogisticsState,
    Message,
    ParsedInbox,
    RefundEvent,
    RefundState,
    SupplierOrderPhase,
    SupplierParcel,
    TrackResult,
)
from syncd.errors import ProtocolError
from syncd.store.db import Database
from syncd.store.models import AuditEntry, Notification, Order, Shipment, SupplierOrder
from tests.alerts.rig import FakeSink
from tests.fakes import FakeStorefront, make_order
from tests.stages.harness import Harness, build
from tests.stages.test_supplier_api import FakeApiSupplier, _build
from tests.stages.test_writeback import garble

GARBLED: dict[str, Callable[[], Exception]] = {
    "html-200": lambda: ProtocolError("answer is not JSON: '<html><body>502 Bad Gateway</body></html>'"),
    "our-bug": lambda: KeyError("logistics_code"),
}
PIDS = ("8101", "8102", "8103", "8104", "8105")
MIDDLE = "8103"


def later(minutes: float) -> time_machine.travel:
    return time_machine.travel(clock.now() + timedelta(minutes=minutes), tick=False)


def order_states(db: Database) -> dict[str, str]:
    with db.read() as s:
        return dict(s.execute(select(Order.platform_order_id, Order.state)).all())


def placed_orders(db: Database) -> dict[str, SupplierOrder]:
    with db.read() as s:
        return {pid: so for pid, so in s.execute(select(Order.platform_order_id, SupplierOrder)
                                                 .join(Order, Order.id == SupplierOrder.order_id))}


def shipment_counts(db: Database) -> Counter[str]:
    with db.read() as s:
        return Counter(s.scalars(select(Order.platform_order_id).join(Shipment, Shipment.order_id == Order.id)))


def exported(h: Harness) -> Counter[str]:
    """How many times each order went out in the drop-folder supplier's files."""
    return Counter(r["订单号"] for r in h.exported_rows("acme"))


@pytest.fixture(params=list(GARBLED), ids=list(GARBLED))
def garbled(request: pytest.FixtureRequest) -> Callable[[], Exception]:
    return GARBLED[request.param]


# ---- writeback: storefront ----------------------------------------------------------------------------------


def _with_tracking(db: Database, tmp_path: Path) -> Harness:
    """Every order of PIDS forwarded to acme, and acme's reply file with a tracking number for each imported."""
    h = build(db, tmp_path)
    for i, pid in enumerate(PIDS):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=30 - i)))
    h.cycle()
    h.reply("acme", "r.csv", [(pid, "中通", f"ZT{pid}0000") for pid in PIDS])
    h.stage("collect")
    return h

def test_writeback_given_a_garbled_answer_to_an_accepted_upload_uploads_every_order_once(
        db: Database, tmp_path: Path, garbled):
    """The shop accepted the third upload but its answer came back garbled."""
    h = _with_tracking(db, tmp_path)
    garble(h.shop, MIDDLE, garbled, accepted=True)
    h.stage("writeback")
    assert [st for pid, st in order_states(db).items() if pid != MIDDLE] == ["shipped"] * 4  # recorded at once
    with later(2):
        h.stage("writeback")
    assert h.shop.shipped == {pid: [f"ZT{pid}0000"] for pid in PIDS}  # 0 lost, 0 doubled on the storefront
    assert Counter(pid for pid, _, _ in h.shop.ship_calls) == Counter(PIDS)  # the garbled one read back, not resent
    assert set(order_states(db).values()) == {"shipped"}


# ---- forward: API supplier --------------------------------------------------------------------------------------


def _api_batch(db: Database, tmp_path: Path) -> tuple[Harness, FakeApiSupplier]:
    h, fake = _build(db, tmp_path)
    for i, pid in enumerate(PIDS):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=30 - i), skus=("SKU-X",)))
    h.stage("pull")
    h.stage("route")
    return h, fake


def test_forward_given_a_garbled_answer_to_a_created_supplier_order_creates_every_order_once(
        db: Database, tmp_path: Path, garbled):
    """The supplier created the third order (1688 is not idempotent) but its answer came back garbled."""
    h, fake = _api_batch(db, tmp_path)
    fake.garble[("place", placed_orders(db)[MIDDLE].idempotency_key)] = [garbled()]
    h.stage("forward")
    assert [so.state for pid, so in placed_orders(db).items() if pid != MIDDLE] == ["placed"] * 4
    with later(2):
        h.stage("forward")
    assert {so.state for so in placed_orders(db).values()} == {"placed"}
    assert sorted(len(refs) for refs in fake.orders.values()) == [1] * 5  # found by its key: never created twice
    assert len(fake.requests) == 5
    with db.read() as s:
        trail = list(s.scalars(select(AuditEntry.outcome).where(AuditEntry.action == "place_order",
                                                                 AuditEntry.subject == f"order shop1/{MIDDLE}")
                               .order_by(AuditEntry.id)))
    assert trail == ["intent", "unknown", "ok"]


def test_collect_given_a_garbled_status_answer_records_every_parcel_once(
        db: Database, tmp_path: Path, garbled):
    """The status poll of the third supplier order answers something we cannot read."""
    h, fake = _api_batch(db, tmp_path)
    h.stage("forward")
    sos = placed_orders(db)
    for pid, so in sos.items():
        assert so.supplier_ref is not None
        fake.parcels[so.supplier_ref] = [SupplierParcel("zhongtong", "中通", f"ZT{pid}0000", None)]
        fake.phase[so.supplier_ref] = SupplierOrderPhase.SHIPPED
    fake.garble[("status", sos[MIDDLE].idempotency_key)] = [garbled()]
    with later(60):
        h.stage("collect")
        assert shipment_counts(db) == Counter(p for p in PIDS if p != MIDDLE)
    with later(120):
        h.stage("collect")
    assert shipment_counts(db) == Counter(PIDS)  # each parcel once


def test_cancel_given_a_garbled_answer_to_a_cancellation_that_went_through_cancels_each_once(
        db: Database, tmp_path: Path, garbled):
    """The buyers refunded; the supplier cancelled the third order but its answer came back garbled."""
    h, fake = _api_batch(db, tmp_path)
    fake.unpaid = True
    h.stage("forward")
    fake.garble[("cancel", placed_orders(db)[MIDDLE].idempotency_key)] = [garbled()]
    for pid in PIDS:
        h.shop.refunds.append(RefundEvent(pid, None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("forward")
    assert [so.cancel_state for pid, so in placed_orders(db).items() if pid != MIDDLE] == ["cancelled"] * 4
    with later(5):
        h.stage("forward")
    assert {so.cancel_state for so in placed_orders(db).values()} == {"cancelled"}
    assert Counter(fake.cancels) == Counter(f"R{i:04d}" for i in range(1, 6))  # each cancel sent once
    assert set(order_states(db).values()) == {"cancelled"}


# ---- forward: file supplier ----------------------------------------------------------------------------------


def test_forward_given_a_garbled_decryption_for_one_shop_exports_the_other_shops_orders_and_each_once(
        db: Database, tmp_path: Path, garbled):
    """Two shops share a drop-folder supplier; the second shop's decryption answer comes back garbled."""
    h = build(db, tmp_path)
    other = FakeStorefront()
    h.rt.storefronts["shop2"] = other
    h.rt.config.shops["shop2"] = h.rt.config.shops["shop1"].model_copy(update={"id": "shop2"})
    for i, pid in enumerate(PIDS):
        (other if pid == MIDDLE else h.shop).put(make_order(pid, clock.now() - timedelta(minutes=30 - i)))
    h.stage("pull")
    h.stage("route")
    real = other.decrypt

    def decrypt(refs):
        raise garbled()

    other.decrypt = decrypt  # type: ignore[method-assign]
    h.stage("forward")
    assert exported(h) == Counter(p for p in PIDS if p != MIDDLE)  # in this run
    assert order_states(db)[MIDDLE] == "routed"  # not lost, not held: waits for its backoff
    other.decrypt = real  # type: ignore[method-assign]
    with later(2):
        h.stage("forward")
    assert exported(h) == Counter(PIDS)  # each order exported once
    assert set(order_states(db).values()) == {"placed"}


# ---- collect: file supplier ------------------------------------------------------------------------------------


def test_collect_given_a_reply_file_that_makes_the_import_fail_imports_the_others_and_sets_it_aside(
        db: Database, tmp_path: Path, garbled):
    """Five reply files; reading the third one fails."""
    h = build(db, tmp_path)
    for i, pid in enumerate(PIDS):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=30 - i)))
    h.cycle()
    for i, pid in enumerate(PIDS):
        h.reply("acme", f"r{i}.csv", [(pid, "中通", f"ZT{pid}0000")], age=600 - 60 * i)
    adapter = h.rt.suppliers["acme"]
    real = adapter.parse_inbox

    def parse(file: InboxFile) -> ParsedInbox:
        if file.name == "r2.csv":
            raise garbled()
        return real(file)

    adapter.parse_inbox = parse  # type: ignore[method-assign]
    h.stage("collect")
    h.stage("collect")
    assert shipment_counts(db) == Counter(p for p in PIDS if p != MIDDLE)
    assert (h.inbox("acme") / "rejected" / "r2.csv").exists()  # set aside with its reason, for a person
    assert order_states(db)[MIDDLE] == "placed"  # not lost: still waiting for its tracking number (and alerting)


# ---- track -----------------------------------------------------------------------------------------------------


def test_track_given_a_garbled_answer_for_one_parcel_records_the_others_and_asks_it_again(
        db: Database, tmp_path: Path, garbled):
    """The provider's answer for the third parcel cannot be read."""
    h = _with_tracking(db, tmp_path)
    asked: list[str] = []
    bad = [f"ZT{MIDDLE}0000"]

    def query(carrier: str, tracking_no: str, phone: str | None) -> TrackResult:
        asked.append(tracking_no)
        if tracking_no in bad:
            bad.clear()
            raise garbled()
        return TrackResult(LogisticsState.IN_TRANSIT, [])

    h.rt.tracker = SimpleNamespace(name="k100", query=query)  # type: ignore[assignment]
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=100, mode="poll", min_poll_minutes=60)
    assert h.stage("track").work == 4
    with later(180):
        h.stage("track")
    with db.read() as s:
        states = dict(s.execute(select(Shipment.tracking_no, Shipment.logistics_state)).all())
    assert states == {f"ZT{pid}0000": "in_transit" for pid in PIDS}
    assert Counter(asked)[f"ZT{MIDDLE}0000"] == 2


# ---- alert notifications ----------------------------------------------------------------------------------------


def test_notify_given_a_failing_robot_and_an_unrenderable_alert_delivers_every_alert_once(db: Database, garbled):
    """Three channels, the middle robot's client blows up; on another channel one alert cannot be rendered."""

    class Chokes(FakeSink):
        def send(self, message: Message) -> None:
            if "BAD" in message.title:
                self.calls += 1
                raise garbled()
            super().send(message)

    sinks = {"a": Chokes("a"), "broken": FakeSink("broken"), "c": FakeSink("c")}
    sinks["broken"].fail = [RuntimeError("robot client bug"), RuntimeError("robot client bug")]
    now = clock.now()
    with db.begin() as s:
        for channel, title in (("a", "order 1 late"), ("a", "order BAD late"), ("a", "order 3 late"),
                               ("broken", "order 4 late"), ("c", "order 5 late")):
            s.add(Notification(channel=channel, kind="open", severity="warning", title=title, body="",
                               created_at=now, not_before=now, attempts=0))
    deliver(db, sinks, AlertsConfig(), now)  # type: ignore[arg-type]
    assert [len(sinks[c].messages) for c in ("a", "broken", "c")] == [3, 0, 1]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Notification).where(Notification.sent_at.is_(None))) == 1
    with later(2):
        deliver(db, sinks, AlertsConfig(), clock.now())  # type: ignore[arg-type]
    assert [len(sinks[c].messages) for c in ("a", "broken", "c")] == [3, 1, 1]  # every alert once
