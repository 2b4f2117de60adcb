"""API suppliers through the real stages over a real database: exactly-once placing, stock and fallback,
partial parcels, cancellation and reships. The supplier is a fake that behaves like 1688 (not idempotent)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from sqlalchemy import delete, func, select

from syncd import clock
from syncd.config.models import Route, SupplierConfigBase
from syncd.domain import (
    CancelOutcome,
    CancelResult,
    LogisticsState,
    PlacedOrder,
    RefundEvent,
    RefundState,
    StockAnswer,
    StockLine,
    SupplierCallback,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
    SupplierOrderStatus,
    SupplierParcel,
    TrackResult,
)
from syncd.errors import OutOfStockError, ProtocolError, RateLimitedError, RejectedError, TransientError
from syncd.operations import reship
from syncd.stages import supplier_api as sa
from syncd.stages.supplier_api import apply_status
from syncd.store.db import Database
from syncd.store.models import AuditEntry, Cursor, Hold, Order, Shipment, SupplierOrder
from tests.fakes import FakeStorefront, make_order
from tests.stages.harness import Harness, build
from tests.stages.harness import order_row as _order


@dataclass
class FakeApiSupplier:
    """Creates a new order on every place() — like 1688 — and can lose the answer after creating it."""

    kind: str = "fakeapi"
    orders: dict[str, list[str]] = field(default_factory=dict)  # idempotency key → supplier refs created
    requests: list[SupplierOrderRequest] = field(default_factory=list)
    stock: dict[str, int] = field(default_factory=dict)
    lose_next: int = 0  # create the order, then time out
    fail_next: int = 0  # time out before creating anything
    reject: str | None = None
    unpaid: bool = False
    phase: dict[str, SupplierOrderPhase] = field(default_factory=dict)
    parcels: dict[str, list[SupplierParcel]] = field(default_factory=dict)
    cancel_answer: CancelOutcome = CancelOutcome.CANCELLED
    cancels: list[str] = field(default_factory=list)
    paid: set[str] = field(default_factory=set)
    flow_control: bool = False  # every call refused with a ban (like 1688's gw.QosAppFrequencyLimit)
    stock_checks: int = 0
    blind_checks: bool = False  # checks answer without figures (the create may still refuse for want of stock)
    status_calls: int = 0
    traces: int = 0
    # (method, idempotency key) → errors raised by its next calls (place and cancel: after the work was done,
    # as when the answer to an accepted call comes back garbled)
    garble: dict[tuple[str, str], list[Exception]] = field(default_factory=dict)
    before_place: Callable[[SupplierOrderRequest], None] = lambda request: None  # outside the lock
    after_place: Callable[[SupplierOrderRequest], None] = lambda request: None  # created; before it answers
    before_status: Callable[[str], None] = lambda supplier_ref: None  # outside the lock
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _garbled(self, method: str, key: str) -> None:
        errors = self.garble.get((method, key))
        if errors:
            raise errors.pop(0)

    def created(self) -> int:
        return sum(len(v) for v in self.orders.values())

    def check_stock(self, request: SupplierOrderRequest) -> StockAnswer | None:
        self.stock_checks += 1
        if self.flow_control:
            raise RateLimitedError("fakeapi preview: flow control", retry_after=10)
        self._garbled("check_stock", request.idempotency_key)
        if not self.stock or self.blind_checks:
            return None
        return StockAnswer([StockLine(ln.supplier_sku, ln.quantity, self.stock.get(ln.supplier_sku))
                            for ln in request.lines])

    def place(self, request: SupplierOrderRequest) -> PlacedOrder:
        self.before_place(request)
        with self.lock:  # the stage sends a few orders at once (sa.IN_FLIGHT)
            placed = self._place(request)
        self.after_place(request)
        return placed

    def _place(self, request: SupplierOrderRequest) -> PlacedOrder:
        self.requests.append(request)
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("fakeapi createOrder: timed out", code="timeout")
        if self.reject:
            raise RejectedError(self.reject)
        # a supplier's stock goes down as its orders are created, and it refuses what it cannot supply
        if any(self.stock.get(ln.supplier_sku, ln.quantity) < ln.quantity for ln in request.lines):
            raise OutOfStockError("fakeapi createOrder: 500_006 库存不足", code="500_006", platform_message="库存不足")
        for ln in request.lines:
            if ln.supplier_sku in self.stock:
                self.stock[ln.supplier_sku] -= ln.quantity
        ref = f"R{self.created() + 1:04d}"
        self.orders.setdefault(request.idempotency_key, []).append(ref)
        self.phase[ref] = SupplierOrderPhase.UNPAID if self.unpaid else SupplierOrderPhase.ACCEPTED
        if self.lose_next:
            self.lose_next -= 1
            raise TransientError("fakeapi createOrder: timed out", code="timeout")
        self._garbled("place", request.idempotency_key)
        return PlacedOrder(ref, paid=not self.unpaid)

    def find(self, idempotency_key: str, placed_after: datetime) -> PlacedOrder | None:
        self._garbled("find", idempotency_key)
        refs = self.orders.get(idempotency_key)
        return PlacedOrder(refs[0], paid=self.phase[refs[0]] != SupplierOrderPhase.UNPAID) if refs else None

    def pay(self, order: PlacedOrder) -> PlacedOrder:
        raise RejectedError("awaiting payment by a person")

    def status(self, idempotency_key: str, supplier_ref: str) -> SupplierOrderStatus:
        self.before_status(supplier_ref)
        with self.lock:  # the stage asks a few at once (sa.IN_FLIGHT)
            return self._status(idempotency_key, supplier_ref)

    def _status(self, idempotency_key: str, supplier_ref: str) -> SupplierOrderStatus:
        self.status_calls += 1
        if self.flow_control:
            raise RateLimitedError("fakeapi buyerView: flow control", retry_after=10)
        self._garbled("status", idempotency_key)
        return SupplierOrderStatus(supplier_ref, self.phase[supplier_ref], list(self.parcels.get(supplier_ref, [])))

    def cancel(self, idempotency_key: str, supplier_ref: str, reason: str) -> CancelResult:
        self.cancels.append(supplier_ref)
        if self.cancel_answer == CancelOutcome.CANCELLED:
            self.phase[supplier_ref] = SupplierOrderPhase.CANCELLED
        self._garbled("cancel", idempotency_key)
        return CancelResult(self.cancel_answer, "paid already" if self.cancel_answer != "cancelled" else "")

    def trace(self, supplier_ref: str, tracking_no: str) -> TrackResult | None:
        self.traces += 1
        if self.flow_control:
            raise RateLimitedError("fakeapi trace: flow control", retry_after=10)
        self._garbled("trace", tracking_no)
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        raise RejectedError("this supplier does not push")

    def ensure_token(self) -> None:
        return None

    def close(self) -> None:
        return None


API = "ali"


def _build(db: Database, tmp_path: Path, routes: dict[str, Route] | None = None) -> tuple[Harness, FakeApiSupplier]:
    with db.begin() as s:  # a fresh shop: a harness built before on this database must not leave its cursors,
        s.execute(delete(Cursor))  # behind which this one's orders (stamped minutes ago) would be stamped late
    h = build(db, tmp_path)
    fake = FakeApiSupplier()
    h.rt.api_suppliers[API] = fake
    h.rt.config.suppliers[API] = SupplierConfigBase(id=API, kind="fakeapi", ship_within_hours=24)
    h.rt.config.routes.update(routes or {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa"),
        "SKU-Y": Route(sku="SKU-Y", supplier=API, supplier_sku="610002:bb", multiplier=2),
    })
    return h, fake


@pytest.fixture
def hs(db: Database, tmp_path: Path) -> tuple[Harness, FakeApiSupplier]:
    return _build(db, tmp_path)


def _ago(minutes: float) -> datetime:
    return clock.now() - timedelta(minutes=minutes)


def _sos(db: Database) -> list[SupplierOrder]:
    with db.read() as s:
        return list(s.scalars(select(SupplierOrder).order_by(SupplierOrder.id)))



def _route(h: Harness, *pids_skus: tuple[str, tuple[str, ...]]) -> None:
    for pid, skus in pids_skus:
        h.shop.put(make_order(pid, _ago(5), skus=skus))
    h.stage("pull")
    h.stage("route")


def test_place_given_a_paid_order_places_it_once_with_its_key_and_receiver(hs, db):
    h, fake = hs
    _route(h, ("5001", ("SKU-X", "SKU-Y")))
    h.stage("forward")
    h.stage("forward")
    (so,) = _sos(db)
    assert (so.state, so.supplier_ref, so.paid) == ("placed", "R0001", True)
    assert fake.created() == 1 and fake.requests[0].idempotency_key == so.idempotency_key
    req = fake.requests[0]
    assert req.receiver.name == "张三" and req.platform == "fake"
    assert [(ln.supplier_sku, ln.quantity) for ln in req.lines] == [("610001:aa", 1), ("610002:bb", 2)]
    assert _order(db, "5001").state == "placed"
    assert "张三" not in repr(req)


def _first_calls_meet(fake: FakeApiSupplier) -> tuple[threading.Barrier, list[int], Callable[[Any], None]]:
    """A hook for the fake's calls: the first IN_FLIGHT of them meet at a barrier (one after another, the first
    would wait alone and break it); the calls are counted."""
    together = threading.Barrier(sa.IN_FLIGHT, timeout=20)
    met = [0]

    def before(_: Any) -> None:
        with fake.lock:
            met[0] += 1
            first = met[0] <= sa.IN_FLIGHT
        if first:
            together.wait()

    return together, met, before


def test_place_given_several_orders_keeps_in_flight_requests_going_at_once(hs, db):
    h, fake = hs
    pids = [f"52{i:02d}" for i in range(sa.IN_FLIGHT + 2)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    together, met, fake.before_place = _first_calls_meet(fake)
    h.stage("forward")
    assert not together.broken and met[0] == len(pids)
    assert fake.created() == len(pids) and {so.state for so in _sos(db)} == {"placed"}
    assert len({so.supplier_ref for so in _sos(db)}) == len(pids)


def test_place_given_a_flow_control_ban_with_requests_in_flight_starts_no_more_and_keeps_their_outcomes(
        hs, db, monkeypatch):
    h, fake = hs
    pids = [f"53{i:02d}" for i in range(sa.IN_FLIGHT + 3)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    together = threading.Barrier(sa.IN_FLIGHT, timeout=20)
    halted = threading.Event()  # the stage has taken the ban in: only then do the other requests answer
    real_calls = sa.bounded_calls

    def watched(items, call, *, limit, halt, name="call"):  # type: ignore[no-untyped-def]
        def watched_halt() -> bool:
            if halt():
                halted.set()
                return True
            return False
        return real_calls(items, call, limit=limit, halt=watched_halt, name=name)

    met = [0]

    def before(request: SupplierOrderRequest) -> None:
        with fake.lock:
            met[0] += 1
            n = met[0]
        if n <= sa.IN_FLIGHT:
            together.wait()
        if n == 1:
            raise RateLimitedError("fakeapi createOrder: flow control", retry_after=30)
        assert halted.wait(20)

    fake.before_place = before
    monkeypatch.setattr(sa, "bounded_calls", watched)
    h.stage("forward")
    # the ban ended the walk: the requests already out went through and are recorded, no further one started
    assert met[0] == sa.IN_FLIGHT and fake.created() == sa.IN_FLIGHT - 1
    placed = [so for so in _sos(db) if so.state == "placed"]
    assert len(placed) == sa.IN_FLIGHT - 1 and {so.supplier_ref for so in placed} == set(fake.phase)


def test_place_given_a_lost_answer_finds_the_order_by_key_and_never_creates_a_second(hs, db):
    h, fake = hs
    _route(h, ("5002", ("SKU-X",)))
    fake.lose_next = 1
    h.stage("forward")
    (so,) = _sos(db)
    assert so.state == "placing" and so.first_attempt_at is not None and fake.created() == 1
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        h.stage("forward")
    (so,) = _sos(db)
    assert (so.state, so.supplier_ref) == ("placed", "R0001")
    assert fake.created() == 1 and len(fake.requests) == 1
    with db.read() as s:
        outcomes = list(s.scalars(select(AuditEntry.outcome).where(AuditEntry.action == "place_order")
                                  .order_by(AuditEntry.id)))
    assert outcomes == ["intent", "unknown", "ok"]


def test_place_given_a_timeout_before_anything_was_created_sends_again_after_looking(hs, db):
    h, fake = hs
    _route(h, ("5003", ("SKU-X",)))
    fake.fail_next = 1
    h.stage("forward")
    assert _sos(db)[0].state == "placing" and fake.created() == 0
    h.stage("forward")  # too soon: the supplier's list may lag; nothing is sent
    assert len(fake.requests) == 1
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        h.stage("forward")
    assert _sos(db)[0].state == "placed" and fake.created() == 1 and len(fake.requests) == 2


def test_place_given_a_crash_after_the_intent_looks_up_before_sending(hs, db):
    h, fake = hs
    _route(h, ("5004", ("SKU-X",)))
    (so,) = _sos(db)
    # the daemon died right after the supplier created the order: intent recorded, answer never recorded
    fake.orders[so.idempotency_key] = ["R0999"]
    fake.phase["R0999"] = SupplierOrderPhase.ACCEPTED
    with db.begin() as s:
        row = s.get(SupplierOrder, so.id)
        assert row is not None
        row.state, row.first_attempt_at, row.claimed_by = "placing", _ago(10), "dead-replica"
        row.claim_until = _ago(5)
    h.stage("forward")
    (so,) = _sos(db)
    assert (so.state, so.supplier_ref) == ("placed", "R0999") and fake.requests == []


def test_place_given_flow_control_leaves_the_rest_of_the_batch_for_a_later_run_without_failing(hs, db):
    h, fake = hs
    _route(h, ("5101", ("SKU-X",)), ("5102", ("SKU-X",)), ("5103", ("SKU-Y",)))
    fake.flow_control = True

    report = h.stage("forward")

    assert report.ok, report.failures
    assert fake.stock_checks == 1  # the ban is not met three times over (nor slept through)
    assert [(so.state, so.claimed_by, so.first_attempt_at) for so in _sos(db)] == [("pending", None, None)] * 3
    fake.flow_control = False
    h.stage("forward")
    assert [so.state for so in _sos(db)] == ["placed"] * 3 and fake.created() == 3


def test_status_given_flow_control_stops_asking_and_asks_again_later(hs, db):
    h, fake = hs
    n = sa.IN_FLIGHT * 3
    _route(h, *((f"51{i:02d}", ("SKU-X",)) for i in range(n)))
    h.stage("forward")
    fake.flow_control = True
    with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
        asked = fake.status_calls
        report = h.stage("collect")
        assert report.ok, report.failures
        # the ban is met by the questions already out (IN_FLIGHT at once at most), not once per order
        assert 1 <= fake.status_calls - asked <= sa.IN_FLIGHT
        assert [so.claimed_by for so in _sos(db)] == [None] * n
        fake.flow_control = False
        fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "ZT0001", None)]
        fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=60), tick=False):
        h.stage("collect")
    assert _sos(db)[0].state == "shipped"


def test_track_given_flow_control_at_the_supplier_leaves_its_parcels_for_a_later_pass(hs, db):
    h, fake = hs
    _route(h, ("5121", ("SKU-X",)), ("5122", ("SKU-X",)))
    h.stage("forward")
    for ref, number in (("R0001", "ZT0001"), ("R0002", "ZT0002")):
        fake.parcels[ref] = [SupplierParcel("zhongtong", "中通", number, None)]
        fake.phase[ref] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
        h.stage("collect")
        fake.flow_control = True

        report = h.stage("track")

    assert report.ok, report.failures
    assert fake.traces == 1  # not once per parcel
    with db.read() as s:
        assert list(s.scalars(select(Shipment.last_checked_at))) == [None, None]


def test_track_given_a_supplier_trace_timing_out_still_asks_the_provider_about_other_parcels(hs, db):
    h, fake = hs
    _route(h, ("5131", ("SKU-X",)), ("5132", ("SKU-A",)))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "ZT51310000", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    h.reply("acme", "r.csv", [("5132", "中通", "ZT51320000")])
    asked: list[str] = []

    def query(carrier: str, tracking_no: str, phone: str | None) -> TrackResult:
        asked.append(tracking_no)
        return TrackResult(LogisticsState.NONE, [], verdict="no_records")

    h.rt.tracker = SimpleNamespace(name="k100", query=query)  # type: ignore[assignment]
    h.rt.config.tracking = SimpleNamespace(daily_query_budget=10, mode="poll", min_poll_minutes=60)
    # its parcels are read from its own trace (the default would ask the configured provider instead)
    h.rt.config.suppliers[API] = SimpleNamespace(id=API, tracking_source="supplier")  # type: ignore[assignment]
    fake.garble[("trace", "ZT51310000")] = [TransientError("fakeapi trace: timed out", code="timeout")]
    with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
        h.stage("collect")
        report = h.stage("track")
    assert report.ok, report.failures
    assert asked == ["ZT51320000"]  # the supplier's timeout held up only its own parcel


def test_place_given_a_business_refusal_holds_the_order_with_the_suppliers_words(hs, db):
    h, fake = hs
    _route(h, ("5005", ("SKU-X",)))
    fake.reject = "500_005 起批量不满足"
    h.stage("forward")
    o = _order(db, "5005")
    assert (o.state, o.hold_reason) == ("held", "supplier_rejected")
    assert _sos(db)[0].state == "pending" and fake.created() == 0


def test_place_given_short_stock_without_fallback_holds_out_of_stock(hs, db):
    h, fake = hs
    fake.stock = {"610001:aa": 0}
    _route(h, ("5006", ("SKU-X",)))
    h.stage("forward")
    o = _order(db, "5006")
    assert (o.state, o.hold_reason) == ("held", "out_of_stock") and fake.created() == 0
    fake.stock = {"610001:aa": 5}  # back in stock: the periodic re-check routes it again
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("route")
        h.stage("forward")
    assert _order(db, "5006").state == "placed" and fake.created() == 1


def test_place_given_short_stock_with_a_fallback_sends_the_line_to_the_fallback_supplier(db, tmp_path):
    h, fake = _build(db, tmp_path, {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", fallback_supplier="beta",
                       fallback_sku="B-X"),
        "SKU-Y": Route(sku="SKU-Y", supplier=API, supplier_sku="610002:bb")})
    fake.stock = {"610001:aa": 0, "610002:bb": 9}
    _route(h, ("5007", ("SKU-X", "SKU-Y")))
    h.stage("forward")
    h.stage("forward")
    sos = {so.supplier_id: so for so in _sos(db)}
    assert sos[API].state == "placed" and [ln["supplier_sku"] for ln in sos[API].lines] == ["610002:bb"]
    assert sos["beta"].kind == "fallback" and sos["beta"].state == "placed"
    assert [r["商品编码"] for r in h.exported_rows("beta")] == ["B-X"]
    assert [ln.supplier_sku for ln in fake.requests[0].lines] == ["610002:bb"]
    assert _order(db, "5007").state == "placed"


def test_place_given_a_fallback_to_a_supplier_already_holding_the_order_adds_the_line_to_its_order(db, tmp_path):
    h, fake = _build(db, tmp_path, {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", fallback_supplier="beta",
                       fallback_sku="B-X")})
    fake.stock = {"610001:aa": 0}
    _route(h, ("5017", ("SKU-X", "SKU-B")))  # SKU-B goes to beta anyway
    h.stage("forward")
    sos = _sos(db)
    assert [(so.supplier_id, so.kind, so.state) for so in sos] == [(API, "normal", "cancelled"),
                                                                  ("beta", "normal", "placed")]
    assert sorted(r["商品编码"] for r in h.exported_rows("beta")) == ["B-1", "B-X"]  # one order, one batch
    assert not fake.requests and _order(db, "5017").state == "placed"


def test_follow_given_partial_parcels_uploads_a_split_shipment(hs, db):
    h, fake = hs
    _route(h, ("5008", ("SKU-X", "SKU-Y")))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通快递(ZTO)", "75310000000001", ["610001:aa"],
                                            sent_at=_ago(60))]
    fake.phase["R0001"] = SupplierOrderPhase.PARTIAL
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("collect")
        h.stage("writeback")
    ((pid, parcels, whole),) = h.shop.ship_calls
    assert (pid, whole) == ("5008", False)
    assert [(ln.platform_line_id, ln.quantity) for ln in parcels[0].lines] == [("5008-1", 1)]
    so = _sos(db)[0]
    assert so.state == "placed"  # the rest is still to come
    with db.read() as s:
        sh = s.scalars(select(Shipment)).one()
    assert sh.handed_over_at is not None and sh.handed_over_at < sh.created_at  # the supplier's own send time
    fake.parcels["R0001"].append(SupplierParcel("yuantong", "圆通", "YT0000000000002", ["610002:bb"]))
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=22), tick=False):
        h.stage("collect")
        h.stage("collect")
        h.stage("writeback")
    assert [p[0] for p in h.shop.ship_calls] == ["5008", "5008"]
    assert _sos(db)[0].state == "shipped" and _order(db, "5008").state == "shipped"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 2


def test_follow_given_an_unknown_carrier_holds_the_order_and_never_guesses(hs, db):
    h, fake = hs
    _route(h, ("5009", ("SKU-X",)))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel(None, "火星快递", "MX123456789", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("collect")
        h.stage("writeback")
    o = _order(db, "5009")
    assert (o.state, o.hold_reason) == ("held", "tracking_rejected") and "火星快递" in (o.last_error or "") + \
        _hold_detail(db, o.id)
    assert h.shop.ship_calls == []


def _hold_detail(db: Database, order_id: int) -> str:
    from syncd.store.models import Hold

    with db.read() as s:
        return " ".join(s.scalars(select(Hold.detail).where(Hold.order_id == order_id)))


def test_cancel_given_a_refund_while_unpaid_cancels_at_the_supplier_and_the_order_ends_cancelled(hs, db):
    h, fake = hs
    fake.unpaid = True
    _route(h, ("5010", ("SKU-X",)))
    h.stage("forward")
    so = _sos(db)[0]
    assert (so.state, so.paid) == ("placed", False)
    h.shop.refunds.append(RefundEvent("5010", None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("forward")
    so = _sos(db)[0]
    assert (so.state, so.cancel_state) == ("cancelled", "cancelled") and fake.cancels == ["R0001"]
    assert _order(db, "5010").state == "cancelled"


def test_cancel_given_the_supplier_can_no_longer_stop_it_flags_it_for_a_person(hs, db):
    h, fake = hs
    fake.cancel_answer = CancelOutcome.TOO_LATE
    _route(h, ("5011", ("SKU-X",)))
    h.stage("forward")
    h.shop.refunds.append(RefundEvent("5011", None, RefundState.REQUESTED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("forward")
    h.stage("forward")
    so = _sos(db)[0]
    assert (so.state, so.cancel_state, so.cancel_detail) == ("placed", "too_late", "paid already")
    assert fake.cancels == ["R0001"]


def test_cancel_given_an_order_already_shipped_by_the_supplier_flags_it_without_calling(hs, db):
    h, fake = hs
    _route(h, ("5012", ("SKU-X",)))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "75310000000012", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("collect")
        h.shop.refunds.append(RefundEvent("5012", None, RefundState.REFUNDED, clock.now(), "仅退款"))
        h.stage("pull")
        h.stage("forward")
    so = _sos(db)[0]
    assert (so.state, so.cancel_state) == ("shipped", "too_late") and fake.cancels == []


def test_reship_places_a_new_linked_supplier_order_marked_as_reship(hs, db):
    h, fake = hs
    _route(h, ("5013", ("SKU-X", "SKU-Y")))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "75310000000013", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("collect")
        h.stage("writeback")
    assert _order(db, "5013").state == "shipped"
    new_id = reship(h.rt, _order(db, "5013").id, sku="SKU-Y", qty=1, who="test")
    h.stage("forward")
    sos = _sos(db)
    assert len(sos) == 2 and sos[1].id == new_id
    assert (sos[1].kind, sos[1].reship_of, sos[1].state) == ("reship", sos[0].id, "placed")
    assert sos[1].idempotency_key != sos[0].idempotency_key
    req = fake.requests[-1]
    assert (req.kind, req.original_key) == ("reship", sos[0].idempotency_key)
    assert [(ln.supplier_sku, ln.quantity) for ln in req.lines] == [("610002:bb", 2)]  # 1 storefront unit × 2
    with pytest.raises(RejectedError):
        reship(h.rt, _order(db, "5013").id, sku="NOPE", qty=1, who="test")


def test_apply_status_given_the_same_push_twice_records_each_parcel_once(hs, db):
    h, _ = hs
    _route(h, ("5014", ("SKU-X",)))
    h.stage("forward")
    so = _sos(db)[0]
    status = SupplierOrderStatus("R0001", SupplierOrderPhase.SHIPPED,
                                 [SupplierParcel("shentong", "申通", "773000000014", None)])
    for _ in range(2):
        with db.begin() as s:
            apply_status(h.rt, s, API, so.id, status, source="push")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
    assert _sos(db)[0].state == "shipped"


def test_route_given_a_bundle_orders_each_component_and_ships_the_storefront_line_once(db, tmp_path):
    from syncd.config.models import Component

    h, fake = _build(db, tmp_path, {"SKU-X": Route(sku="SKU-X", supplier=API, components=[
        Component(supplier_sku="610001:aa", multiplier=1), Component(supplier_sku="610009:cc", multiplier=3)])})
    _route(h, ("5015", ("SKU-X",)))
    h.stage("forward")
    assert [(ln.supplier_sku, ln.quantity) for ln in fake.requests[0].lines] == [("610001:aa", 1), ("610009:cc", 3)]
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "75310000000015", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("collect")
        h.stage("writeback")
    ((pid, parcels, whole),) = h.shop.ship_calls
    assert (pid, whole) == ("5015", True)
    assert [(ln.platform_line_id, ln.quantity) for ln in parcels[0].lines] == [("5015-1", 1)]


def test_place_given_a_claim_that_lapsed_mid_batch_never_sends_what_another_replica_took(hs, db):
    import dataclasses

    from syncd.stages import supplier_api as sa

    h, fake = hs
    _route(h, ("5021", ("SKU-X",)))
    now = clock.now()
    with db.begin() as s:  # replica A claims, then is slow to reach this order (a long batch)
        (work,) = sa._claim(h.rt, s, API, now, SupplierOrder.state == "pending", 10)
    receiver = h.rt.receivers.decrypt(h.rt, list(sa._orders(h.rt, {work.order_id}).values()))[work.order_id]
    replica_b = dataclasses.replace(h.rt, holder="replica-b")
    with time_machine.travel(now + timedelta(seconds=h.rt.config.global_.claim_seconds + 1), tick=False):
        assert sa.place_orders(replica_b, API, fake) == 1  # B takes the lapsed claim and places the order
        assert sa._place_one(h.rt, API, fake, work, receiver) == 0  # A comes back to it: hands off
    assert len(fake.requests) == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "place_order", AuditEntry.outcome == "intent")) == 1


def test_place_given_a_backlog_another_replica_places_what_the_first_has_not_claimed_while_it_works(hs, db):
    import dataclasses

    h, fake = hs
    _route(h, *((str(6000 + i), ("SKU-X",)) for i in range(sa.PLACE_BATCH)))  # one run's whole batch waiting
    replica_b = dataclasses.replace(h.rt, holder="replica-b")
    placed_by_b: list[int] = []
    check = fake.check_stock

    def slow_check(request: SupplierOrderRequest) -> StockAnswer | None:
        with fake.lock:
            first = not placed_by_b
            if first:
                placed_by_b.append(-1)
        if first:  # replica A's first call is in flight (it holds its first claim): replica B's run comes meanwhile
            placed_by_b[0] = sa.place_orders(replica_b, API, fake)
        return check(request)

    fake.check_stock = slow_check  # type: ignore[method-assign]
    placed_by_a = sa.place_orders(h.rt, API, fake)
    assert placed_by_b[0] > 0 and placed_by_a + placed_by_b[0] == sa.PLACE_BATCH  # shared, not waited for
    assert {so.state for so in _sos(db)} == {"placed"}
    assert sorted(len(refs) for refs in fake.orders.values()) == [1] * sa.PLACE_BATCH  # each order once


def test_place_given_a_claims_creates_still_on_their_way_checks_the_next_claims_orders_meanwhile(hs, db):
    """The creates of a claim's last piece are sent while the run's next claim is checked (one lane of creates for
    the whole run): waiting for them before the next claim cost 1688 two seconds of every five in the two-replica
    bench. Every order is still created once."""
    h, fake = hs
    pids = [str(6600 + i) for i in range(sa.PLACE_CLAIM * 2)]  # a run's two claims
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    second_checked = threading.Event()
    waited: list[bool] = []
    check, place = fake.check_stock, fake.place

    def check_stock(request: SupplierOrderRequest) -> StockAnswer | None:
        if request.platform_order_id in pids[sa.PLACE_CLAIM:]:
            second_checked.set()
        return check(request)

    def slow_place(request: SupplierOrderRequest) -> PlacedOrder:
        if request.platform_order_id in pids[:sa.PLACE_CLAIM] and not waited:
            waited.append(second_checked.wait(20))  # the first claim's create answers once the next is checked
        return place(request)

    fake.check_stock, fake.place = check_stock, slow_place  # type: ignore[method-assign]
    assert sa.place_orders(h.rt, API, fake) == len(pids)
    assert waited and all(waited)  # (up to IN_FLIGHT creates waited at once)
    assert {_order(db, pid).state for pid in pids} == {"placed"}
    assert sorted(len(refs) for refs in fake.orders.values()) == [1] * len(pids)
    assert all(so.claimed_by is None for so in _sos(db))


def test_place_given_an_order_whose_check_failed_for_now_leaves_it_to_the_next_run(hs, db):
    h, fake = hs
    _route(h, *((str(6100 + i), ("SKU-X",)) for i in range(sa.PLACE_BATCH)))
    first = _keys(db)["6100"].idempotency_key
    fake.garble[("check_stock", first)] = [TransientError("fakeapi preview: timed out")]
    assert sa.place_orders(h.rt, API, fake) == sa.PLACE_BATCH - 1
    assert fake.stock_checks == sa.PLACE_BATCH  # the run's next claim did not take it again
    assert first not in fake.orders
    sa.place_orders(h.rt, API, fake)
    assert fake.orders[first] and fake.created() == sa.PLACE_BATCH


# ---- one garbled answer in the middle of a batch --------------------------------------------------------------

BATCH = ("5201", "5202", "5203")


def _keys(db: Database) -> dict[str, SupplierOrder]:
    with db.read() as s:
        return {pid: so for pid, so in s.execute(select(Order.platform_order_id, SupplierOrder)
                                                 .join(Order, Order.id == SupplierOrder.order_id))}


def test_place_given_a_garbled_answer_to_the_middle_order_places_the_others_and_finds_it_later(hs, db):
    h, fake = hs
    _route(h, *((pid, ("SKU-X",)) for pid in BATCH))
    middle = _keys(db)["5202"]
    fake.garble[("place", middle.idempotency_key)] = [ProtocolError("fakeapi createOrder: answer is not JSON")]
    h.stage("forward")
    sos = _keys(db)
    assert {pid: so.state for pid, so in sos.items()} == {"5201": "placed", "5202": "placing", "5203": "placed"}
    assert sos["5202"].faults == 1 and "ProtocolError" in (sos["5202"].last_error or "")
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        h.stage("forward")
    assert {so.state for so in _keys(db).values()} == {"placed"}
    assert fake.created() == 3 and len(fake.requests) == 3  # found by its key: never sent twice
    assert _keys(db)["5202"].faults == 0


def test_place_given_an_unexpected_error_on_the_middle_order_places_the_others_and_holds_it_in_the_end(hs, db):
    h, fake = hs
    _route(h, *((pid, ("SKU-X",)) for pid in BATCH))
    fake.stock = {"610001:aa": 99}
    middle = _keys(db)["5202"]
    fake.garble[("check_stock", middle.idempotency_key)] = [KeyError("amount") for _ in range(50)]
    at = clock.now()
    for _ in range(sa.MAX_FAULTS):
        with time_machine.travel(at, tick=False):
            h.stage("forward")
        at += sa.MAX_FAULT_WAIT
    sos = _keys(db)
    assert {pid: so.state for pid, so in sos.items()} == {"5201": "placed", "5202": "pending", "5203": "placed"}
    assert fake.created() == 2
    assert (_order(db, "5202").state, _order(db, "5202").hold_reason) == ("held", "supplier_rejected")
    assert "could not be read 5 times" in _hold_detail(db, _order(db, "5202").id)


def test_status_given_several_placed_orders_keeps_in_flight_questions_going_at_once(hs, db):
    h, fake = hs
    pids = [f"54{i:02d}" for i in range(sa.IN_FLIGHT + 2)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    h.stage("forward")
    for ref in list(fake.phase):
        fake.parcels[ref] = [SupplierParcel("zhongtong", "中通", f"ZT{ref}", None)]
        fake.phase[ref] = SupplierOrderPhase.SHIPPED
    together, met, fake.before_status = _first_calls_meet(fake)
    with time_machine.travel(clock.now() + timedelta(hours=1), tick=False):
        h.stage("collect")
    assert not together.broken and met[0] == len(pids)
    assert {so.state for so in _sos(db)} == {"shipped"}


def test_status_given_an_unexpected_error_on_the_middle_order_records_the_others_parcels(hs, db):
    h, fake = hs
    _route(h, *((pid, ("SKU-X",)) for pid in BATCH))
    h.stage("forward")
    sos = _keys(db)
    for i, pid in enumerate(BATCH):
        ref = sos[pid].supplier_ref
        assert ref is not None
        fake.parcels[ref] = [SupplierParcel("zhongtong", "中通", f"ZT52000{i}0", None)]
        fake.phase[ref] = SupplierOrderPhase.SHIPPED
    fake.garble[("status", sos["5202"].idempotency_key)] = [TypeError("'NoneType' object is not subscriptable")]
    with time_machine.travel(clock.now() + timedelta(hours=1), tick=False):
        h.stage("collect")
    with db.read() as s:
        tracked = set(s.scalars(select(Order.platform_order_id).join(Shipment, Shipment.order_id == Order.id)))
    assert tracked == {"5201", "5203"}
    assert _keys(db)["5202"].faults == 1
    with time_machine.travel(clock.now() + timedelta(hours=2), tick=False):
        h.stage("collect")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 3


def test_cancel_given_a_garbled_answer_to_the_middle_cancel_cancels_the_others_and_reads_it_back(hs, db):
    h, fake = hs
    fake.unpaid = True
    _route(h, *((pid, ("SKU-X",)) for pid in BATCH))
    h.stage("forward")
    middle = _keys(db)["5202"]
    fake.garble[("cancel", middle.idempotency_key)] = [ProtocolError("fakeapi cancelOrder: truncated JSON")]
    for pid in BATCH:
        h.shop.refunds.append(RefundEvent(pid, None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("forward")
    sos = _keys(db)
    assert {pid: so.cancel_state for pid, so in sos.items()} == {
        "5201": "cancelled", "5202": "requested", "5203": "cancelled"}
    with time_machine.travel(clock.now() + timedelta(minutes=5), tick=False):
        h.stage("forward")
    assert {so.cancel_state for so in _keys(db).values()} == {"cancelled"}
    assert sorted(fake.cancels) == ["R0001", "R0002", "R0003"]  # read back: the garbled cancel is not sent again
    assert {_order(db, pid).state for pid in BATCH} == {"cancelled"}


def test_place_given_one_shop_failing_to_decrypt_places_the_other_shops_orders_and_keeps_its_own(hs, db):
    h, fake = hs
    other = FakeStorefront()
    h.rt.storefronts["shop2"] = other
    h.rt.config.shops["shop2"] = h.rt.config.shops["shop1"].model_copy(update={"id": "shop2"})
    h.shop.put(make_order("5301", _ago(5), skus=("SKU-X",)))
    other.put(make_order("5302", _ago(5), skus=("SKU-X",)))
    h.stage("pull")
    h.stage("route")
    real = h.shop.decrypt
    h.shop.decrypt = lambda refs: (_ for _ in ()).throw(ProtocolError("order.batchDecrypt: answer is not JSON"))
    h.stage("forward")
    sos = _keys(db)
    assert (sos["5301"].state, sos["5302"].state) == ("pending", "placed")
    assert sos["5301"].faults == 1 and "decrypting the receiver" in (sos["5301"].last_error or "")
    assert _order(db, "5301").state == "routed"  # not held as an incomplete address: nothing is wrong with it
    h.shop.decrypt = real  # type: ignore[method-assign]
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        h.stage("forward")
    assert _keys(db)["5301"].state == "placed" and fake.created() == 2


def _fallback_after_export(db: Database, tmp_path: Path, pid: str) -> tuple[Harness, FakeApiSupplier]:
    """An order with a line for the API supplier (fallback beta) and one for beta: beta exports its share while
    the API supplier is under flow control; the API supplier then answers that its line is out of stock."""
    h, fake = _build(db, tmp_path, {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", fallback_supplier="beta",
                       fallback_sku="B-X")})
    _route(h, (pid, ("SKU-X", "SKU-B")))
    fake.flow_control = True
    h.stage("forward")
    assert [(so.supplier_id, so.state) for so in _sos(db)] == [(API, "pending"), ("beta", "placed")]
    fake.flow_control = False
    fake.stock = {"610001:aa": 0}
    return h, fake


def test_fallback_to_a_file_supplier_that_already_exported_the_order_holds_it_instead_of_a_second_order(db, tmp_path):
    h, fake = _fallback_after_export(db, tmp_path, "5027")
    h.stage("forward")
    h.stage("forward")
    # beta received the order once: a second file under the same order number would be a second order there,
    # and its reply could not be told apart from the first one's
    assert [r["商品编码"] for r in h.exported_rows("beta")] == ["B-1"]
    assert [(so.supplier_id, so.kind, so.state) for so in _sos(db)] == [(API, "normal", "pending"),
                                                                       ("beta", "normal", "placed")]
    o = _order(db, "5027")
    assert (o.state, o.hold_reason) == ("held", "out_of_stock")
    with db.read() as s:
        detail = s.scalar(select(Hold.detail).where(Hold.order_id == o.id, Hold.released_at.is_(None)))
    assert detail is not None and "beta" in detail and "610001:aa" in detail
    fake.stock = {"610001:aa": 3}  # back in stock at the first supplier: the re-check places it there
    with time_machine.travel(clock.now() + timedelta(minutes=11), tick=False):
        h.stage("route")
        h.stage("forward")
    assert [(so.supplier_id, so.state) for so in _sos(db)] == [(API, "placed"), ("beta", "placed")]
    assert fake.created() == 1 and _order(db, "5027").state == "placed"
    assert [r["商品编码"] for r in h.exported_rows("beta")] == ["B-1"]


def test_fallback_of_a_second_line_to_the_same_api_supplier_gets_its_own_key(db, tmp_path):
    h, fake = _build(db, tmp_path, {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", fallback_supplier="ali2",
                       fallback_sku="F-X"),
        "SKU-Y": Route(sku="SKU-Y", supplier=API, supplier_sku="610002:bb", fallback_supplier="ali2",
                       fallback_sku="F-Y")})
    second = FakeApiSupplier()
    h.rt.api_suppliers["ali2"] = second
    h.rt.config.suppliers["ali2"] = SupplierConfigBase(id="ali2", kind="fakeapi", ship_within_hours=24)
    _route(h, ("5028", ("SKU-X", "SKU-Y")))
    fake.stock = {"610001:aa": 0, "610002:bb": 9}
    h.stage("forward")  # SKU-X falls back to ali2, which places it at once; SKU-Y waits for the next run
    assert second.created() == 1
    fake.stock = {"610001:aa": 0, "610002:bb": 0}  # ... by which SKU-Y has run out too
    report = h.stage("forward")
    h.stage("forward")
    assert report.ok, report.failures
    keys = [so.idempotency_key for so in _sos(db) if so.supplier_id == "ali2"]
    assert len(keys) == len(set(keys)) == 2 and second.created() == 2
    assert _order(db, "5028").state == "placed"


# ---- batched transactions -------------------------------------------------------------------------------------


def _statements(db: Database, run) -> int:
    before = db.statements.count
    run()
    return db.statements.count - before


@pytest.mark.parametrize("unpaid", [False, True])
def test_place_and_follow_cost_the_same_statements_for_twenty_orders_as_for_two(db, tmp_path, unpaid):
    """Intents, outcomes, payments and status answers are each one transaction per batch, not one per order."""
    counts = []
    for n, base in ((2, 5300), (20, 5400)):
        h, fake = _build(db, tmp_path / str(n))
        fake.unpaid = unpaid
        fake.pay = lambda placed: PlacedOrder(placed.supplier_ref, paid=True)  # type: ignore[method-assign]
        _route(h, *((str(base + i), ("SKU-X",)) for i in range(n)))
        placing = _statements(db, lambda: h.stage("forward"))  # noqa: B023 - run at once
        refs = [so.supplier_ref for so in _sos(db) if so.supplier_ref]
        for i, ref in enumerate(refs):
            fake.parcels[ref] = [SupplierParcel("zhongtong", "中通", f"ZT{base + i:08d}", None)]
            fake.phase[ref] = SupplierOrderPhase.SHIPPED
        with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
            following = _statements(db, lambda: h.stage("collect"))  # noqa: B023 - run at once
        counts.append((placing, following))
        assert fake.created() == n
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 22
        assert s.scalar(select(func.count()).select_from(SupplierOrder).where(SupplierOrder.state == "shipped")) == 22
        if unpaid:
            assert s.scalar(select(func.count()).select_from(SupplierOrder).where(SupplierOrder.paid)) == 22
    assert counts[1] == counts[0], counts


@pytest.mark.parametrize("fallback", [True, False])
def test_place_given_short_stock_costs_the_same_statements_for_twenty_orders_as_for_two(db, tmp_path, fallback):
    """Short answers of a batch (fallback or hold) are recorded in one transaction, not one per order."""
    counts = []
    for n, base in ((2, 5500), (20, 5600)):
        route = Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa",
                      **({"fallback_supplier": "beta", "fallback_sku": "B-X"} if fallback else {}))
        h, fake = _build(db, tmp_path / str(n), {"SKU-X": route})
        fake.stock = {"610001:aa": 0}
        _route(h, *((str(base + i), ("SKU-X",)) for i in range(n)))
        counts.append(_statements(db, lambda: h.stage("forward")))  # noqa: B023 - run at once
        pids = [str(base + i) for i in range(n)]
        if fallback:
            assert sorted(r["订单号"] for r in h.exported_rows("beta")) == pids
        else:
            assert {_order(db, pid).hold_reason for pid in pids} == {"out_of_stock"}
        assert fake.created() == 0
    assert counts[1] == counts[0], counts


def test_place_given_a_batch_wanting_more_than_the_stock_holds_the_rest_instead_of_sending_it(hs, db):
    """Every check of a batch is answered before the first order goes out: the orders checked earlier in the batch
    take their share, so the last units go to the first orders and the others wait for stock, none is refused."""
    h, fake = hs
    fake.stock = {"610001:aa": 2}
    _route(h, ("5101", ("SKU-X",)), ("5102", ("SKU-X",)), ("5103", ("SKU-X",)))
    h.stage("forward")
    states = sorted((o.state, o.hold_reason) for o in (_order(db, pid) for pid in ("5101", "5102", "5103")))
    assert states == [("held", "out_of_stock"), ("placed", None), ("placed", None)]
    assert fake.created() == 2


def test_taken_counts_an_order_until_its_create_is_answered_and_knows_when_an_answer_may_show_one_on_its_way():
    """The stock orders of a claim will take: subtracted from every check asked before their create was answered;
    an answer made short only by an order on its way is 'unsure' (the supplier may show it already)."""
    taken = sa._Taken()
    want = StockAnswer([StockLine("S", 1, 2)])
    first, second = taken.now(), taken.now()
    taken.add(1, want)  # order 1 passed its check; order 2 too
    taken.add(2, want)
    assert taken.less(want, taken.now()).lines[0].available == 0 and not taken.unsure  # neither sent yet
    taken.handed([1])
    on_its_way = taken.now()
    assert taken.less(want, on_its_way).lines[0].available == 0 and taken.unsure  # 1 may be in the answer
    taken.placed(1)
    after = taken.now()
    assert taken.less(want, after).lines[0].available == 1 and not taken.unsure  # 1 is in the answer now
    assert taken.less(want, first).lines[0].available == 0  # an answer asked before: 1 is not in it
    assert taken.less(StockAnswer([StockLine("T", 1, 1)]), second).lines[0].available == 1  # another SKU
    assert taken.less(StockAnswer([StockLine("S", 1, 0)]), on_its_way).short() and not taken.unsure  # short anyway


def test_place_given_checks_slower_than_the_hand_over_sends_checked_orders_while_the_rest_are_checked_and_places_exactly_the_stock(  # noqa: E501
        hs, db, monkeypatch):
    """1688 checks each order with a preview call (5 a second): the orders checked go to the supplier while the next
    are checked. A check answered while an earlier order's create was on its way may or may not show it: when
    counting it makes the answer short, the check is asked again once the create is answered — the last units go
    to orders, none is held for stock the supplier has, none is refused."""
    h, fake = hs
    monkeypatch.setattr(sa, "HAND_OVER", 0.0)  # every order checked goes to the sender as soon as it is free
    fake.stock = {"610001:aa": 2}
    created_first = threading.Event()
    second_checked = threading.Event()
    seen: dict[str, bool] = {}

    def after_place(request: SupplierOrderRequest) -> None:
        if request.platform_order_id == "5401":
            created_first.set()  # 5401 is created at the supplier (its stock shows it), its answer not yet in
            seen["answered after the next check"] = second_checked.wait(20)

    check = fake.check_stock

    def check_stock(request: SupplierOrderRequest) -> StockAnswer | None:
        if request.platform_order_id == "5402" and "overlap" not in seen:
            seen["overlap"] = created_first.wait(20)  # asked while 5401's create is out: both at once
            try:
                return check(request)
            finally:
                second_checked.set()
        return check(request)

    fake.after_place, fake.check_stock = after_place, check_stock  # type: ignore[method-assign]
    _route(h, ("5401", ("SKU-X",)), ("5402", ("SKU-X",)), ("5403", ("SKU-X",)))
    h.stage("forward")
    assert seen == {"overlap": True, "answered after the next check": True}
    states = {pid: (_order(db, pid).state, _order(db, pid).hold_reason) for pid in ("5401", "5402", "5403")}
    assert states == {"5401": ("placed", None), "5402": ("placed", None), "5403": ("held", "out_of_stock")}
    assert fake.created() == 2 and fake.stock == {"610001:aa": 0}


def _checks_meet(fake: FakeApiSupplier) -> threading.Barrier:
    """The fake's first IN_FLIGHT stock checks meet at a barrier: asked one after another, the first waits alone
    and breaks it."""
    together, _met, before = _first_calls_meet(fake)
    check = fake.check_stock

    def check_stock(request: SupplierOrderRequest) -> StockAnswer | None:
        before(request)
        return check(request)

    fake.check_stock = check_stock  # type: ignore[method-assign]
    return together


def test_place_given_slow_stock_checks_keeps_the_next_orders_checks_on_their_way_at_once(hs, db):
    """1688's preview is one call per order: asked one after another at 0.25 s an answer, a claim checked four orders
    a second where the budget is five, and its creates and payments waited behind the checks. The next orders'
    checks go on while one answer is read."""
    h, fake = hs
    pids = [f"57{i:02d}" for i in range(sa.IN_FLIGHT + 2)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    together = _checks_meet(fake)
    h.stage("forward")
    assert not together.broken
    assert fake.stock_checks == len(pids) and fake.created() == len(pids)
    assert {_order(db, pid).state for pid in pids} == {"placed"}


def test_place_given_checks_on_their_way_at_once_still_gives_the_last_units_to_the_first_orders(hs, db):
    """Every check of the claim asked before any answer is read, each answering that two units are left: the answers
    are read in the orders' turn, each less what the orders before it take, so two orders go and the others wait
    for stock; none is sent to be refused."""
    h, fake = hs
    fake.stock = {"610001:aa": 2}
    pids = [f"58{i:02d}" for i in range(sa.IN_FLIGHT)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    together = _checks_meet(fake)
    h.stage("forward")
    assert not together.broken
    states = [(_order(db, pid).state, _order(db, pid).hold_reason) for pid in pids]
    assert states == [("placed", None)] * 2 + [("held", "out_of_stock")] * (len(pids) - 2)
    assert len(fake.requests) == 2 and fake.stock == {"610001:aa": 0}


def test_place_given_unpaid_orders_keeps_their_payments_going_at_once_and_stops_starting_them_after_a_timeout(
        hs, db):
    """1688 creates an order unpaid and syncd pays it (preparePay), one call per order: one after another at 0.25 s
    an answer, a run's fifty payments held the supplier's next claims for twelve seconds. The payments timing out
    leave their orders unpaid (paid at a later status check); the answers of the others are recorded."""
    h, fake = hs
    fake.unpaid = True
    pids = [f"59{i:02d}" for i in range(sa.IN_FLIGHT + 3)]
    _route(h, *((pid, ("SKU-X",)) for pid in pids))
    together, _met, before = _first_calls_meet(fake)
    calls: list[str] = []

    def pay(order: PlacedOrder) -> PlacedOrder:
        before(order)
        with fake.lock:
            calls.append(order.supplier_ref)
            late = len(calls) > sa.IN_FLIGHT
        if late:
            raise TransientError("fakeapi preparePay: timed out", code="timeout")
        fake.phase[order.supplier_ref] = SupplierOrderPhase.ACCEPTED
        return PlacedOrder(order.supplier_ref, paid=True)

    fake.pay = pay  # type: ignore[method-assign]
    h.stage("forward")
    assert not together.broken
    assert fake.created() == len(pids) and {so.state for so in _sos(db)} == {"placed"}
    assert sum(so.paid for so in _sos(db)) == sa.IN_FLIGHT  # the first four at once; the others timed out


@pytest.mark.parametrize("fallback", [False, True])
def test_place_given_the_supplier_refusing_an_order_for_want_of_stock_holds_it_out_of_stock_or_falls_back(
        db, tmp_path, fallback):
    """1688's preview says only whether an order alone can be supplied: two orders for the last unit both pass, and
    the second create is refused (500_006 库存不足). Nothing was created: the order stands as after a short check —
    held out of stock and checked again (not 'supplier rejected', which waits for a person), or its line goes to
    the route's fallback supplier."""
    route = Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa",
                  **({"fallback_supplier": "beta", "fallback_sku": "B-X"} if fallback else {}))
    h, fake = _build(db, tmp_path, {"SKU-X": route})
    fake.stock, fake.blind_checks = {"610001:aa": 1}, True
    _route(h, ("5501", ("SKU-X",)), ("5502", ("SKU-X",)))
    h.stage("forward")
    assert fake.created() == 1 and len(fake.requests) == 2
    first, second = _order(db, "5501"), _order(db, "5502")
    assert first.state == "placed"
    sos = {so.order_id: so for so in _sos(db) if so.supplier_id == API}
    assert sos[second.id].claimed_by is None
    if fallback:  # its line left for the fallback: the API supplier's order stands cancelled, nothing created
        assert sos[second.id].state == "cancelled"
        h.stage("forward")
        assert [r["订单号"] for r in h.exported_rows("beta")] == ["5502"]
        assert _order(db, "5502").state == "placed" and _order(db, "5502").hold_reason is None
    else:
        assert (second.state, second.hold_reason) == ("held", "out_of_stock")
        with db.read() as s:
            hold = s.scalars(select(Hold).where(Hold.order_id == second.id)).one()
        assert hold.auto and "库存不足" in hold.detail


