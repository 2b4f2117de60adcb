"""The webhook supplier simulator over a real 127.0.0.1 server, driven by the real webhook adapter.

The clock is frozen for both sides (time-machine patches ``time.time``, the simulator's clock) and moved
by hand; nothing sleeps.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from syncd import carriers, clock
from syncd.adapters.sandbox.httpserver import Response, SandboxServer, json_response
from syncd.adapters.sandbox.webhook_supplier_sim import WebhookSupplierSimulator
from syncd.adapters.webhook import PLUGIN, WebhookSupplier, WebhookSupplierConfig
from syncd.adapters.webhook.signing import sign_headers
from syncd.domain import (
    CancelOutcome,
    Receiver,
    StockLine,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
)
from syncd.errors import AuthError, FatalError, RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from syncd.stockmodel import SupplierStock
from tests.fakes import FakeLimiter, FakeTokenStore

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRET = "sandbox-webhook-secret-0123456789"
TRACKING_FORMS = {"zhongtong": r"7531\d{10}", "yuantong": r"YT\d{13}", "yunda": r"43\d{11}",
                  "shunfeng": r"SF\d{13}", "shentong": r"77\d{13}", "jtexpress": r"JT\d{13}"}


class CallbackEndpoint:
    """syncd's callback endpoint, played by a handler that asks the adapter to verify each push."""

    def __init__(self) -> None:
        self.adapter: WebhookSupplier | None = None
        self.accepted: list[tuple[str, Any]] = []
        self.refused: list[str] = []
        self.answer_status: int | None = None
        self.stock: list[SupplierStock] = []

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        if self.answer_status is not None:
            return json_response(self.answer_status, {"error": "down"})
        assert self.adapter is not None
        if path.endswith("/stock"):
            try:
                self.stock += self.adapter.parse_stock_push(headers, body, clock.now())
            except RejectedError as err:
                self.refused.append(str(err))
                return json_response(401, {"error": str(err)})
            return json_response(200, {"ok": True})
        try:
            got = self.adapter.parse_callback(headers, body, clock.now())
        except RejectedError as err:
            self.refused.append(str(err))
            return json_response(401, {"error": str(err)})
        self.accepted.append((json.loads(body)["event_id"], got))
        return json_response(200, {"ok": True})


@dataclass
class Rig:
    sim: WebhookSupplierSimulator
    adapter: WebhookSupplier
    server: SandboxServer
    http: httpx.Client
    waits: list[float]
    frozen: time_machine.Traveller
    receiver: CallbackEndpoint
    ctx: AdapterContext

    def later(self, seconds: float) -> None:
        self.frozen.shift(timedelta(seconds=seconds))

    def adapter_with(self, **changes: Any) -> WebhookSupplier:
        """Another adapter on the same context, its supplier file changed."""
        return build(self.sim, self.server, self.ctx, **changes)


def build(sim: WebhookSupplierSimulator, server: SandboxServer, ctx: AdapterContext,
          **changes: Any) -> WebhookSupplier:
    """The adapter from the simulator's supplier file, as the registry builds it."""
    raw = {**sim.supplier_config(server.url), **changes}
    adapter = PLUGIN.factory(WebhookSupplierConfig.model_validate(raw), ctx)
    assert isinstance(adapter, WebhookSupplier)
    return adapter


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def make_rig(frozen: time_machine.Traveller, tmp_path: Path) -> Iterator[Any]:
    opened: list[tuple[SandboxServer, httpx.Client]] = []

    def make(**kw: Any) -> Rig:
        server = SandboxServer()
        receiver = CallbackEndpoint()
        server.mount("/callbacks", receiver)
        server.start()
        if kw.pop("push", False):
            kw["push_url"] = server.url + "/callbacks/suppliers/webhook-demo"
        if kw.pop("stock_push", False):
            kw["stock_push_url"] = server.url + "/callbacks/suppliers/webhook-demo/stock"
        kw.setdefault("ship_after", 3600)
        sim = WebhookSupplierSimulator(SECRET, seed=kw.pop("seed", 3), clock=time.time, **kw)
        server.mount(sim.prefix, sim)
        http = httpx.Client(timeout=10)
        opened.append((server, http))
        waits: list[float] = []
        ctx = AdapterContext(http=http, tokens=FakeTokenStore(), data_dir=tmp_path, limiter=FakeLimiter(),
                             retry=RetryPolicy(attempts=3, max_seconds=60, initial_wait=1, max_wait=0,
                                               sleep=waits.append))
        receiver.adapter = build(sim, server, ctx)
        return Rig(sim, receiver.adapter, server, http, waits, frozen, receiver, ctx)

    yield make
    for server, http in opened:
        http.close()
        server.stop()


