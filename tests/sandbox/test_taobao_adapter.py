"""The real Taobao adapter against the Taobao simulator over real HTTP (the clock frozen for both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine

from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.taobao_seed import (
    SANDBOX_TAOBAO_APP_KEY,
    SANDBOX_TAOBAO_APP_SECRET,
    SANDBOX_TAOBAO_REFRESH,
    SANDBOX_TAOBAO_SESSION,
    classify,
    generate_taobao_orders,
)
from syncd.adapters.sandbox.taobao_sim import TaobaoSimulator
from syncd.adapters.taobao import PLUGIN, TaobaoAdapter, TaobaoShopConfig
from syncd.domain import OrderStatus, Parcel, ParcelLine, Receiver, RefundState, ShipResult
from syncd.errors import RateLimitedError, ReauthorizationRequired
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.fakes import FakeLimiter, FakeTokenStore

NOW = datetime(2027, 1, 15, 2, 0, tzinfo=UTC)


class Rig:
    """A simulator on 127.0.0.1, and the adapter built from its shop config."""

    def __init__(self, sim: TaobaoSimulator, adapter: TaobaoAdapter, store: FakeTokenStore, waits: list[float],
                 limiter: FakeLimiter) -> None:
        self.sim, self.adapter, self.store, self.waits, self.limiter = sim, adapter, store, waits, limiter


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rig(frozen: time_machine.Traveller, tmp_path: Path) -> Iterator[Rig]:
    now = NOW.timestamp()
    sim = TaobaoSimulator(SANDBOX_TAOBAO_APP_KEY, SANDBOX_TAOBAO_APP_SECRET,
                          {SANDBOX_TAOBAO_SESSION: SANDBOX_TAOBAO_REFRESH},
                          generate_taobao_orders(60, 5, now, span_hours=5))
    with SandboxServer() as server, httpx.Client(timeout=10) as http:
        server.mount(sim.prefix, sim)
        waits: list[float] = []
        store, limiter = FakeTokenStore(), FakeLimiter()
        ctx = AdapterContext(http=http, tokens=store, data_dir=tmp_path, limiter=limiter,
                             retry=RetryPolicy(attempts=3, max_seconds=60, initial_wait=1, max_wait=0,
                                               sleep=waits.append))
        config = TaobaoShopConfig.model_validate(sim.shop_config(server.url + sim.prefix))
        adapter = PLUGIN.factory(config, ctx)
        assert isinstance(adapter, TaobaoAdapter)
        yield Rig(sim, adapter, store, waits, limiter)


def _parcel(tracking: str, lines: list[str], carrier: str = "zhongtong", attempted: bool = False) -> Parcel:
    return Parcel(carrier=carrier, tracking_no=tracking, request_id=tracking, attempted=attempted,
                  lines=[ParcelLine(platform_line_id=line, quantity=1) for line in lines])


def test_list_orders_reads_every_seeded_trade_with_details_only_for_trades_to_ship(rig: Rig) -> None:
    result = rig.adapter.list_orders(NOW - timedelta(hours=6), NOW)

    assert {o.platform_order_id for o in result.orders} == set(rig.sim.book.trades)
    assert result.rejects == []
    ready = [o for o in result.orders if o.status is OrderStatus.PAID and o.ready_to_ship]
    assert ready and all(o.receiver.name_cipher for o in ready)
    assert rig.sim.calls["taobao.trade.fullinfo.get"] == len(ready)
    assert rig.sim.calls["taobao.trades.sold.increment.get"] == 1  # 6 h in one window (TOP allows a day), one page
    assert rig.adapter.count_orders(NOW - timedelta(hours=6), NOW) == 60


def test_list_orders_given_a_busy_window_and_a_trade_modified_while_paging_loses_none(
        rig: Rig, frozen: time_machine.Traveller) -> None:
    tids = rig.sim.seed_ready(250, now=NOW.timestamp(), spread_seconds=1700)
    frozen.shift(timedelta(seconds=10))
    # Among the newest 100 (page 1), modified to now (past the window's end) just before the 4th list call.
    moved = tids[200]
    rig.sim.touch_when_paging(moved, 3)

    result = rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)

    assert rig.sim.book.trades[moved]["modified"] > "2027-01-15 10:00:00"  # it did leave the window
    assert set(tids) - {moved} <= {o.platform_order_id for o in result.orders}


def test_decrypt_gives_receivers_and_an_incomplete_address_shows_as_missing(rig: Rig) -> None:
    orders = rig.adapter.list_orders(NOW - timedelta(hours=6), NOW).orders
    by_case = {classify(rig.sim.book.trades[o.platform_order_id]): o for o in orders}
    normal, incomplete = by_case["normal"], by_case["address_incomplete"]

    got = rig.adapter.decrypt([(o.platform_order_id, o.receiver) for o in (normal, incomplete)])

    good, bad = got[normal.platform_order_id], got[incomplete.platform_order_id]
    assert isinstance(good, Receiver) and good.missing() == []
    assert good.name != normal.receiver.name_masked
    assert isinstance(bad, Receiver) and bad.missing() == ["detail"]


def test_ship_whole_trade_then_again_is_accepted_as_already_shipped_without_a_second_record(rig: Rig) -> None:
    (tid,) = rig.sim.seed_ready(1, now=NOW.timestamp(), spread_seconds=600)
    lines = rig.sim.line_ids(tid)

    assert rig.adapter.ship(tid, [_parcel("78812345678901", lines)], whole_order=True) == ShipResult()
    again = rig.adapter.ship(tid, [_parcel("78812345678901", lines)], whole_order=True)
    attempted = rig.adapter.ship(tid, [_parcel("78812345678901", lines, attempted=True)], whole_order=True)

    assert again == attempted == ShipResult(already_shipped=True)
    assert rig.sim.tracking_numbers(tid) == ["78812345678901"]
    assert rig.sim.state()["ship_calls"] == {tid: 1}
    assert rig.adapter.get_order(tid).status is OrderStatus.SHIPPED


def test_ship_split_parcels_ship_each_sub_order(rig: Rig) -> None:
    (tid,) = rig.sim.seed_ready(1, now=NOW.timestamp(), spread_seconds=600, skus=("SB-MUG-WHT", "SB-TEE-RED-M"))
    first, second = rig.sim.line_ids(tid)

    rig.adapter.ship(tid, [_parcel("YT1000000001", [first], "yuantong"), _parcel("SF1000000002", [second],
                                                                                  "shunfeng")], whole_order=False)

    assert rig.sim.tracking_numbers(tid) == ["YT1000000001", "SF1000000002"]
    assert rig.sim.book.trades[tid]["status"] == "WAIT_BUYER_CONFIRM_GOODS"


def test_expired_session_is_refreshed_once_and_the_call_goes_through(rig: Rig) -> None:
    rig.adapter.ensure_token()
    rig.sim.expire_access_token()

    rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)

    assert rig.sim.calls["taobao.top.auth.token.refresh"] == 1
    assert rig.store.tokens["taobao-sim"].access_token != SANDBOX_TAOBAO_SESSION


def test_revoked_authorisation_raises_reauthorization_required(rig: Rig) -> None:
    rig.sim.fail_next("auth_revoked")

    with pytest.raises(ReauthorizationRequired, match="could not be refreshed"):
        rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)


def test_flow_control_is_waited_out_and_a_ban_longer_than_the_budget_stops(rig: Rig) -> None:
    rig.sim.fail_next("rate_limited")
    rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)
    assert rig.waits == [2.0]  # "This ban will last for 1 more seconds": wait N + 1

    rig.sim.ban_seconds = 3600
    rig.sim.fail_next("rate_limited")
    with pytest.raises(RateLimitedError) as caught:
        rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)
    assert caught.value.retry_after == 3601


def test_refunds_set_on_the_platform_reach_the_refund_stream(rig: Rig, frozen: time_machine.Traveller) -> None:
    (tid,) = rig.sim.seed_ready(1, now=NOW.timestamp(), spread_seconds=600, skus=("SB-MUG-WHT", "SB-TEE-RED-M"))
    first, second = rig.sim.line_ids(tid)
    rig.sim.set_refund(tid, first, "requested")
    frozen.shift(timedelta(seconds=30))
    rig.sim.set_refund(tid, second, "refunded")

    events = rig.adapter.list_refunds(NOW - timedelta(hours=1), NOW + timedelta(minutes=1)).events

    mine = {(e.platform_order_id, e.platform_line_id): e.state for e in events if e.platform_order_id == tid}
    assert mine == {(tid, first): RefundState.REQUESTED, (tid, second): RefundState.REFUNDED}
    assert rig.adapter.get_order(tid).refund_state is RefundState.REQUESTED


def test_every_call_took_its_rate_budget(rig: Rig) -> None:
    rig.adapter.list_orders(NOW - timedelta(minutes=30), NOW)

    assert rig.limiter.acquired and all(key.startswith("taobao:taobao-sim:taobao.") for key, _ in rig.limiter.acquired)
    assert len(rig.limiter.acquired) == sum(rig.sim.calls.values())