@dataclass
class FakeBatchStockSupplier(FakeApiSupplier):
    """Answers for the stock of a whole batch in one call, like a webhook supplier (or cannot, when ``batch_fails``)."""

    batch_checks: list[int] = field(default_factory=list)  # orders asked about, per batch call
    batch_fails: bool = False

    def check_stock_batch(self, orders: Sequence[Sequence[SupplierLine]]) -> list[StockAnswer] | None:
        self.batch_checks.append(len(orders))
        if self.batch_fails or not self.stock:
            return None
        return [StockAnswer([StockLine(ln.supplier_sku, ln.quantity, self.stock.get(ln.supplier_sku))
                             for ln in lines]) for lines in orders]


@pytest.mark.parametrize("batch_fails", [False, True])
def test_place_given_a_supplier_answering_for_a_batch_asks_once_and_still_counts_what_earlier_orders_take(
        db, tmp_path, batch_fails):
    """One stock call for the claim's orders where the supplier can answer for them all (the webhook supplier's
    POST stock); the orders checked earlier in the batch still take their share. When that call cannot answer,
    each order is asked about alone, as before."""
    h, _ = _build(db, tmp_path)
    fake = FakeBatchStockSupplier(stock={"610001:aa": 2}, batch_fails=batch_fails)
    h.rt.api_suppliers[API] = fake
    _route(h, ("5201", ("SKU-X",)), ("5202", ("SKU-X",)), ("5203", ("SKU-X",)))
    h.stage("forward")
    states = sorted((o.state, o.hold_reason) for o in (_order(db, pid) for pid in ("5201", "5202", "5203")))
    assert states == [("held", "out_of_stock"), ("placed", None), ("placed", None)]
    assert fake.created() == 2
    assert fake.batch_checks == [3]
    assert fake.stock_checks == (3 if batch_fails else 0)


