"""The 1688 simulator over a real 127.0.0.1 server, driven through the real 1688 adapter (orders, and the
products: stock and price per spec, scripted changes, signed messages pushed to a receiver).

Time is frozen with time-machine for both sides (the simulator's clock is ``time.time``) and moved by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.adapters.alibaba.signing import sign
from syncd.adapters.sandbox.alibaba_seed import SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET
from syncd.adapters.sandbox.alibaba_sim import AlibabaSimulator
from syncd.adapters.sandbox.httpserver import Response, SandboxServer, json_response
from syncd.domain import (
    CancelOutcome,
    LogisticsState,
    Receiver,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
    Token,
)
from syncd.errors import FatalError, RateLimitedError, ReauthorizationRequired, RejectedError, TransientError
from syncd.ratelimit import RateLimiter
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from syncd.stockmodel import SupplierStock
from tests.fakes import FakeTokenStore

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MUG = "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90"
BOTTLE = "610000002:c3d4e5f60718293a4b5c6d7e8f90a1b2"
HOOK = "610000004"


@dataclass
class Rig:
    sim: AlibabaSimulator
    server: SandboxServer
    travel: time_machine.Traveller
    ctx: AdapterContext
    store: FakeTokenStore

    def adapter(self, **changes: Any) -> AlibabaAdapter:
        raw = self.sim.supplier_config(self.server.url + "/1688")
        raw.update(changes)
        return AlibabaAdapter(AlibabaSupplierConfig.model_validate(raw), self.ctx)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = httpx.get(self.server.url + "/1688/_sandbox/state").json()
        return out


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[SandboxServer, httpx.Client]] = []
    with time_machine.travel(NOW, tick=False) as travel:

        def make(**kw: Any) -> Rig:
            kw.setdefault("seed", 3)
            sim = AlibabaSimulator(SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET, **kw)
            server = SandboxServer()
            server.mount(sim.prefix, sim)
            server.start()
            http = httpx.Client(timeout=10)
            made.append((server, http))
            store = FakeTokenStore()
            policy = RetryPolicy(attempts=3, max_seconds=600, initial_wait=0, max_wait=0, sleep=lambda s: None)
            ctx = AdapterContext(http=http, tokens=store, data_dir=tmp_path, retry=policy,
                                 limiter=RateLimiter(sleep=lambda s: None))
            return Rig(sim, server, travel, ctx, store)

        yield make
    for server, http in made:
        http.close()
        server.stop()


def _request(key: str, lines: list[SupplierLine] | None = None) -> SupplierOrderRequest:
    receiver = Receiver(name="李四", phone="13900001111", province="广东省", city="深圳市", district="南山区",
                        street="粤海街道", detail="科技园南区 1 栋 2 楼")
    return SupplierOrderRequest(idempotency_key=key, shop_id="dy-1", platform="douyin",
                                platform_order_id="6920000000000000009", receiver=receiver,
                                lines=lines or [SupplierLine("L1", MUG, 2), SupplierLine("L2", HOOK, 1)])


def test_fast_create_order_is_not_idempotent(make_rig: Any) -> None:
    rig = make_rig()
    adapter = rig.adapter()

    first = adapter.place(_request("so-1"))
    second = adapter.place(_request("so-1"))

    assert first.supplier_ref != second.supplier_ref and not first.paid
    state = rig.state()
    assert state["duplicates"] == {"so-1": 2} and state["orders"] == {"waitbuyerpay": 2}
    assert state["calls"]["alibaba.trade.fastCreateOrder"] == 2
    assert state["stock"][MUG] == 500 - 4


def test_a_lost_reply_created_the_order_and_find_returns_it(make_rig: Any) -> None:
    rig = make_rig(lost_reply_rate=1.0)
    adapter = rig.adapter()

    with pytest.raises(TransientError, match="outOrderId so-2"):
        adapter.place(_request("so-2"))

    state = rig.state()
    assert state["lost_replies"] == 1 and state["orders_total"] == 1
    assert state["calls"]["alibaba.trade.fastCreateOrder"] == 1  # the adapter did not send again
    found = adapter.find("so-2", NOW - timedelta(minutes=1))
    assert found is not None and not found.paid
    assert adapter.find("so-other", NOW - timedelta(minutes=1)) is None


def test_unpaid_then_pay_then_partial_then_full_shipment_with_traces(make_rig: Any) -> None:
    rig = make_rig(ship_delay=3600, split_rate=1.0)
    adapter = rig.adapter()
    placed = adapter.place(_request("so-3"))
    ref = placed.supplier_ref

    assert adapter.status("so-3", ref).phase is SupplierOrderPhase.UNPAID
    paid = adapter.pay(placed)  # the sandbox supplier file says protocol_pay
    assert paid.paid
    accepted = adapter.status("so-3", ref)
    assert (accepted.phase, accepted.parcels) == (SupplierOrderPhase.ACCEPTED, [])  # 500_2 before shipping
    assert adapter.trace(ref, "nothing-yet") is not None  # 404: no trace yet

    rig.travel.shift(timedelta(hours=1))
    partial = adapter.status("so-3", ref)
    assert partial.phase is SupplierOrderPhase.PARTIAL
    assert [p.line_refs for p in partial.parcels] == [[MUG]]
    parcel = partial.parcels[0]
    assert parcel.carrier is not None and parcel.sent_at == NOW + timedelta(hours=1)

    rig.travel.shift(timedelta(minutes=30))
    shipped = adapter.status("so-3", ref)
    assert shipped.phase is SupplierOrderPhase.SHIPPED
    assert [p.line_refs for p in shipped.parcels] == [[MUG], [HOOK]]

    rig.travel.shift(timedelta(hours=31))
    trace = adapter.trace(ref, parcel.tracking_no)
    assert trace is not None and trace.state is LogisticsState.DELIVERING
    assert all(e.at <= NOW + timedelta(hours=32, minutes=30) for e in trace.events)
    assert trace.events[0].state is LogisticsState.PICKED_UP


def test_manual_payment_waits_for_a_person_then_the_supplier_ships(make_rig: Any) -> None:
    rig = make_rig(ship_delay=600, split_rate=0.0)
    adapter = rig.adapter(payment="manual")
    placed = adapter.place(_request("so-4"))

    with pytest.raises(RejectedError, match="awaiting payment by a person"):
        adapter.pay(placed)
    httpx.post(rig.server.url + "/1688/_sandbox/pay", json={"orderId": placed.supplier_ref}).raise_for_status()
    assert adapter.status("so-4", placed.supplier_ref).phase is SupplierOrderPhase.ACCEPTED
    tracking = httpx.post(rig.server.url + "/1688/_sandbox/ship", json={"orderId": placed.supplier_ref}).json()

    shipped = adapter.status("so-4", placed.supplier_ref)
    assert shipped.phase is SupplierOrderPhase.SHIPPED
    assert [(p.tracking_no, p.line_refs) for p in shipped.parcels] == [(tracking["tracking"][0], None)]


def test_cancel_rules_too_fast_then_cancelled_and_paid_is_too_late(make_rig: Any) -> None:
    rig = make_rig()
    adapter = rig.adapter()
    unpaid = adapter.place(_request("so-5"))
    paid = adapter.pay(adapter.place(_request("so-6")))

    assert adapter.cancel("so-5", unpaid.supplier_ref, "buyer").outcome is CancelOutcome.RETRY
    rig.travel.shift(timedelta(seconds=11))
    assert adapter.cancel("so-5", unpaid.supplier_ref, "buyer").outcome is CancelOutcome.CANCELLED
    assert adapter.status("so-5", unpaid.supplier_ref).phase is SupplierOrderPhase.CANCELLED
    assert adapter.cancel("so-6", paid.supplier_ref, "buyer").outcome is CancelOutcome.TOO_LATE
    assert rig.state()["stock"][MUG] == 500 - 2  # the cancelled order's stock came back


def test_preview_reports_short_stock_and_create_refuses_it(make_rig: Any) -> None:
    rig = make_rig()
    rig.sim.set_stock(HOOK, 0)
    adapter = rig.adapter()

    answer = adapter.check_stock(_request("so-7"))

    assert answer is not None and [ln.supplier_sku for ln in answer.short()] == [HOOK]
    assert "库存不足" in answer.detail
    with pytest.raises(RejectedError, match="500_006"):
        adapter.place(_request("so-7"))
    assert rig.state()["orders_total"] == 0


def test_flow_control_above_the_qps_is_rate_limited(make_rig: Any) -> None:
    rig = make_rig(qps=2)
    adapter = rig.adapter()
    placed = adapter.place(_request("so-8"))

    with pytest.raises(RateLimitedError) as err:
        for _ in range(5):
            adapter.status("so-8", placed.supplier_ref)

    assert err.value.retry_after is not None and err.value.retry_after >= 10
    assert rig.state()["errors"]["gw.QosAppFrequencyLimit"] >= 1


def test_a_wrong_secret_fails_the_signature(make_rig: Any) -> None:
    rig = make_rig()
    rig.store.tokens["supplier:sandbox-1688"] = Token("sandbox-1688-access-0001", "sandbox-1688-refresh-0001",
                                                      NOW + timedelta(hours=9), NOW + timedelta(days=100))
    adapter = rig.adapter(app_secret="not-the-secret")

    with pytest.raises(FatalError, match=r"gw\.SignatureInvalid"):
        adapter.status("so-9", "1")


def test_the_simulator_checks_the_signature_over_the_posted_form(make_rig: Any) -> None:
    rig = make_rig()
    api, ns = "alibaba.trade.get.buyerView", "com.alibaba.trade"
    path = f"param2/1/{ns}/{api}/{SANDBOX_1688_APP_KEY}"
    params = {"orderId": "1", "webSite": "1688", "access_token": "sandbox-1688-access-0001"}
    good = {**params, "_aop_signature": sign(path, params, SANDBOX_1688_APP_SECRET)}
    url = f"{rig.server.url}/1688/openapi/{path}"

    assert httpx.post(url, data=good).json()["errorCode"] == "500_1"  # signed fine; no such order
    bad = httpx.post(url, data={**good, "webSite": "alibaba"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "gw.SignatureInvalid"


def test_tokens_refresh_after_expiry_postpone_in_the_last_month_and_revocation_needs_a_person(
        make_rig: Any) -> None:
    rig = make_rig()
    adapter = rig.adapter()
    placed = adapter.place(_request("so-10"))  # first use: the configured pair is refreshed and stored
    key = "supplier:sandbox-1688"
    first = rig.store.tokens[key]
    assert first.refresh_expires_at is not None and first.refresh_expires_at > NOW + timedelta(days=170)

    rig.travel.shift(timedelta(hours=10))
    adapter.status("so-10", placed.supplier_ref)
    assert rig.store.tokens[key].access_token != first.access_token

    httpx.post(rig.server.url + "/1688/_sandbox/age_refresh", json={"days_left": 10})
    rig.store.tokens[key].refresh_expires_at = NOW + timedelta(hours=10, days=10)
    adapter.ensure_token()
    postponed = rig.store.tokens[key]
    assert postponed.refresh_token != first.refresh_token
    assert postponed.refresh_expires_at is not None and postponed.refresh_expires_at > NOW + timedelta(days=170)
    assert rig.state()["tokens"]["postpones"] == 1

    rig.sim.fail_next("auth_revoked")
    with pytest.raises(ReauthorizationRequired):
        adapter.status("so-10", placed.supplier_ref)


def test_seeded_faults_are_reproducible(make_rig: Any) -> None:
    def errors(seed: int) -> dict[str, int]:
        rig = make_rig(seed=seed, fault_rate=0.5)
        rig.ctx.retry = RetryPolicy(attempts=1, max_seconds=1, initial_wait=0, max_wait=0, sleep=lambda s: None)
        adapter = rig.adapter()
        rig.store.tokens["supplier:sandbox-1688"] = Token(
            "sandbox-1688-access-0001", "sandbox-1688-refresh-0001", NOW + timedelta(hours=9),
            NOW + timedelta(days=100))
        for _ in range(12):
            with suppress(TransientError):
                adapter.find("so-x", NOW)
        return dict(rig.state()["errors"])

    assert errors(11) == errors(11)
    assert sum(errors(11).values()) > 0


def test_about_one_parcel_in_ten_is_scripted_never_picked_up_the_same_for_the_same_seed() -> None:
    numbers = [f"7{n:013d}" for n in range(3000)]

    def never(seed: int, **kw: Any) -> set[str]:
        sim = AlibabaSimulator(SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET, seed=seed, **kw)
        return {n for n in numbers if sim.never_picked_up(n)}

    assert 0.08 * len(numbers) < len(never(3)) < 0.12 * len(numbers)
    assert never(3) == never(3) and never(3) != never(4)
    assert never(3, never_pickup_rate=0.0) == set()


def test_a_never_picked_up_parcel_reports_an_old_send_time_and_its_trace_never_gets_a_step(make_rig: Any) -> None:
    rig = make_rig(ship_delay=3600, split_rate=0.0, never_pickup_rate=1.0)
    adapter = rig.adapter()
    placed = adapter.pay(adapter.place(_request("so-11")))
    rig.travel.shift(timedelta(hours=1))  # the supplier's scheduled send: the parcel appears now

    shipped = adapter.status("so-11", placed.supplier_ref)
    assert shipped.phase is SupplierOrderPhase.SHIPPED and len(shipped.parcels) == 1
    parcel = shipped.parcels[0]
    assert rig.sim.never_picked_up(parcel.tracking_no) and rig.state()["never_picked_up"] == 1
    appeared = NOW + timedelta(hours=1)
    assert parcel.sent_at is not None
    assert appeared - timedelta(hours=30) <= parcel.sent_at <= appeared - timedelta(hours=14)

    for _ in range(3):  # long after the trace of a normal parcel would have been delivered
        trace = adapter.trace(placed.supplier_ref, parcel.tracking_no)
        assert trace is not None and (trace.state, trace.events, trace.verdict) == (LogisticsState.NONE, [], None)
        rig.travel.shift(timedelta(hours=20))
    assert rig.state()["orders"] == {"waitbuyerreceive": 1}  # never signed for either


# ---- products: stock and price per spec, scripted changes, messages (issue 19) ----------------------------

MUG_BLACK = "610000001:b2c3d4e5f60718293a4b5c6d7e8f90a1"


class PushReceiver:
    """The daemon's side of the 1688 message push: the adapter verifies and reads each message."""

    def __init__(self) -> None:
        self.adapter: AlibabaAdapter | None = None
        self.figures: list[SupplierStock] = []
        self.refused: list[str] = []

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        assert self.adapter is not None
        try:
            self.figures += self.adapter.parse_stock_push(headers, body, datetime.now(UTC))
        except RejectedError as err:
            self.refused.append(str(err.code))
            return json_response(401, {"error": err.code})
        return json_response(200, {"ok": True})


