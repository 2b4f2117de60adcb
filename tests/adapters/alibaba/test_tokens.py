"""Token pair (reference §A.3): refresh ahead of expiry, postpone in the last 30 days, re-authorisation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alibaba.client import ORDER_DETAIL, AlibabaClient
from syncd.adapters.alibaba.tokens import store_key
from syncd.errors import FatalError, ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alibaba.conftest import (
    ACCESS,
    APP_KEY,
    KEY,
    NOW,
    POSTPONE_URL,
    REFRESH,
    SECRET,
    SUPPLIER,
    TOKEN_URL,
    fixture,
    form,
    make_config,
    route,
    token,
)
from tests.fakes import FakeTokenStore

DETAIL_OK = {"success": "true", "result": {"baseInfo": {"id": 1, "status": "waitbuyerpay"}}}
LAPSES = NOW.replace(year=2026, month=5, day=20)  # refresh_token_timeout of token.json


def _refreshed(**changes: Any) -> httpx.Response:
    body = fixture("token.json")
    body.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del body[key]
    return httpx.Response(200, json=body)


def test_store_key_is_supplier_prefixed() -> None:
    assert store_key("acme") == "supplier:acme"
    assert store_key(SUPPLIER) == KEY


def test_a_fresh_token_is_used_without_any_token_call(client: AlibabaClient, api: respx.MockRouter,
                                                      store: FakeTokenStore) -> None:
    assert client.ensure_token().access_token == ACCESS
    assert store.saved == []


def test_a_token_due_within_the_margin_is_refreshed_and_saved_with_refresh_expiry(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=30))
    refresh = api.post(TOKEN_URL).mock(return_value=_refreshed())

    got = client.ensure_token()

    sent = form(refresh.calls.last.request)
    assert sent == {"grant_type": "refresh_token", "client_id": APP_KEY, "client_secret": SECRET,
                    "refresh_token": REFRESH}
    assert got.access_token == "new-access-token-0002"
    saved = store.tokens[KEY]
    assert saved.expires_at == NOW + timedelta(hours=10)
    assert saved.refresh_expires_at == LAPSES
    assert saved.extra == {"memberId": "b2b-2209000000001", "aliId": "2209000000001", "issued_at": NOW.isoformat()}


def test_a_refresh_answer_without_refresh_fields_keeps_the_known_refresh_expiry(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=5))
    api.post(TOKEN_URL).mock(return_value=_refreshed(refresh_token=None, refresh_token_timeout=None))

    client.ensure_token()

    assert store.tokens[KEY].refresh_token == REFRESH
    assert store.tokens[KEY].refresh_expires_at == NOW + timedelta(days=120)


def test_nothing_stored_refreshes_with_the_configured_refresh_token(
        ctx: AdapterContext, api: respx.MockRouter, store: FakeTokenStore, clock_at: object) -> None:
    store.tokens.clear()
    refresh = api.post(TOKEN_URL).mock(return_value=_refreshed())

    AlibabaClient(make_config(), ctx).ensure_token()

    assert form(refresh.calls.last.request)["refresh_token"] == "configured-refresh-1"
    assert store.tokens[KEY].access_token == "new-access-token-0002"


def test_nothing_stored_and_nothing_configured_asks_a_person(
        ctx: AdapterContext, store: FakeTokenStore, clock_at: object) -> None:
    store.tokens.clear()

    with pytest.raises(ReauthorizationRequired, match="authorise"):
        AlibabaClient(make_config(refresh_token=None), ctx).ensure_token()


def test_a_refused_refresh_token_asks_a_person(client: AlibabaClient, api: respx.MockRouter,
                                               store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=5))
    api.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={
        "error": "invalid_grant", "error_description": f"refresh_token {REFRESH} expired"}))

    with pytest.raises(ReauthorizationRequired, match="authorise the app again") as err:
        client.ensure_token()

    assert REFRESH not in str(err.value)


def test_a_refused_client_is_a_configuration_error_not_a_reauthorisation(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=5))
    api.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))

    with pytest.raises(FatalError, match="app_secret") as err:
        client.ensure_token()

    assert not isinstance(err.value, ReauthorizationRequired)


def test_a_lapsed_refresh_token_asks_a_person_without_calling(client: AlibabaClient,
                                                              store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=-1), refresh_left=timedelta(seconds=-1))

    with pytest.raises(ReauthorizationRequired, match="lapsed"):
        client.ensure_token()


def test_a_transient_refresh_failure_keeps_using_the_still_valid_token(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=30))
    api.post(TOKEN_URL).mock(return_value=httpx.Response(503))

    assert client.ensure_token().access_token == ACCESS


def test_an_expired_token_and_a_refresh_held_elsewhere_is_transient(client: AlibabaClient,
                                                                    store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=-1))
    store.lock_free = False

    with pytest.raises(TransientError, match="in progress elsewhere"):
        client.ensure_token()


def test_postpone_runs_once_fewer_than_30_days_remain_and_saves_the_new_refresh_token(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(refresh_left=timedelta(days=20))
    postpone = api.post(POSTPONE_URL).mock(return_value=httpx.Response(200, json={
        "refresh_token": "postponed-refresh-0002", "refresh_token_timeout": "20260520170000000+0800"}))

    got = client.ensure_token()

    sent = form(postpone.calls.last.request)
    assert sent == {"client_id": APP_KEY, "client_secret": SECRET, "refresh_token": REFRESH,
                    "access_token": ACCESS}
    assert got.refresh_token == "postponed-refresh-0002" and got.access_token == ACCESS
    assert store.tokens[KEY].refresh_expires_at == LAPSES


def test_no_postpone_while_30_days_or_more_remain(client: AlibabaClient, api: respx.MockRouter,
                                                 store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(refresh_left=timedelta(days=30))

    client.ensure_token()  # the api router would fail on any unmocked call

    assert store.saved == []


def test_a_refused_postpone_is_not_fatal_and_is_not_repeated_for_an_hour(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[KEY] = token(refresh_left=timedelta(days=10))
    postpone = api.post(POSTPONE_URL).mock(return_value=httpx.Response(400, json={
        "error": "invalid_request", "error_description": "too early"}))

    assert client.ensure_token().refresh_token == REFRESH
    client.ensure_token()
    assert postpone.call_count == 1
    clock_at.shift(timedelta(hours=1, seconds=1))
    client.ensure_token()
    assert postpone.call_count == 2


def test_a_call_refreshes_a_due_token_before_it_is_sent(client: AlibabaClient, api: respx.MockRouter,
                                                        store: FakeTokenStore) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=10))
    api.post(TOKEN_URL).mock(return_value=_refreshed())
    r = route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json=DETAIL_OK))

    client.call(ORDER_DETAIL, {"orderId": "1"})

    assert form(r.calls.last.request)["access_token"] == "new-access-token-0002"


def test_refreshes_without_a_refresh_token_timeout_warn_once_per_process(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore, clock_at: time_machine.Traveller,
        caplog: pytest.LogCaptureFixture) -> None:
    store.tokens[KEY] = token(expires_in=timedelta(minutes=30), refresh_left=None)
    refresh = api.post(TOKEN_URL).mock(return_value=_refreshed(refresh_token_timeout=None))

    with caplog.at_level(logging.WARNING, logger="syncd.adapters.alibaba"):
        client.ensure_token()
        clock_at.shift(timedelta(hours=9, minutes=30))  # the 10-hour pair is due again
        client.ensure_token()

    assert refresh.call_count == 2
    said = [r for r in caplog.records if "did not say when the refresh token lapses" in r.getMessage()]
    assert len(said) == 1


def test_pairs_granted_for_ten_minutes_are_refreshed_every_eight_minutes_not_before_every_call(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore,
        clock_at: time_machine.Traveller) -> None:
    # the 1688 world of issue 15: 10-minute tokens against refresh_before_minutes 60 → 279 refreshes in 534 calls
    store.tokens[KEY] = token(expires_in=timedelta(minutes=5))
    refresh = api.post(TOKEN_URL).mock(side_effect=lambda request: _refreshed(expires_in="600", expires_time=None))

    for _ in range(30):  # a call every 30 s for 15 minutes
        client.ensure_token()
        clock_at.shift(timedelta(seconds=30))

    assert refresh.call_count == 2  # at 0 (the stored pair was due) and at 8 minutes