def request(key: str = "sd-0001", lines: list[SupplierLine] | None = None, **changes: Any) -> SupplierOrderRequest:
    receiver = Receiver(name="李四", phone="13700001111", province="广东省", city="广州市", district="天河区",
                        street="", detail="体育西路1号")
    raw: dict[str, Any] = {"idempotency_key": key, "shop_id": "pdd-demo", "platform": "pdd",
                           "platform_order_id": f"260302-{key}", "receiver": receiver,
                           "lines": lines or [SupplierLine("L1", "TEE-RED-M", 1, "T恤", "红 M")]}
    raw.update(changes)
    return SupplierOrderRequest(**raw)


def three_lines() -> list[SupplierLine]:
    return [SupplierLine("L1", "TEE-RED-M", 1), SupplierLine("L2", "SOCK-5P", 2), SupplierLine("L3", "CAP-1", 1)]


# ---- create: idempotency ---------------------------------------------------------------------------------


def test_create_is_idempotent_by_key_and_refuses_another_body_under_the_same_key(make_rig: Any) -> None:
    rig = make_rig()

    first = rig.adapter.place(request())
    again = rig.adapter.place(request())
    with pytest.raises(RejectedError) as caught:
        rig.adapter.place(request(remark="改地址"))

    assert again == first
    assert first.supplier_ref.startswith("WS20260302")
    assert caught.value.code == "idempotency_conflict"
    assert rig.sim.snapshot()["creates"] == {"new": 1, "replayed": 1, "conflict": 1}
    assert rig.sim.snapshot()["orders_total"] == 1


def test_a_lost_reply_is_healed_by_resending_the_same_key(make_rig: Any) -> None:
    rig = make_rig(lost_reply_rate=1.0)

    placed = rig.adapter.place(request())

    assert rig.sim.snapshot()["creates"] == {"new": 1, "lost_reply": 1, "replayed": 1}
    assert rig.sim.snapshot()["orders_total"] == 1
    assert rig.adapter.find("sd-0001", NOW) == placed


def test_an_unknown_outcome_is_settled_by_find(make_rig: Any) -> None:
    rig = make_rig(lost_reply_rate=1.0)
    rig.ctx.retry = RetryPolicy(attempts=1, max_wait=0, sleep=rig.waits.append)
    adapter = rig.adapter_with()

    with pytest.raises(TransientError, match="HTTP 500"):
        adapter.place(request())

    found = adapter.find("sd-0001", NOW)
    assert found is not None and found.paid
    assert adapter.find("sd-never-sent", NOW) is None


# ---- stock ------------------------------------------------------------------------------------------------


def test_stock_levels_out_of_stock_and_rejected_skus(make_rig: Any) -> None:
    rig = make_rig(stock={"TEE-RED-M": 5}, out_of_stock=["SOCK-5P"], reject_skus=["CAP-1"], default_stock=50)

    answer = rig.adapter.check_stock(request(lines=three_lines()))

    assert answer is not None
    assert answer.lines == [StockLine("TEE-RED-M", 1, 5), StockLine("SOCK-5P", 2, 0), StockLine("CAP-1", 1, 0)]
    assert answer.detail == "CAP-1: 不在供货范围"


