"""Token create / refresh: single writer, last-hour refresh, refresh once on an expired token."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.douyin.client import DouyinClient
from syncd.errors import AuthError, ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext
from tests.adapters.douyin.conftest import (
    ACCESS,
    NOW,
    REFRESH,
    SECRET,
    SHOP,
    fail,
    fixture,
    make_config,
    ok,
    token,
)
from tests.fakes import FakeTokenStore

NEW_ACCESS = "5e1e3d2f-refreshed-access-token-0002"
NEW_REFRESH = "8b9c0d1e-refreshed-refresh-token-0002"
SEARCH = {"update_time_start": 1, "update_time_end": 2, "page": 0, "size": 100}


def _token_of(request: httpx.Request) -> str | None:
    value: str | None = request.url.params.get("access_token")
    return value


def _refresh_answer(**changes: Any) -> httpx.Response:
    body = fixture("token_refresh.json")
    body["data"].update(changes)
    return httpx.Response(200, json=body)


def test_ensure_token_given_nothing_stored_and_self_grant_creates_and_saves_a_token(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens.clear()
    route = api.post("/token/create").mock(return_value=httpx.Response(200, json=fixture("token_create.json")))

    got = client.ensure_token()

    request = route.calls.last.request
    assert json.loads(request.content) == {"code": "", "grant_type": "authorization_self", "shop_id": "4463798"}
    assert "access_token" not in request.url.params
    assert got.access_token == "4f0f2c1e-created-access-token-0001"
    assert got.expires_at == NOW + timedelta(days=7)
    assert got.refresh_expires_at == NOW + timedelta(days=14)
    assert store.tokens[SHOP] == got


def test_token_create_given_test_shop_sends_test_shop_flag(
        ctx: AdapterContext, api: respx.MockRouter, store: FakeTokenStore,
        clock_at: time_machine.Traveller) -> None:
    store.tokens.clear()
    route = api.post("/token/create").mock(return_value=httpx.Response(200, json=fixture("token_create.json")))

    DouyinClient(make_config(test_shop=True), ctx).ensure_token()

    assert json.loads(route.calls.last.request.content)["test_shop"] == "1"


def test_ensure_token_given_token_grant_refreshes_the_configured_pair_to_learn_its_expiry(
        ctx: AdapterContext, api: respx.MockRouter, store: FakeTokenStore,
        clock_at: time_machine.Traveller) -> None:
    store.tokens.clear()
    config = make_config(shop_id=None, auth={"grant": "token", "access_token": "cfg-access-1",
                                             "refresh_token": "cfg-refresh-1"})
    # More than an hour before expiry the platform hands the same pair back, with its expiry.
    route = api.post("/token/refresh").mock(return_value=_refresh_answer(
        access_token="cfg-access-1", refresh_token="cfg-refresh-1", expires_in=4 * 86400))

    got = DouyinClient(config, ctx).ensure_token()

    assert json.loads(route.calls.last.request.content) == {"grant_type": "refresh_token",
                                                            "refresh_token": "cfg-refresh-1"}
    assert got.access_token == "cfg-access-1"
    assert got.expires_at == NOW + timedelta(days=4)
    assert got.refresh_expires_at is None  # the same refresh token: its lifetime is not known
    assert store.tokens[SHOP] == got


@pytest.mark.parametrize(("expires_in", "expected"), [
    (604800, NOW + timedelta(days=7)),  # relative seconds
    (int((NOW + timedelta(days=6, hours=5)).timestamp()), NOW + timedelta(days=6, hours=5)),  # absolute time
])
def test_refresh_given_expires_in_relative_or_absolute_reads_the_right_expiry(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore, expires_in: int, expected: Any) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=20))
    api.post("/token/refresh").mock(return_value=_refresh_answer(expires_in=expires_in))

    got = client.ensure_token()

    assert got.expires_at == expected
    assert got.refresh_expires_at == NOW + timedelta(days=14)  # a new refresh token was issued


def test_call_given_expired_token_refreshes_once_retries_and_saves_the_new_token(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    seen: list[str | None] = []

    def search(request: httpx.Request) -> httpx.Response:
        seen.append(_token_of(request))
        # The new pair must be saved before it is used.
        assert store.tokens[SHOP].access_token == _token_of(request)
        if len(seen) == 1:
            return fail(40003, "isv.access-token-expired", "access_token已过期")
        return ok({"total": 0, "shop_order_list": []})

    api.post("/order/searchList").mock(side_effect=search)
    refresh = api.post("/token/refresh").mock(return_value=_refresh_answer())

    assert client.call("order.searchList", SEARCH) == {"total": 0, "shop_order_list": []}

    assert seen == [ACCESS, NEW_ACCESS]
    assert refresh.call_count == 1
    assert json.loads(refresh.calls.last.request.content)["refresh_token"] == REFRESH
    assert [t.access_token for t in store.saved] == [NEW_ACCESS]


def test_call_given_token_refused_again_after_refresh_raises_auth_error(
        client: DouyinClient, api: respx.MockRouter) -> None:
    search = api.post("/order/searchList").mock(return_value=fail(40003, "isv.access-token-no-existed", "不存在"))
    refresh = api.post("/token/refresh").mock(return_value=_refresh_answer())

    with pytest.raises(AuthError) as caught:
        client.call("order.searchList", SEARCH)

    assert not isinstance(caught.value, ReauthorizationRequired)
    assert search.call_count == 2
    assert refresh.call_count == 1
    assert NEW_ACCESS not in str(caught.value) and ACCESS not in str(caught.value)


def test_call_given_token_more_than_an_hour_from_expiry_does_not_refresh(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(hours=1, minutes=1))
    search = api.post("/order/searchList").mock(return_value=ok({}))

    client.call("order.searchList", SEARCH)

    assert _token_of(search.calls.last.request) == ACCESS
    assert store.saved == []


def test_call_given_token_inside_the_last_hour_refreshes_before_calling(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(hours=2))
    search = api.post("/order/searchList").mock(return_value=ok({}))
    refresh = api.post("/token/refresh").mock(return_value=_refresh_answer())

    client.call("order.searchList", SEARCH)
    clock_at.shift(timedelta(minutes=75))  # 45 minutes left: inside refresh_before_minutes (50)
    client.call("order.searchList", SEARCH)

    assert [_token_of(c.request) for c in search.calls] == [ACCESS, NEW_ACCESS]
    assert refresh.call_count == 1


def test_refresh_given_lock_held_elsewhere_and_stored_token_still_valid_uses_it(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=30))
    store.lock_free = False
    search = api.post("/order/searchList").mock(return_value=ok({}))

    client.call("order.searchList", SEARCH)

    assert _token_of(search.calls.last.request) == ACCESS
    assert store.locks >= 1
    assert store.saved == []


def test_refresh_given_lock_held_elsewhere_and_token_expired_raises_transient(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=-timedelta(minutes=1))
    store.lock_free = False

    with pytest.raises(TransientError, match="token refresh in progress elsewhere"):
        client.ensure_token()
    assert store.saved == []


def test_call_given_expired_token_and_another_process_refreshed_uses_the_stored_pair(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    def search(request: httpx.Request) -> httpx.Response:
        if _token_of(request) == ACCESS:
            store.tokens[SHOP] = token("other-process-access", "other-process-refresh", expires_in=timedelta(days=7))
            return fail(40003, "isv.access-token-expired", "过期")
        return ok({})

    store.lock_free = False
    route = api.post("/order/searchList").mock(side_effect=search)

    client.call("order.searchList", SEARCH)

    assert [_token_of(c.request) for c in route.calls] == [ACCESS, "other-process-access"]


def test_refresh_given_concurrent_refresh_31012_uses_the_pair_the_other_writer_saved(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=10))

    def refresh(request: httpx.Request) -> httpx.Response:
        store.tokens[SHOP] = token("winner-access", "winner-refresh", expires_in=timedelta(days=7))
        return fail(50002, "isv.business-failed:31012", "有并发请求")

    api.post("/token/refresh").mock(side_effect=refresh)
    search = api.post("/order/searchList").mock(return_value=ok({}))

    client.call("order.searchList", SEARCH)

    assert _token_of(search.calls.last.request) == "winner-access"


def test_refresh_given_concurrent_refresh_31012_and_nothing_new_stored_raises_transient(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=-timedelta(minutes=10))
    api.post("/token/refresh").mock(return_value=fail(50002, "isv.business-failed:31012", "有并发请求"))

    with pytest.raises(TransientError, match="in progress elsewhere"):
        client.ensure_token()


def test_refresh_given_refresh_token_expired_raises_reauthorization_required(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=-timedelta(minutes=1))
    route = api.post("/token/refresh").mock(
        return_value=fail(50001, "dop.token-generate-failed:token-expired", f"refresh_token {REFRESH} 已过期"))

    with pytest.raises(ReauthorizationRequired) as caught:
        client.ensure_token()

    assert route.call_count == 1
    assert REFRESH not in str(caught.value) and SECRET not in str(caught.value)
    assert store.saved == []


def test_call_given_early_refresh_failing_transiently_still_uses_the_valid_token(
        client: DouyinClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=30))
    api.post("/token/refresh").mock(return_value=fail(20000, "isp.service-error:10009", "繁忙"))
    search = api.post("/order/searchList").mock(return_value=ok({}))

    client.call("order.searchList", SEARCH)

    assert _token_of(search.calls.last.request) == ACCESS
    assert store.saved == []