def test_place_stopped_at_its_batch_limit_says_more_is_waiting_and_a_run_that_emptied_the_queue_does_not(hs, db):
    h, fake = hs
    _route(h, *((str(6300 + i), ("SKU-X",)) for i in range(sa.PLACE_BATCH + 3)))
    told: list[bool] = []
    assert sa.place_orders(h.rt, API, fake, on_more=lambda: told.append(True)) == sa.PLACE_BATCH
    assert told == [True]  # the daemon runs forward again at once (syncd.daemon._Wakes)
    assert sa.place_orders(h.rt, API, fake, on_more=lambda: told.append(True)) == 3
    assert told == [True]


def test_forward_given_one_api_supplier_stuck_places_the_others_orders_and_leaves_it_to_finish_in_its_worker(
        db, tmp_path):
    """A 1688 account waiting out its budget (here: a create that does not answer) holds up no other supplier: the
    scheduled forward run stops waiting for it after a share of its interval, the webhook supplier's orders are
    placed, and the stuck one finishes its claim in the stage's pool when its answer comes."""
    from syncd.stages.runner import SCHEDULED

    h, stuck = _build(db, tmp_path, routes={
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa"),
        "SKU-Y": Route(sku="SKU-Y", supplier="hook", supplier_sku="HK-1")})
    other = FakeApiSupplier()
    h.rt.api_suppliers["hook"] = other
    h.rt.config.suppliers["hook"] = SupplierConfigBase(id="hook", kind="fakeapi", ship_within_hours=24)
    g = h.rt.config.global_
    h.rt.config.global_ = g.model_copy(update={"intervals": g.intervals.model_copy(update={"forward": 0.5})})
    answer = threading.Event()
    stuck.before_place = lambda request: answer.wait(30)
    _route(h, ("5301", ("SKU-X",)), ("5302", ("SKU-Y",)))
    token = SCHEDULED.set(True)
    try:
        h.stage("forward")
    finally:
        SCHEDULED.reset(token)
    assert (_order(db, "5302").state, _order(db, "5301").state) == ("placed", "routed")
    answer.set()
    assert h.rt.shop_pools["forward"].wait_idle(30)
    assert _order(db, "5301").state == "placed" and stuck.created() == 1 and other.created() == 1