@pytest.fixture
def receiver() -> Iterator[tuple[PushReceiver, str]]:
    got = PushReceiver()
    server = SandboxServer()
    server.mount("/callbacks", got)
    server.start()
    yield got, server.url + "/callbacks/1688"
    server.stop()


@pytest.mark.parametrize("api", ["alibaba.cross.productInfo", "alibaba.product.simple.get", "alibaba.product.get",
                                 "alibaba.fenxiao.productInfo.get", "product.search.queryProductDetail"])
def test_every_detail_api_answers_stock_and_price_per_spec(make_rig: Any, api: str) -> None:
    rig = make_rig()

    result = rig.adapter(products={"api": api}).read_stock([MUG, MUG_BLACK, HOOK])

    assert result.stock == [SupplierStock(MUG, 500, 850), SupplierStock(MUG_BLACK, 300, 850),
                            SupplierStock(HOOK, 1000, 260)]
    assert rig.state()["calls"][api] == 2  # one call per offer


def test_a_scripted_change_shows_when_its_time_comes(make_rig: Any) -> None:
    rig = make_rig()
    adapter = rig.adapter()
    rig.sim.schedule_change(NOW.timestamp() + 600, MUG, stock=0, price_fen=990)

    assert adapter.read_stock([MUG]).stock == [SupplierStock(MUG, 500, 850)]
    rig.travel.shift(timedelta(minutes=11))
    assert adapter.read_stock([MUG]).stock == [SupplierStock(MUG, 0, 990)]