def test_create_refuses_rejected_and_short_skus_with_422_and_takes_stock_when_accepted(make_rig: Any) -> None:
    rig = make_rig(stock={"TEE-RED-M": 3}, out_of_stock=["SOCK-5P"], reject_skus=["CAP-1"])

    with pytest.raises(RejectedError) as rejected:
        rig.adapter.place(request("sd-a", [SupplierLine("L1", "CAP-1", 1)]))
    with pytest.raises(RejectedError) as short:
        rig.adapter.place(request("sd-b", [SupplierLine("L1", "SOCK-5P", 1)]))
    rig.adapter.place(request("sd-c", [SupplierLine("L1", "TEE-RED-M", 2)]))
    with pytest.raises(RejectedError, match="库存不足"):
        rig.adapter.place(request("sd-d", [SupplierLine("L1", "TEE-RED-M", 1), SupplierLine("L2", "TEE-RED-M", 1)]))

    assert rejected.value.code == "sku_not_supplied"
    assert short.value.code == "out_of_stock"
    assert rig.sim.snapshot()["stock"]["TEE-RED-M"] == 1
    assert rig.adapter.find("sd-a", NOW) is None  # a refused create reserves nothing
    assert rig.sim.snapshot()["creates"] == {"rejected": 3, "new": 1}


# ---- shipping ---------------------------------------------------------------------------------------------


def test_an_order_ships_after_the_delay_in_one_real_looking_parcel(make_rig: Any) -> None:
    rig = make_rig(split_rate=0.0)
    placed = rig.adapter.place(request(lines=three_lines()))

    rig.later(3599)
    before = rig.adapter.status("sd-0001", placed.supplier_ref)
    rig.later(1)
    after = rig.adapter.status("sd-0001", placed.supplier_ref)

    assert (before.phase, before.parcels) == (SupplierOrderPhase.ACCEPTED, [])
    assert after.phase is SupplierOrderPhase.SHIPPED
    [parcel] = after.parcels
    assert parcel.line_refs is None
    assert parcel.carrier is not None
    assert re.fullmatch(TRACKING_FORMS[parcel.carrier], parcel.tracking_no)
    assert parcel.sent_at == NOW + timedelta(seconds=3600)


def test_split_orders_ship_two_parcels_covering_different_lines(make_rig: Any) -> None:
    rig = make_rig(split_rate=1.0)
    placed = rig.adapter.place(request(lines=three_lines()))

    rig.later(3600)
    partial = rig.adapter.status("sd-0001", placed.supplier_ref)
    rig.later(3600)
    shipped = rig.adapter.status("sd-0001", placed.supplier_ref)

    assert partial.phase is SupplierOrderPhase.PARTIAL
    assert [p.line_refs for p in partial.parcels] == [["L1"]]
    assert shipped.phase is SupplierOrderPhase.SHIPPED
    assert [p.line_refs for p in shipped.parcels] == [["L1"], ["L2", "L3"]]
    assert shipped.parcels[0] == partial.parcels[0]  # a parcel once reported never changes
    assert len({p.tracking_no for p in shipped.parcels}) == 2


def test_a_single_line_order_never_splits(make_rig: Any) -> None:
    rig = make_rig(split_rate=1.0, ship_after=10)
    placed = rig.adapter.place(request())
    rig.later(10)

    assert [p.line_refs for p in rig.adapter.status("sd-0001", placed.supplier_ref).parcels] == [None]


def test_tracking_numbers_look_real_and_carriers_normalise(make_rig: Any) -> None:
    rig = make_rig(split_rate=0.5, ship_after=1)
    placed = {f"sd-{i:03d}": rig.adapter.place(request(f"sd-{i:03d}", three_lines())).supplier_ref
              for i in range(40)}
    rig.later(5)

    parcels = [p for key, ref in placed.items() for p in rig.adapter.status(key, ref).parcels]

    assert len({p.carrier for p in parcels}) >= 4
    for p in parcels:
        assert p.carrier is not None and p.carrier == carriers.normalize(p.carrier_text)
        assert re.fullmatch(TRACKING_FORMS[p.carrier], p.tracking_no), (p.carrier, p.tracking_no)
    assert len({p.tracking_no for p in parcels}) == len(parcels)


def test_unknown_carriers_are_kept_as_written(make_rig: Any) -> None:
    rig = make_rig(unknown_carrier_rate=1.0, ship_after=1)
    placed = rig.adapter.place(request())
    rig.later(1)

    [parcel] = rig.adapter.status("sd-0001", placed.supplier_ref).parcels
    assert (parcel.carrier, parcel.carrier_text) == (None, "本地同城速运")