@dataclass
class _Held:
    """An adapter method held until the test opens the gate (15 s at most, should it never): ``started`` when
    called, ``done`` when the real method has returned."""

    started: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any) -> Any:
            self.started.set()
            self.gate.wait(15)
            try:
                return real(*args)
            finally:
                self.done.set()
        return held


def _every(h: Harness, stage: str, seconds: float) -> None:
    """The stage's interval, which a scheduled run waits a share of for its scopes."""
    g = h.rt.config.global_
    h.rt.config.global_ = g.model_copy(update={"intervals": g.intervals.model_copy(update={stage: seconds})})


def _drain(h: Harness) -> None:
    """What the runs left in the stages' pools ends before the test's database closes."""
    for pool in h.rt.shop_pools.values():
        pool.pool.shutdown(wait=True)

def test_forward_given_a_slow_drop_folder_export_a_scheduled_run_leaves_it_in_the_pool(db, tmp_path, monkeypatch):
    """A big batch's export (its receivers read from every shop, a slow one's at its pace) took 20 s in a fifty-shop
    run, and the stage's own thread with it: no API supplier could start its next run. The export now finishes in
    the stage's pool; the scheduled run returns after its share of the interval and the next one places again."""
    from syncd.stages.runner import SCHEDULED

    h, fake = _build(db, tmp_path, {
        "SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa"),
        "SKU-Z": Route(sku="SKU-Z", supplier="beta", supplier_sku="B-Z")})
    _every(h, "forward", 0.05)
    beta = h.rt.suppliers["beta"]
    export = _Held()
    monkeypatch.setattr(beta, "write_batch", export.wrap(beta.write_batch))
    placed = {pid: threading.Event() for pid in ("5202", "5203")}
    fake.after_place = lambda request: placed[request.platform_order_id].set()
    _route(h, ("5201", ("SKU-Z",)), ("5202", ("SKU-X",)))
    token = SCHEDULED.set(True)
    try:
        h.stage("forward")  # 5202 goes to the API supplier; 5201's export starts and blocks
        assert export.started.wait(10) and placed["5202"].wait(10)
        assert not export.done.is_set()  # the run came back while the export was blocked
        h.shop.put(make_order("5203", clock.now(), skus=("SKU-X",)))  # after the pull's cursor: read next pull
        h.stage("pull")
        h.stage("route")
        runs = 0
        while not placed["5203"].is_set() and runs < 50:  # the API supplier's last run may still be finishing
            h.stage("forward")  # beta is still at work: not started twice
            runs += 1
            placed["5203"].wait(0.2)
        assert placed["5203"].is_set() and not export.done.is_set()  # placed while the export was still blocked
    finally:
        SCHEDULED.reset(token)
        export.gate.set()
        _drain(h)
    assert export.done.is_set()
    assert [r["订单号"] for r in h.exported_rows("beta")] == ["5201"]
    assert _order(db, "5201").state == "placed"


