"""The session: its expiry from the shop file or a refresh, refresh once where allowed, warn before expiry."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.taobao.client import TaobaoClient
from syncd.adapters.taobao.session import fingerprint
from syncd.domain import Token
from syncd.errors import ProtocolError, ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext
from tests.adapters.taobao.conftest import (
    FULLINFO,
    NOW,
    REFRESH,
    REFRESH_METHOD,
    SECRET,
    SESSION,
    SESSION_EXPIRES,
    SHOP,
    answer,
    fail,
    fixture,
    form,
    make_config,
    ok,
    route,
)
from tests.fakes import FakeTokenStore

NEW_SESSION = "6201a10refreshed-session-token-0002"
NEW_REFRESH = "6202a10refreshed-refresh-token-0002"
TID = {"tid": "2451234567890125000", "fields": "tid,status,modified,orders"}


def _refreshable(ctx: AdapterContext, **changes: object) -> TaobaoClient:
    return TaobaoClient(make_config(can_refresh=True, refresh_token=REFRESH, **changes), ctx)


def _stored(access: str, expires_in: timedelta, refresh: str = REFRESH) -> Token:
    return Token(access_token=access, refresh_token=refresh, expires_at=NOW + expires_in,
                 extra={"config_session": fingerprint(SESSION), "source": "refresh"})


def test_ensure_token_given_fixed_session_returns_the_configured_expiry_and_stores_it(
        client: TaobaoClient, store: FakeTokenStore) -> None:
    got = client.ensure_token()

    assert got.access_token == SESSION
    assert got.expires_at == SESSION_EXPIRES
    assert store.tokens[SHOP].expires_at == SESSION_EXPIRES  # `syncd status` and the alert rules see it
    assert SESSION not in got.extra.values()


def test_ensure_token_given_fixed_session_saves_it_once_and_again_when_the_shop_file_changes(
        ctx: AdapterContext, store: FakeTokenStore, clock_at: time_machine.Traveller) -> None:
    client = TaobaoClient(make_config(), ctx)
    client.ensure_token()
    client.ensure_token()
    assert len(store.saved) == 1

    later = SESSION_EXPIRES + timedelta(days=10)
    TaobaoClient(make_config(session_expires_at=later.isoformat()), ctx).ensure_token()

    assert len(store.saved) == 2 and store.tokens[SHOP].expires_at == later


def test_ensure_token_given_fixed_session_past_its_expiry_raises_reauthorization_required(
        client: TaobaoClient, clock_at: time_machine.Traveller) -> None:
    clock_at.move_to(SESSION_EXPIRES)

    with pytest.raises(ReauthorizationRequired, match="session expired at 2025-12-22 17:00:00") as caught:
        client.ensure_token()

    assert SESSION not in str(caught.value)


def test_ensure_token_given_fixed_session_near_its_expiry_warns_once(
        client: TaobaoClient, clock_at: time_machine.Traveller, caplog: pytest.LogCaptureFixture) -> None:
    clock_at.move_to(SESSION_EXPIRES - timedelta(hours=71))

    with caplog.at_level(logging.WARNING, logger="syncd.adapters.taobao"):
        client.ensure_token()
        client.ensure_token()

    warnings = [r for r in caplog.records if "cannot refresh" in r.getMessage()]
    assert len(warnings) == 1
    assert "2025-12-22 17:00:00" in warnings[0].getMessage()


def test_ensure_token_given_fixed_session_far_from_expiry_does_not_warn(
        client: TaobaoClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="syncd.adapters.taobao"):
        client.ensure_token()

    assert not caplog.records


def test_ensure_token_given_stored_refreshed_session_of_the_same_config_uses_it(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(NEW_SESSION, timedelta(days=5))
    got_route = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))
    client = _refreshable(ctx)

    assert client.ensure_token().access_token == NEW_SESSION
    client.call(FULLINFO, TID)

    assert form(got_route.calls.last.request)["session"] == NEW_SESSION


def test_ensure_token_given_another_session_in_the_shop_file_drops_the_stored_one(
        client: TaobaoClient, store: FakeTokenStore) -> None:
    old = _stored("older-session-from-before", timedelta(days=5))
    old.extra["config_session"] = fingerprint("the-session-configured-before")
    store.tokens[SHOP] = old

    assert client.ensure_token().access_token == SESSION


def test_ensure_token_given_refreshable_session_without_expiry_refreshes_to_learn_it(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    got_route = route(api, REFRESH_METHOD).mock(return_value=answer("top_auth_token_refresh.json"))

    got = _refreshable(ctx, session_expires_at=None).ensure_token()

    sent = form(got_route.calls.last.request)
    assert sent["refresh_token"] == REFRESH and "session" not in sent
    assert (got.access_token, got.refresh_token) == (NEW_SESSION, NEW_REFRESH)
    assert got.expires_at == NOW + timedelta(seconds=863693)
    assert got.refresh_expires_at == NOW + timedelta(seconds=2592000)
    assert store.tokens[SHOP] is got
    assert got.extra["taobao_user_id"] == "2200123456789"


def test_ensure_token_given_refreshable_session_due_refreshes_it_ahead(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(minutes=30), refresh="stored-refresh-1")
    got_route = route(api, REFRESH_METHOD).mock(return_value=answer("top_auth_token_refresh.json"))

    got = _refreshable(ctx).ensure_token()

    assert form(got_route.calls.last.request)["refresh_token"] == "stored-refresh-1"
    assert got.access_token == NEW_SESSION


def test_ensure_token_given_refreshable_session_not_due_makes_no_call(
        ctx: AdapterContext, store: FakeTokenStore, clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(hours=3))

    assert _refreshable(ctx).ensure_token().access_token == SESSION


def test_ensure_token_given_early_refresh_failing_for_now_keeps_the_current_session(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(minutes=30))
    route(api, REFRESH_METHOD).mock(return_value=httpx.Response(503))

    assert _refreshable(ctx).ensure_token().access_token == SESSION


def test_call_given_session_refused_and_refresh_allowed_refreshes_once_and_retries(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(days=5))
    detail = route(api, FULLINFO).mock(side_effect=[answer("error_invalid_session.json"),
                                                    answer("trade_fullinfo_get.json")])
    refresh = route(api, REFRESH_METHOD).mock(return_value=answer("top_auth_token_refresh.json"))

    _refreshable(ctx).call(FULLINFO, TID)

    assert [form(c.request)["session"] for c in detail.calls] == [SESSION, NEW_SESSION]
    assert refresh.call_count == 1
    assert store.tokens[SHOP].access_token == NEW_SESSION


def test_call_given_session_refused_again_after_refresh_raises_reauthorization_required(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(days=5))
    detail = route(api, FULLINFO).mock(return_value=answer("error_invalid_session.json"))
    refresh = route(api, REFRESH_METHOD).mock(return_value=answer("top_auth_token_refresh.json"))

    with pytest.raises(ReauthorizationRequired, match="refused again right after a refresh"):
        _refreshable(ctx).call(FULLINFO, TID)

    assert detail.call_count == 2 and refresh.call_count == 1


def test_call_given_refresh_refused_raises_reauthorization_required_without_secrets(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(days=5))
    route(api, FULLINFO).mock(return_value=answer("error_invalid_session.json"))
    route(api, REFRESH_METHOD).mock(return_value=fail(15, "Remote service error", "isv.refresh-token-invalid",
                                                      f"refresh_token {REFRESH} 无效"))

    with pytest.raises(ReauthorizationRequired, match="could not be refreshed") as caught:
        _refreshable(ctx).call(FULLINFO, TID)

    text = str(caught.value) + str(caught.value.__cause__)
    assert REFRESH not in text and SESSION not in text and SECRET not in text


def test_call_given_another_process_refreshing_uses_what_it_stored(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(days=5))
    store.lock_free = False

    def refused_then_other_writer_stores(request: httpx.Request) -> httpx.Response:
        if form(request)["session"] == SESSION:
            store.tokens[SHOP] = _stored(NEW_SESSION, timedelta(days=10))
            return answer("error_invalid_session.json")
        return answer("trade_fullinfo_get.json")

    detail = route(api, FULLINFO).mock(side_effect=refused_then_other_writer_stores)

    _refreshable(ctx).call(FULLINFO, TID)

    assert [form(c.request)["session"] for c in detail.calls] == [SESSION, NEW_SESSION]


def test_call_given_another_process_refreshing_and_nothing_new_is_transient(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(days=5))
    store.lock_free = False
    route(api, FULLINFO).mock(return_value=answer("error_invalid_session.json"))

    with pytest.raises(TransientError, match="refresh in progress elsewhere"):
        _refreshable(ctx).call(FULLINFO, TID)


def test_refresh_given_token_result_as_an_object_reads_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    result = json.loads(fixture("top_auth_token_refresh.json")["top_auth_token_refresh_response"]["token_result"])
    route(api, REFRESH_METHOD).mock(return_value=ok(REFRESH_METHOD, {"token_result": result}))

    assert _refreshable(ctx, session_expires_at=None).ensure_token().access_token == NEW_SESSION


def test_refresh_given_answer_without_expiry_raises_protocol_error(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    result = {"access_token": NEW_SESSION, "refresh_token": NEW_REFRESH}
    route(api, REFRESH_METHOD).mock(return_value=ok(REFRESH_METHOD, {"token_result": json.dumps(result)}))

    with pytest.raises(ProtocolError, match="expires_in"):
        _refreshable(ctx, session_expires_at=None).ensure_token()


def _granted(seconds: int) -> httpx.Response:
    result = {"access_token": NEW_SESSION, "refresh_token": NEW_REFRESH, "expires_in": seconds, "re_expires_in": 86400}
    return ok(REFRESH_METHOD, {"token_result": json.dumps(result)})


def test_ensure_token_given_sessions_granted_for_less_than_refresh_before_refreshes_at_a_fifth_of_their_life(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(minutes=5))  # refresh_before_minutes is 60
    refresh = route(api, REFRESH_METHOD).mock(side_effect=lambda request: _granted(600))
    client = _refreshable(ctx)

    for _ in range(30):  # a call every 30 s for 15 minutes
        client.ensure_token()
        clock_at.shift(timedelta(seconds=30))

    assert refresh.call_count == 2  # at 0 and at 8 minutes, not before every call


def test_ensure_token_given_early_refresh_failing_at_every_call_warns_once(
        ctx: AdapterContext, store: FakeTokenStore, api: respx.MockRouter,
        clock_at: time_machine.Traveller, caplog: pytest.LogCaptureFixture) -> None:
    store.tokens[SHOP] = _stored(SESSION, timedelta(minutes=30))
    route(api, REFRESH_METHOD).mock(return_value=httpx.Response(503))
    client = _refreshable(ctx)

    with caplog.at_level(logging.WARNING, logger="syncd.adapters.taobao"):
        for _ in range(3):
            assert client.ensure_token().access_token == SESSION

    assert len([r for r in caplog.records if "early session refresh failed" in r.getMessage()]) == 1