def test_the_same_seed_ships_the_same_parcels(make_rig: Any) -> None:
    numbers = []
    for _ in range(2):
        rig = make_rig(seed=11, split_rate=0.5, ship_after=1)
        refs = [rig.adapter.place(request(f"k{i}", three_lines())).supplier_ref for i in range(5)]
        rig.later(2)
        numbers.append([p.tracking_no for i, ref in enumerate(refs) for p in rig.adapter.status(f"k{i}", ref).parcels])
        rig.later(-2)

    assert numbers[0] == numbers[1]


# ---- cancel -----------------------------------------------------------------------------------------------


def test_cancel_before_shipping_cancels_restores_stock_and_is_idempotent(make_rig: Any) -> None:
    rig = make_rig(stock={"TEE-RED-M": 4})
    placed = rig.adapter.place(request(lines=[SupplierLine("L1", "TEE-RED-M", 3)]))

    first = rig.adapter.cancel("sd-0001", placed.supplier_ref, "买家取消")
    second = rig.adapter.cancel("sd-0001", placed.supplier_ref, "买家取消")
    rig.later(7200)

    assert (first.outcome, second.outcome) == (CancelOutcome.CANCELLED, CancelOutcome.CANCELLED)
    status = rig.adapter.status("sd-0001", placed.supplier_ref)
    assert (status.phase, status.parcels) == (SupplierOrderPhase.CANCELLED, [])
    assert rig.sim.snapshot()["stock"]["TEE-RED-M"] == 4


def test_cancel_after_the_first_parcel_left_is_too_late(make_rig: Any) -> None:
    rig = make_rig(split_rate=1.0)
    placed = rig.adapter.place(request(lines=three_lines()))
    rig.later(3600)

    answer = rig.adapter.cancel("sd-0001", placed.supplier_ref, "买家取消")

    assert answer.outcome is CancelOutcome.TOO_LATE
    assert rig.adapter.status("sd-0001", placed.supplier_ref).phase is SupplierOrderPhase.PARTIAL


def test_cancel_of_an_unknown_order_is_refused(make_rig: Any) -> None:
    rig = make_rig()

    with pytest.raises(RejectedError) as caught:
        rig.adapter.cancel("sd-nothing", "WS1", "买家取消")

    assert caught.value.code == "not_found"


# ---- signatures, faults, routes ---------------------------------------------------------------------------


def test_requests_without_a_valid_fresh_signature_are_401(make_rig: Any) -> None:
    rig = make_rig()
    url = rig.server.url + "/webhook-supplier/stock"
    body = b'{"lines":[{"sku":"A","quantity":1}]}'
    now, path = int(NOW.timestamp()), "/webhook-supplier/stock"

    unsigned = rig.http.post(url, content=body)
    wrong = rig.http.post(url, content=body, headers=sign_headers("x" * 20, now, "POST", path, body))
    stale = rig.http.post(url, content=body, headers=sign_headers(SECRET, now - 301, "POST", path, body))
    other_path = rig.http.post(url, content=body, headers=sign_headers(SECRET, now, "POST", "/stock", body))
    good = rig.http.post(url, content=body, headers=sign_headers(SECRET, now, "POST", path, body))

    assert [r.status_code for r in (unsigned, wrong, stale, other_path, good)] == [401, 401, 401, 401, 200]
    assert [r.json()["error"]["code"] for r in (unsigned, wrong, stale, other_path)] == [
        "unsigned", "bad_signature", "stale_timestamp", "bad_signature"]


def test_an_adapter_with_the_wrong_secret_gets_an_auth_error_once(make_rig: Any) -> None:
    rig = make_rig()

    with pytest.raises(AuthError, match="check secret"):
        rig.adapter_with(secret="not-the-shared-secret-42").place(request())

    assert rig.sim.snapshot()["errors"] == {"bad_signature": 1}


def test_the_idempotency_header_must_match_the_body(make_rig: Any) -> None:
    rig = make_rig()
    body = json.dumps({"idempotency_key": "k1", "lines": [{"line_ref": "L", "sku": "S", "quantity": 1}]}).encode()
    headers = {**sign_headers(SECRET, int(NOW.timestamp()), "POST", "/webhook-supplier/orders", body),
               "Idempotency-Key": "k2"}

    answer = rig.http.post(rig.server.url + "/webhook-supplier/orders", content=body, headers=headers)

    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["error"]["message"]