def test_collect_given_a_slow_reply_import_a_scheduled_run_follows_the_api_suppliers_meanwhile(db, tmp_path,
                                                                                                monkeypatch):
    """The same in collect: a big reply file being imported holds up no API supplier's status checks."""
    from syncd.stages.runner import SCHEDULED

    h, fake = _build(db, tmp_path)
    _every(h, "collect", 0.05)
    _route(h, ("5301", ("SKU-X",)))
    h.stage("forward")
    fake.parcels["R0001"] = [SupplierParcel("zhongtong", "中通", "ZT5301", None)]
    fake.phase["R0001"] = SupplierOrderPhase.SHIPPED
    beta = h.rt.suppliers["beta"]
    reading = _Held()
    monkeypatch.setattr(beta, "parse_inbox", reading.wrap(beta.parse_inbox))
    asked_while_parsing: list[bool] = []
    fake.before_status = lambda ref: asked_while_parsing.append(reading.started.is_set() and not reading.done.is_set())
    h.reply("beta", "r.csv", [("9999", "中通", "ZT9999")])
    token = SCHEDULED.set(True)
    try:
        with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
            h.stage("collect")
            assert reading.started.wait(10)
            runs = 0
            while _sos(db)[0].state != "shipped" and runs < 50:  # its last run may still be finishing
                h.stage("collect")
                runs += 1
                reading.gate.wait(0.1)
            assert _sos(db)[0].state == "shipped" and asked_while_parsing[-1]  # followed while the import was blocked
    finally:
        SCHEDULED.reset(token)
        reading.gate.set()
        _drain(h)
