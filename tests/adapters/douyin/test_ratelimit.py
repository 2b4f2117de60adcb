"""The rate budget: every request waits for its API's budget in the shared RateLimiter first."""

from __future__ import annotations

from datetime import timedelta

import respx
import time_machine

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.adapters.douyin.client import DEFAULT_RATE, DEFAULT_RATES, DouyinClient, rate_for
from syncd.registry import AdapterContext
from tests.adapters.douyin.conftest import NOW, RecordingLimiter, fail, make_config, ok
from tests.fakes import FakeTokenStore

EMPTY = {"page": 0, "size": 100, "total": 0, "shop_order_list": []}


def test_every_request_acquires_its_api_budget_under_the_syncd_shop_id(
        client: DouyinClient, api: respx.MockRouter, limiter: RecordingLimiter) -> None:
    api.post("/order/searchList").mock(return_value=ok(EMPTY))
    api.post("/order/batchDecrypt").mock(return_value=ok({"decrypt_infos": []}))

    client.call("order.searchList", {})
    client.call("order.batchDecrypt", {"cipher_infos": []})

    assert limiter.acquired == [("douyin:dy-main:order.searchList", 10.0), ("douyin:dy-main:order.batchDecrypt", 5.0)]


def test_each_retry_and_each_token_call_acquires_again(
        client: DouyinClient, api: respx.MockRouter, limiter: RecordingLimiter, store: FakeTokenStore) -> None:
    store.tokens.clear()
    api.post("/token/create").mock(return_value=ok({"access_token": "a1", "refresh_token": "r1",
                                                    "expires_in": 7 * 86400}))
    api.post("/order/searchList").mock(side_effect=[fail(20000, "isp.service-error:20004"), ok(EMPTY)])

    client.call("order.searchList", {})

    assert [key for key, _ in limiter.acquired] == [
        "douyin:dy-main:token.create", "douyin:dy-main:order.searchList", "douyin:dy-main:order.searchList"]


def test_shop_rate_limits_override_the_defaults(
        ctx: AdapterContext, api: respx.MockRouter, limiter: RecordingLimiter,
        clock_at: time_machine.Traveller) -> None:
    config = make_config(rate_limits={"order.searchList": 2.5})
    api.post("/order/searchList").mock(return_value=ok(EMPTY))

    DouyinClient(config, ctx).call("order.searchList", {})

    assert limiter.acquired == [("douyin:dy-main:order.searchList", 2.5)]
    assert rate_for(config, "order.logisticsAdd") == DEFAULT_RATES["order.logisticsAdd"] == 20.0
    assert rate_for(config, "order.logisticsCompanyList") == DEFAULT_RATE


def test_calls_beyond_the_budget_wait_instead_of_being_refused(
        adapter: DouyinAdapter, api: respx.MockRouter, limiter: RecordingLimiter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok(EMPTY))
    window = (NOW - timedelta(hours=1), NOW)

    for _ in range(15):
        adapter.count_orders(*window)

    assert route.call_count == 15
    # 10/s, evenly spaced (no burst): every call after the first waits 0.1 s on the (fake) clock
    assert 1.35 < limiter.waited < 1.45


def test_other_shops_have_their_own_budget(
        ctx: AdapterContext, api: respx.MockRouter, limiter: RecordingLimiter,
        clock_at: time_machine.Traveller) -> None:
    ctx.tokens.save("dy-second", ctx.tokens.load("dy-main"))  # type: ignore[arg-type]
    api.post("/order/searchList").mock(return_value=ok(EMPTY))
    first, second = DouyinClient(make_config(), ctx), DouyinClient(make_config(id="dy-second"), ctx)

    for _ in range(10):
        first.call("order.searchList", {})
    before = limiter.waited  # the first shop's calls were spaced at 10/s
    second.call("order.searchList", {})

    assert before > 0 and limiter.waited == before  # the second shop did not wait behind the first
    assert limiter.acquired[-1] == ("douyin:dy-second:order.searchList", 10.0)
