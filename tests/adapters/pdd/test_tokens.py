"""Token refresh: before expires_at, once on 10019, single writer, and when a person must authorise again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.client import PddClient
from syncd.errors import AuthError, ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import (
    ACCESS,
    NOW,
    REFRESH,
    SECRET,
    SHOP,
    fail,
    fixture,
    form,
    make_config,
    ok,
    route,
    token,
)
from tests.fakes import FakeTokenStore

LIST = "pdd.order.number.list.increment.get"
LIST_KEY = "order_sn_increment_get_response"
REFRESH_API = "pdd.pop.auth.token.refresh"
NEW_ACCESS = "8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e-refreshed"
NEW_REFRESH = "9c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f-refreshed"


def _token_of(request: httpx.Request) -> str | None:
    return form(request).get("access_token")


def _refreshed(**changes: Any) -> httpx.Response:
    body = fixture("token_refresh.json")
    body["pop_auth_token_refresh_response"].update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del body["pop_auth_token_refresh_response"][key]
    return httpx.Response(200, json=body)


def test_call_given_10019_refreshes_once_saves_the_pair_and_retries_with_it(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    seen: list[str | None] = []

    def listing(request: httpx.Request) -> httpx.Response:
        seen.append(_token_of(request))
        assert store.tokens[SHOP].access_token == _token_of(request)  # saved before it is used
        if len(seen) == 1:
            return fail(10019, "access_token已过期")
        return ok(LIST_KEY, {"total_count": 0})

    route(api, LIST).mock(side_effect=listing)
    refresh = route(api, REFRESH_API).mock(return_value=_refreshed())

    assert client.call(LIST, {})["total_count"] == 0

    assert seen == [ACCESS, NEW_ACCESS]
    assert refresh.call_count == 1
    sent = form(refresh.calls.last.request)
    assert sent["refresh_token"] == REFRESH and "access_token" not in sent
    saved = store.saved[-1]
    assert (saved.access_token, saved.refresh_token) == (NEW_ACCESS, NEW_REFRESH)
    assert saved.expires_at == NOW + timedelta(days=1)
    assert saved.refresh_expires_at == NOW + timedelta(days=30)
    assert saved.extra == {"owner_id": "660001", "owner_name": "拼多多测试店", "issued_at": NOW.isoformat()}


def test_call_given_10019_again_after_the_refresh_raises_auth_error(
        client: PddClient, api: respx.MockRouter) -> None:
    listing = route(api, LIST).mock(return_value=fail(10019, "access_token已过期"))
    refresh = route(api, REFRESH_API).mock(return_value=_refreshed())

    with pytest.raises(AuthError) as caught:
        client.call(LIST, {})

    assert not isinstance(caught.value, ReauthorizationRequired)
    assert (listing.call_count, refresh.call_count) == (2, 1)
    assert NEW_ACCESS not in str(caught.value) and ACCESS not in str(caught.value)


def test_call_given_token_far_from_expiry_does_not_refresh(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=61))
    listing = route(api, LIST).mock(return_value=ok(LIST_KEY, {}))

    client.call(LIST, {})

    assert _token_of(listing.calls.last.request) == ACCESS
    assert store.saved == []


def test_call_given_expires_at_near_refreshes_before_calling(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore, clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(hours=2))
    listing = route(api, LIST).mock(return_value=ok(LIST_KEY, {}))
    refresh = route(api, REFRESH_API).mock(return_value=_refreshed())

    client.call(LIST, {})
    clock_at.shift(timedelta(minutes=61))  # 59 minutes left: inside refresh_before_minutes (60)
    client.call(LIST, {})

    assert [_token_of(c.request) for c in listing.calls] == [ACCESS, NEW_ACCESS]
    assert refresh.call_count == 1


def test_ensure_token_given_nothing_stored_refreshes_the_configured_pair(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens.clear()
    refresh = route(api, REFRESH_API).mock(return_value=_refreshed())

    got = client.ensure_token()

    assert form(refresh.calls.last.request)["refresh_token"] == "configured-refresh-1"
    assert got.access_token == NEW_ACCESS and store.tokens[SHOP] == got


def test_ensure_token_given_no_pair_configured_or_stored_raises_reauthorization_required(
        ctx: AdapterContext, api: respx.MockRouter, store: FakeTokenStore, clock_at: time_machine.Traveller) -> None:
    store.tokens.clear()

    with pytest.raises(ReauthorizationRequired, match="no token pair: authorise the app"):
        PddClient(make_config(auth=None), ctx).ensure_token()


def test_refresh_given_refresh_token_lapsed_raises_reauthorization_required_without_calling(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    lapsed = token(expires_in=-timedelta(minutes=1))
    lapsed.refresh_expires_at = NOW - timedelta(seconds=1)
    store.tokens[SHOP] = lapsed

    with pytest.raises(ReauthorizationRequired, match="refresh token lapsed"):
        client.ensure_token()


@pytest.mark.parametrize(("code", "msg"), [(10036, "refresh_token已过期"), (52101, "刷新失败"),
                                           (10019, "access_token已过期")])
def test_refresh_given_the_platform_refuses_raises_reauthorization_required_without_secrets(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore, code: int, msg: str) -> None:
    store.tokens[SHOP] = token(expires_in=-timedelta(minutes=1))
    refresh = route(api, REFRESH_API).mock(return_value=fail(code, msg, f"refresh_token {REFRESH} 无效"))

    with pytest.raises(ReauthorizationRequired) as caught:
        client.ensure_token()

    assert refresh.call_count == 1
    assert REFRESH not in str(caught.value) and SECRET not in str(caught.value)
    assert store.saved == []


def test_refresh_given_transient_failure_with_a_token_still_valid_keeps_using_it(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=30))
    route(api, REFRESH_API).mock(return_value=fail(50000, "系统繁忙"))
    listing = route(api, LIST).mock(return_value=ok(LIST_KEY, {}))

    client.call(LIST, {})

    assert _token_of(listing.calls.last.request) == ACCESS
    assert store.saved == []


def test_refresh_given_lock_held_elsewhere_and_token_still_valid_uses_it(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=30))
    store.lock_free = False
    listing = route(api, LIST).mock(return_value=ok(LIST_KEY, {}))

    client.call(LIST, {})

    assert _token_of(listing.calls.last.request) == ACCESS
    assert store.locks >= 1 and store.saved == []


def test_refresh_given_lock_held_elsewhere_and_token_expired_raises_transient(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=-timedelta(minutes=1))
    store.lock_free = False

    with pytest.raises(TransientError, match="token refresh in progress elsewhere"):
        client.ensure_token()
    assert store.saved == []


def test_call_given_10019_and_another_process_refreshed_uses_the_stored_pair(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    def listing(request: httpx.Request) -> httpx.Response:
        if _token_of(request) == ACCESS:
            store.tokens[SHOP] = token("other-process-access", "other-process-refresh")
            return fail(10019, "access_token已过期")
        return ok(LIST_KEY, {})

    store.lock_free = False
    r = route(api, LIST).mock(side_effect=listing)

    client.call(LIST, {})

    assert [_token_of(c.request) for c in r.calls] == [ACCESS, "other-process-access"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"expires_at": str(int((NOW + timedelta(hours=5)).timestamp()))}, NOW + timedelta(hours=5)),
    ({"expires_at": int((NOW + timedelta(hours=6)).timestamp()) * 1000}, NOW + timedelta(hours=6)),
    ({"expires_at": None, "expires_in": 7200}, NOW + timedelta(hours=2)),
])
def test_refresh_given_expiry_in_seconds_milliseconds_or_relative_reads_it(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore, changes: dict[str, Any],
        expected: Any) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=5))
    route(api, REFRESH_API).mock(return_value=_refreshed(**changes))

    assert client.ensure_token().expires_at == expected


def test_refresh_given_the_same_refresh_token_back_without_its_expiry_keeps_the_old_one(
        client: PddClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[SHOP] = token(expires_in=timedelta(minutes=5))
    route(api, REFRESH_API).mock(return_value=_refreshed(
        refresh_token=REFRESH, refresh_token_expires_at=None, refresh_token_expires_in=None))

    got = client.ensure_token()

    assert got.refresh_token == REFRESH
    assert got.refresh_expires_at == NOW + timedelta(days=20)
