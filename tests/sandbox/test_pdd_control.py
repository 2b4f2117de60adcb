"""The StorefrontSim controls of the Pinduoduo simulator, driven through the real PDD adapter over HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine

from syncd import clock as syncd_clock
from syncd.adapters.pdd import PddAdapter, PddShopConfig
from syncd.adapters.sandbox.control import RefundKind
from syncd.adapters.sandbox.pdd_sim import PddSimulator
from syncd.domain import OrderStatus, Parcel, ParcelLine, Receiver, RefundState, ShipResult
from syncd.errors import ReauthorizationRequired
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.adapters.pdd import simclient
from tests.adapters.pdd.simclient import MakePdd
from tests.fakes import FakeTokenStore
from tests.sandbox.helpers import FakeClock

make_pdd = simclient.make_pdd
pdd = simclient.pdd  # the shared fixtures

Live = tuple[PddSimulator, PddAdapter, FakeClock]


@pytest.fixture
def live(make_pdd: MakePdd, clock: FakeClock, tmp_path: Path) -> Iterator[Live]:
    """A simulator with no seeded orders and the real adapter on it, the process clock frozen at the sim's."""
    with time_machine.travel(datetime.fromtimestamp(clock(), UTC), tick=False) as traveller:
        sim, client = make_pdd(orders=[])
        config = PddShopConfig.model_validate(sim.shop_config(str(client.http.base_url).rstrip("/")))
        with httpx.Client(timeout=10) as http:
            policy = RetryPolicy(attempts=3, max_seconds=60, initial_wait=1, max_wait=0, sleep=lambda _: None)
            ctx = AdapterContext(http=http, tokens=FakeTokenStore(), data_dir=tmp_path, retry=policy)
            original = clock.advance

            def advance(seconds: float) -> None:  # the sim's clock and the adapter's move together
                original(seconds)
                traveller.shift(timedelta(seconds=seconds))

            clock.advance = advance  # type: ignore[method-assign]
            yield sim, PddAdapter(config, ctx), clock


def _window(clock: FakeClock, minutes: float = 30) -> tuple[datetime, datetime]:
    now = syncd_clock.from_epoch(clock())
    return now - timedelta(minutes=minutes), now


def test_seed_ready_adds_ready_orders_spread_evenly_in_update_order(live: Live) -> None:
    sim, adapter, clock = live
    ids = sim.seed_ready(5, now=clock(), spread_seconds=1200, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))

    assert len(ids) == len(set(ids)) == 5
    stamps = [sim.book.updated[i] for i in ids]
    assert stamps == sorted(stamps) and stamps[0] == int(clock()) - 1200 and stamps[-1] == int(clock()) - 60
    assert len({b - a for a, b in itertools.pairwise(stamps)}) == 1
    orders = {o.platform_order_id: o for o in adapter.list_orders(*_window(clock)).orders}
    assert set(orders) == set(ids)
    for order in orders.values():
        assert (order.status, order.ready_to_ship) == (OrderStatus.PAID, True)
        assert [(ln.merchant_sku, ln.quantity) for ln in order.lines] == [("SB-TEE-RED-M", 1), ("SB-MUG-WHT", 1)]
        assert [ln.platform_line_id for ln in order.lines] == sim.line_ids(order.platform_order_id)
    receivers = adapter.decrypt([(o.platform_order_id, o.receiver) for o in orders.values()])
    assert all(isinstance(r, Receiver) and r.missing() == [] for r in receivers.values())


def test_set_updated_moves_an_order_out_of_and_into_a_window(live: Live) -> None:
    sim, adapter, clock = live
    first, second = sim.seed_ready(2, now=clock(), spread_seconds=600)
    sim.set_updated(first, clock() - 7200)

    listed = {o.platform_order_id for o in adapter.list_orders(*_window(clock)).orders}
    assert listed == {second}
    earlier = {o.platform_order_id for o in adapter.list_orders(*_window(clock, 150)).orders}
    assert earlier == {first, second}


def test_touch_when_paging_bumps_the_order_once_before_that_list_call(live: Live) -> None:
    sim, adapter, clock = live
    ids = sim.seed_ready(250, now=clock(), spread_seconds=1500)
    start, _ = _window(clock)
    end = syncd_clock.from_epoch(clock() - 30)
    clock.advance(5)
    sim.touch_when_paging(ids[3], 1)  # read on page 1; bumped before the second call of the window

    result = adapter.list_orders(start, end)

    assert {o.platform_order_id for o in result.orders} == set(ids)  # none lost, the moved one from page 1
    assert sim.book.updated[ids[3]] == int(clock())
    adapter.list_orders(start, end)
    assert sim.book.updated[ids[3]] == int(clock())  # once only