def test_admin_endpoints_delist_and_change_prices(make_rig: Any) -> None:
    rig = make_rig()
    adapter = rig.adapter()
    base = rig.server.url + "/1688/_sandbox"

    assert httpx.post(f"{base}/price", json={"sku": HOOK, "price_fen": 300}).json() == {"price_fen": 300}
    assert httpx.post(f"{base}/delist", json={"offerId": 610000001}).json() == {"status": "expired"}

    result = adapter.read_stock([MUG, HOOK])
    assert result.stock == [SupplierStock(HOOK, 1000, 300)]
    assert result.failed == {MUG: "offer not on sale (1688 status expired)"}


def test_an_offer_the_buyer_may_not_read_fails_with_no_permission(make_rig: Any) -> None:
    rig = make_rig()
    rig.sim.products.no_permission.add(610000004)

    result = rig.adapter().read_stock([HOOK])

    assert result.failed[HOOK].startswith("no permission to read this offer")


def test_changes_are_pushed_as_signed_messages_the_adapter_reads(make_rig: Any,
                                                                 receiver: tuple[PushReceiver, str]) -> None:
    got, url = receiver
    rig = make_rig(push_url=url)
    got.adapter = rig.adapter()
    got.adapter.read_stock([MUG])  # learns the skuId → specId map, as the scheduled read does

    rig.sim.set_stock(MUG_BLACK, 0)
    rig.sim.set_price(HOOK, 320)
    delivered = httpx.post(rig.server.url + "/1688/_sandbox/push", json={}).json()["delivered"]

    assert delivered == 2 and got.refused == []
    assert SupplierStock(MUG_BLACK, 0, None, NOW) in got.figures  # inventory message: skuId mapped to specId
    assert SupplierStock(HOOK, 1000, 320) in got.figures  # price message: the offer read again
    assert rig.state()["products"]["messages"] == {"pending": 0, "delivered": 2, "failed_attempts": 0}


def test_a_message_the_daemon_refuses_stays_queued(make_rig: Any, receiver: tuple[PushReceiver, str]) -> None:
    got, url = receiver
    rig = make_rig(push_url=url)
    got.adapter = rig.adapter(app_secret="another-secret-than-the-simulators")

    rig.sim.delist(610000004)
    with httpx.Client() as http:
        assert rig.sim.deliver_messages(http) == 0

    assert got.refused == ["bad_signature"]
    assert rig.state()["products"]["messages"]["pending"] == 1