def test_faults_are_5xx_then_transient(make_rig: Any) -> None:
    rig = make_rig(fault_rate=1.0)

    with pytest.raises(TransientError, match="HTTP 503"):
        rig.adapter.check_stock(request())

    assert rig.sim.snapshot()["errors"] == {"unavailable": 3}


def test_forced_429_is_waited_out_with_retry_after(make_rig: Any) -> None:
    rig = make_rig()
    rig.sim.fail_next(429)

    assert rig.adapter.place(request()).supplier_ref
    assert rig.waits == [1.0]


def test_flow_control_answers_429(make_rig: Any) -> None:
    rig = make_rig(qps=1)

    rig.adapter.check_stock(request())
    with pytest.raises(RateLimitedError, match="HTTP 429"):
        rig.adapter.check_stock(request())

    assert rig.waits == [1.0, 1.0]  # Retry-After honoured (the frozen clock never refills the bucket)


def test_a_wrong_path_is_a_configuration_error(make_rig: Any) -> None:
    rig = make_rig()

    with pytest.raises(FatalError, match="check base_url and paths"):
        rig.adapter_with(paths={"stock": "/inventory"}).check_stock(request())
    with pytest.raises(FatalError, match="check paths"):
        rig.adapter_with(paths={"cancel": "/orders/{key}"}).cancel("sd-1", "WS1", "买家取消")


# ---- push -------------------------------------------------------------------------------------------------


def test_phase_changes_are_pushed_signed_and_accepted_by_the_adapter(make_rig: Any) -> None:
    rig = make_rig(push=True, split_rate=1.0)
    rig.receiver.adapter = rig.adapter_with(tracking="push")
    placed = rig.adapter.place(request(lines=three_lines()))

    assert rig.sim.pending_callbacks() == []
    rig.later(3600)
    assert [c["phase"] for c in rig.sim.pending_callbacks()] == ["partial"]
    rig.later(3600)
    assert rig.sim.deliver_callbacks(rig.http) == 2

    assert rig.receiver.refused == []
    assert [cb.status.phase for _, cb in rig.receiver.accepted] == [SupplierOrderPhase.PARTIAL,
                                                                    SupplierOrderPhase.SHIPPED]
    assert {cb.idempotency_key for _, cb in rig.receiver.accepted} == {"sd-0001"}
    assert rig.receiver.accepted[1][1].status.supplier_ref == placed.supplier_ref
    assert len(rig.receiver.accepted[1][1].status.parcels) == 2
    assert len({e for e, _ in rig.receiver.accepted}) == 2
    assert rig.sim.pending_callbacks() == []
    assert rig.sim.snapshot()["callbacks"] == {"pending": 0, "delivered": 2, "failed_attempts": 0}


def test_a_refused_push_stays_pending_and_is_sent_again_with_its_event_id(make_rig: Any) -> None:
    rig = make_rig(push=True, ship_after=60)
    rig.receiver.adapter = rig.adapter_with(tracking="push")
    rig.adapter.place(request())
    rig.later(60)
    rig.receiver.answer_status = 503

    assert rig.sim.deliver_callbacks(rig.http) == 0
    [pending] = rig.sim.pending_callbacks()
    rig.receiver.answer_status = None
    rig.later(600)  # a later attempt is signed afresh, so the window does not matter
    assert rig.sim.deliver_callbacks(rig.http) == 1

    assert [e for e, _ in rig.receiver.accepted] == [pending["event_id"]]
    assert rig.sim.snapshot()["callbacks"]["failed_attempts"] == 1


def test_a_cancel_is_pushed_too(make_rig: Any) -> None:
    rig = make_rig(push=True)
    placed = rig.adapter.place(request())
    rig.adapter.cancel("sd-0001", placed.supplier_ref, "买家取消")

    assert [c["phase"] for c in rig.sim.pending_callbacks()] == ["cancelled"]


def test_without_push_url_nothing_is_pending_or_sent(make_rig: Any) -> None:
    rig = make_rig(ship_after=1)
    rig.adapter.place(request())
    rig.later(2)

    assert rig.sim.pending_callbacks() == []
    assert rig.sim.deliver_callbacks(rig.http) == 0