def test_expired_token_is_refreshed_once_by_the_adapter(live: Live) -> None:
    sim, adapter, clock = live
    sim.seed_ready(1, now=clock(), spread_seconds=300)
    adapter.ensure_token()
    sim.expire_access_token()

    assert len(adapter.list_orders(*_window(clock)).orders) == 1
    assert sim.state()["calls"]["pdd.pop.auth.token.refresh"] == 2  # first use learns the expiry, then the 10019


def test_fail_next_transient_and_flow_control_are_retried_and_revocation_stops(live: Live) -> None:
    sim, adapter, clock = live
    sim.seed_ready(1, now=clock(), spread_seconds=300)
    adapter.ensure_token()
    sim.fail_next("transient")
    sim.fail_next("rate_limited")
    assert len(adapter.list_orders(*_window(clock)).orders) == 1

    sim.fail_next("auth_revoked")
    with pytest.raises(ReauthorizationRequired):
        adapter.list_orders(*_window(clock))


def test_set_refund_shows_on_the_order_and_in_the_refund_stream(live: Live) -> None:
    sim, adapter, clock = live
    (sn,) = sim.seed_ready(1, now=clock(), spread_seconds=300, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    line = sim.line_ids(sn)[1]
    clock.advance(10)

    steps: tuple[tuple[RefundKind, RefundState], ...] = (
        ("requested", RefundState.REQUESTED), ("refunded", RefundState.REFUNDED), ("closed", RefundState.NONE))
    for kind, state in steps:
        sim.set_refund(sn, line, kind)
        order = adapter.get_order(sn)
        assert order.refund_state is state and order.updated_at == syncd_clock.from_epoch(int(clock()))
        (event,) = adapter.list_refunds(*_window(clock)).events
        assert (event.platform_order_id, event.platform_line_id, event.state) == (sn, line, state)
        clock.advance(10)
    sim.set_refund(sn, None, "refunded")
    assert adapter.get_order(sn).status is OrderStatus.CANCELLED  # refunded before shipping


def test_tracking_numbers_after_the_adapter_ships_a_split_order(live: Live) -> None:
    sim, adapter, clock = live
    (sn,) = sim.seed_ready(1, now=clock(), spread_seconds=300, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    first, second = sim.line_ids(sn)
    one = Parcel("zhongtong", "ZT0001000100", [ParcelLine(first, 1)], "p1")
    two = Parcel("yuantong", "YT0002000200", [ParcelLine(second, 1)], "p2")

    assert adapter.ship(sn, [one], whole_order=False) == ShipResult(already_shipped=False)
    assert adapter.ship(sn, [two], whole_order=False) == ShipResult(already_shipped=False)
    assert adapter.ship(sn, [Parcel("yuantong", "YT0002000200", [], "p2", attempted=True)],
                        whole_order=False) == ShipResult(already_shipped=True)

    assert sim.tracking_numbers(sn) == ["ZT0001000100", "YT0002000200"]
    assert sim.state()["ship_calls"] == {sn: 2}
    assert adapter.get_order(sn).shipped_tracking == ["ZT0001000100", "YT0002000200"]


def test_a_lost_ship_answer_is_settled_by_reading_back_not_by_shipping_twice(live: Live) -> None:
    sim, adapter, clock = live
    (sn,) = sim.seed_ready(1, now=clock(), spread_seconds=300)
    sim.lost_reply_rate = 1.0
    lines = [ParcelLine(i, 1) for i in sim.line_ids(sn)]

    result = adapter.ship(sn, [Parcel("zhongtong", "ZT0001000100", lines, "p1")], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert sim.tracking_numbers(sn) == ["ZT0001000100"] and sim.state()["ship_calls"] == {sn: 1}


def test_shop_config_validates_and_carries_the_pre_issued_pair(make_pdd: MakePdd) -> None:
    sim, _ = make_pdd(orders=[])
    config = PddShopConfig.model_validate(sim.shop_config("http://127.0.0.1:1/pdd"))
    assert (config.platform, config.base_url, config.pull.window_minutes) == ("pdd", "http://127.0.0.1:1/pdd", 30)
    assert config.auth is not None


def test_unknown_failure_kind_is_refused(make_pdd: MakePdd) -> None:
    sim, _ = make_pdd(orders=[])
    with pytest.raises(ValueError, match="unknown failure kind"):
        sim.fail_next("meteor")  # type: ignore[arg-type]


def test_with_published_limits_on_the_adapter_stays_within_them(live: Live) -> None:
    sim, adapter, clock = live
    sim.qps = True
    sim.seed_ready(20, now=clock(), spread_seconds=3000)
    clock.advance(1)

    assert len(adapter.list_orders(*_window(clock, 120)).orders) == 20
    assert len(adapter.list_refunds(*_window(clock, 120)).events) == 0
    assert "70031" not in sim.state()["errors"]