# ---- admin ------------------------------------------------------------------------------------------------


def test_snapshot_and_the_state_endpoint(make_rig: Any) -> None:
    rig = make_rig(split_rate=0.0, ship_after=60)
    rig.adapter.place(request("a"))
    rig.adapter.place(request("b"))
    rig.later(60)
    rig.adapter.place(request("c"))

    state = rig.http.get(rig.server.url + "/webhook-supplier/_sandbox/state").json()

    assert state["orders"] == {"accepted": 1, "shipped": 2}
    assert state["orders_total"] == 3
    assert state["calls"] == {"create": 3}
    assert state == rig.sim.snapshot()
    assert rig.sim.order("a") is not None and rig.sim.order("zzz") is None


# ---- stock and price (issue 19) --------------------------------------------------------------------------


def test_the_stock_read_answers_levels_and_prices(make_rig: Any) -> None:
    rig = make_rig(stock={"TEE-RED-M": 35}, out_of_stock=["SOCK-5P"], prices={"TEE-RED-M": 1990})

    result = rig.adapter.read_stock(["TEE-RED-M", "SOCK-5P"])

    assert result.stock[0] == SupplierStock("TEE-RED-M", 35, 1990)
    assert result.stock[1].supplier_sku == "SOCK-5P" and result.stock[1].quantity == 0
    assert result.stock[1].price_fen is not None and result.stock[1].price_fen > 0  # a stable made-up price


def test_stock_changes_are_pushed_signed_and_read_by_the_adapter(make_rig: Any) -> None:
    rig = make_rig(stock={"TEE-RED-M": 35}, prices={"TEE-RED-M": 1990}, stock_push=True)

    rig.sim.set_stock("TEE-RED-M", 0)
    rig.later(30)
    answer = httpx.post(rig.server.url + "/webhook-supplier/_sandbox/stock", json={"sku": "TEE-RED-M",
                                                                                 "price_fen": 2290})
    assert answer.json() == {"sku": "TEE-RED-M", "available": 0, "price_fen": 2290}
    delivered = httpx.post(rig.server.url + "/webhook-supplier/_sandbox/push_stock").json()["delivered"]

    assert delivered == 1 and rig.receiver.refused == []
    assert rig.receiver.stock == [SupplierStock("TEE-RED-M", 0, 2290, NOW + timedelta(seconds=30))]
    assert rig.sim.snapshot()["stock_pushes"] == {"pending": 0, "delivered": 1, "failed_attempts": 0}


def test_a_refused_stock_push_is_sent_again_with_its_event_id(make_rig: Any) -> None:
    rig = make_rig(stock_push=True)
    rig.receiver.answer_status = 503
    rig.sim.set_stock("CAP-BLK", 4)

    assert rig.sim.deliver_stock_pushes(rig.http) == 0
    rig.sim.set_stock("CAP-RED", 2)  # a later change waits for the first push
    rig.receiver.answer_status = None
    rig.later(10)
    assert rig.sim.deliver_stock_pushes(rig.http) == 2

    ids = [body["event_id"] for body in rig.sim.feed.delivered]
    assert ids == ["stk_000001", "stk_000002"]
    assert [s.supplier_sku for s in rig.receiver.stock] == ["CAP-BLK", "CAP-RED"]


def test_snapshot_given_one_storefront_line_in_two_orders_reports_it_duplicated_but_not_a_reship():
    sim = WebhookSupplierSimulator(SECRET, seed=1, clock=lambda: NOW.timestamp())

    def body(key: str, kind: str = "normal") -> dict[str, Any]:
        return {"idempotency_key": key, "kind": kind, "shop_id": "douyin-02", "platform_order_id": "P1",
                "lines": [{"line_ref": "L1", "sku": "MUG-1", "quantity": 1}]}

    for key in ("k1", "k3"):
        sim._new_order(key, body(key), body(key)["lines"])
    sim._new_order("k4", body("k4", "reship"), body("k4")["lines"])
    assert sim.snapshot()["duplicates"] == {"douyin-02/P1/L1": 2}
