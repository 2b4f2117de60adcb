"""Request shape, envelope, the rate budget and the error table of the Taobao client."""

from __future__ import annotations

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.taobao.client import Action, TaobaoClient, ban_seconds, classify, param_text, response_key
from syncd.adapters.taobao.signing import sign
from syncd.errors import (
    AuthError,
    FatalError,
    ProtocolError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
    TransientError,
)
from syncd.registry import AdapterContext
from tests.adapters.taobao.conftest import (
    APP_KEY,
    BASE,
    COMPANIES,
    FULLINFO,
    LIST,
    SECRET,
    SESSION,
    SHIP,
    SHOP,
    answer,
    fail,
    form,
    make_config,
    ok,
    route,
)
from tests.fakes import FakeLimiter

TID = {"tid": "2451234567890125000", "fields": "tid,status", "include_oaid": True}


def test_call_posts_every_parameter_signed_in_the_form_body(client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))

    data = client.call(FULLINFO, TID)

    assert data["trade"]["tid_str"] == "2451234567890125000"
    request = got.calls.last.request
    assert str(request.url) == BASE and not request.url.params  # nothing in the URL: no session, no sign
    assert request.headers["content-type"] == "application/x-www-form-urlencoded;charset=utf-8"
    sent = form(request)
    assert sent == {"tid": "2451234567890125000", "fields": "tid,status", "include_oaid": "true",
                    "method": FULLINFO, "app_key": APP_KEY, "timestamp": "2025-11-22 17:00:00", "format": "json",
                    "v": "2.0", "sign_method": "hmac-sha256", "session": SESSION, "sign": sent["sign"]}
    assert sent["sign"] == sign({k: v for k, v in sent.items() if k != "sign"}, SECRET, "hmac-sha256")


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_call_given_sign_method_signs_with_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller, method: str) -> None:
    got = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))

    TaobaoClient(make_config(sign_method=method), ctx).call(FULLINFO, TID)

    sent = form(got.calls.last.request)
    assert sent["sign_method"] == method
    assert sent["sign"] == sign({k: v for k, v in sent.items() if k != "sign"}, SECRET, method)


def test_call_without_session_leaves_it_out(client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, COMPANIES).mock(return_value=answer("logistics_companies_get.json"))

    client.call(COMPANIES, {"fields": "code,name"}, session=False)

    assert "session" not in form(got.calls.last.request)


def test_param_text_gives_lists_comma_joined_objects_as_json_and_lower_case_booleans() -> None:
    assert param_text(["tid", "status"]) == "tid,status"
    assert param_text(True) == "true" and param_text(False) == "false"
    assert param_text(3) == "3"
    assert param_text([{"oaid": "x", "tid": "1"}]) == '[{"oaid":"x","tid":"1"}]'


def test_response_key_drops_the_taobao_prefix_and_joins_with_underscores() -> None:
    assert response_key(LIST) == "trades_sold_increment_get_response"
    assert response_key("taobao.top.oaid.decrypt") == "top_oaid_decrypt_response"


def test_call_takes_the_rate_budget_of_each_api_before_each_request(
        ctx: AdapterContext, api: respx.MockRouter, limiter: FakeLimiter, clock_at: time_machine.Traveller) -> None:
    route(api, FULLINFO).mock(side_effect=[fail(15, "Remote service error", "isp.remote-service-error"),
                                           answer("trade_fullinfo_get.json")])
    route(api, COMPANIES).mock(return_value=answer("logistics_companies_get.json"))
    client = TaobaoClient(make_config(rate_limits={COMPANIES: 0.5}), ctx)

    client.call(FULLINFO, TID)
    client.call(COMPANIES, {"fields": "code"})

    assert limiter.acquired == [(f"taobao:{SHOP}:{FULLINFO}", 20.0), (f"taobao:{SHOP}:{FULLINFO}", 20.0),
                             (f"taobao:{SHOP}:{COMPANIES}", 0.5)]


def test_call_given_unknown_api_uses_the_fallback_budget(
        client: TaobaoClient, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    route(api, "taobao.item.seller.get").mock(return_value=ok("taobao.item.seller.get", {"item": {}}))

    client.call("taobao.item.seller.get", {"fields": "title"})

    assert limiter.acquired == [(f"taobao:{SHOP}:taobao.item.seller.get", 5.0)]


def test_call_given_flow_control_waits_the_ban_seconds_plus_one_then_succeeds(
        client: TaobaoClient, api: respx.MockRouter, waits: list[float]) -> None:
    got = route(api, FULLINFO).mock(side_effect=[answer("error_flow_control.json"), answer("trade_fullinfo_get.json")])

    client.call(FULLINFO, TID)

    assert got.call_count == 2
    assert waits == [13.0]


def test_call_given_flow_control_every_time_raises_rate_limited_with_retry_after(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(return_value=answer("error_flow_control.json"))

    with pytest.raises(RateLimitedError) as caught:
        client.call(FULLINFO, TID)

    assert caught.value.retry_after == 13
    assert caught.value.code == "accesscontrol.limited-by-api-access-count"
    assert "code 7" in str(caught.value)
    assert got.call_count == 3


def test_call_given_a_ban_longer_than_the_retry_budget_stops_at_once(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(return_value=fail(
        7, "App Call Limited", "accesscontrol.limited-by-api-access-count", "This ban will last for 600 more seconds"))

    with pytest.raises(RateLimitedError) as caught:
        client.call(FULLINFO, TID)

    assert caught.value.retry_after == 601
    assert got.call_count == 1


def test_call_given_daily_quota_exhausted_waits_until_shanghai_midnight(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=fail(7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
                                                "应用调用次数超限"))

    with pytest.raises(RateLimitedError) as caught:
        client.call(FULLINFO, TID)

    assert caught.value.retry_after == 7 * 3600  # 17:00 → 24:00 Asia/Shanghai


def test_ban_seconds_reads_both_wordings() -> None:
    assert ban_seconds("This ban will last for 12 more seconds") == 12
    assert ban_seconds("This ban will last 3 more seconds") == 3
    assert ban_seconds("App Call Limited") is None


@pytest.mark.parametrize(("code", "sub_code"), [
    (15, "isp.top-remote-connection-timeout"), (15, "isp.remote-service-error"), (15, "isp.system-busy"),
    (10, ""), (15, "isv.logistics-offline-service-error:B150"), (15, "isv.logistics-offline-service-error:S01"),
])
def test_call_given_server_side_error_retries_then_succeeds(
        client: TaobaoClient, api: respx.MockRouter, code: int, sub_code: str) -> None:
    got = route(api, FULLINFO).mock(side_effect=[fail(code, "Remote service error", sub_code, "稍后重试"),
                                                 answer("trade_fullinfo_get.json")])

    client.call(FULLINFO, TID)

    assert got.call_count == 2


def test_call_given_isp_error_every_time_raises_transient_after_the_policy_attempts(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(return_value=answer("error_remote_timeout.json"))

    with pytest.raises(TransientError) as caught:
        client.call(FULLINFO, TID)

    assert type(caught.value) is TransientError
    assert caught.value.code == "isp.top-remote-connection-timeout"
    assert got.call_count == 3


@pytest.mark.parametrize(("code", "sub_code"), [
    (15, "isv.trade-not-exist"), (41, "isv.invalid-parameter:page_size"), (40, "isv.missing-parameter:tid"),
    (15, "isv.logistics-offline-service-error:B60"), (43, ""),
])
def test_call_given_caller_error_raises_rejected_without_retrying(
        client: TaobaoClient, api: respx.MockRouter, code: int, sub_code: str) -> None:
    got = route(api, FULLINFO).mock(return_value=fail(code, "Remote service error", sub_code, "交易不存在"))

    with pytest.raises(RejectedError) as caught:
        client.call(FULLINFO, TID)

    assert caught.value.code == (sub_code or str(code))
    assert caught.value.platform_message is not None and "交易不存在" in caught.value.platform_message
    assert got.call_count == 1


@pytest.mark.parametrize(("code", "hint"), [
    (25, "check app_secret and sign_method"), (29, "check app_key"), (31, "clock"), (11, "apply for it"),
    (26, "set session"), (22, "needs an update"), (42, "whitelist"),
])
def test_call_given_configuration_problem_raises_fatal_naming_the_fix(
        client: TaobaoClient, api: respx.MockRouter, code: int, hint: str) -> None:
    got = route(api, FULLINFO).mock(return_value=fail(code, "Invalid"))

    with pytest.raises(FatalError) as caught:
        client.call(FULLINFO, TID)

    assert type(caught.value) is FatalError
    assert hint in str(caught.value) and f"code {code}" in str(caught.value)
    assert got.call_count == 1


def test_call_given_user_permission_missing_asks_for_reauthorization(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=fail(12, "Insufficient User Permissions"))

    with pytest.raises(ReauthorizationRequired, match="authorise the shop again"):
        client.call(FULLINFO, TID)


def test_call_given_unknown_code_raises_fatal(client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=fail(99, "Something new", "top.something-new"))

    with pytest.raises(FatalError, match="unexpected answer"):
        client.call(FULLINFO, TID)


def test_call_given_non_json_body_raises_protocol_error(client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=httpx.Response(200, text="<error_response><code>7</code>"))

    with pytest.raises(ProtocolError, match=r"taobao\.trade\.fullinfo\.get"):
        client.call(FULLINFO, TID)


def test_call_given_answer_under_another_name_raises_protocol_error(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=ok(LIST, {"trades": {}}))

    with pytest.raises(ProtocolError, match="trade_fullinfo_get_response"):
        client.call(FULLINFO, TID)


def test_call_given_error_without_code_raises_protocol_error(client: TaobaoClient, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=httpx.Response(200, json={"error_response": {"msg": "?"}}))

    with pytest.raises(ProtocolError, match="numeric code"):
        client.call(FULLINFO, TID)


def test_call_given_http_502_retries_as_transient(client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(side_effect=[httpx.Response(502), answer("trade_fullinfo_get.json")])

    client.call(FULLINFO, TID)

    assert got.call_count == 2


def test_classify_given_session_codes_asks_for_a_refresh() -> None:
    for code, sub_code in ((27, "invalid-sessionkey"), (27, "session-expired"), (27, ""),
                           (15, "sessionkey-not-generated-by-server")):
        rule = classify(code, sub_code)
        assert rule is not None and rule.action is Action.REFRESH


def test_classify_given_code_7_is_flow_control_whatever_the_sub_code() -> None:
    for sub_code in ("accesscontrol.limited-by-api-access-count", "accesscontrol.limited-by-app-api-access-count",
                     ""):
        rule = classify(7, sub_code)
        assert rule is not None and rule.action is Action.RATE_LIMITED


def test_errors_given_platform_message_echoing_secrets_never_show_them(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    echo = f"bad sign for secret {SECRET} session {SESSION}"
    route(api, FULLINFO).mock(side_effect=[fail(25, "Invalid signature", "", ""),
                                           fail(25, f"Invalid signature {echo}"),
                                           fail(15, "Remote service error", "isv.x", echo),
                                           fail(27, "Invalid session", "invalid-sessionkey", echo)])
    messages = []
    for _ in range(3):
        with pytest.raises((FatalError, RejectedError)) as caught:
            client.call(FULLINFO, TID)
        messages += [str(caught.value), str(getattr(caught.value, "platform_message", ""))]

    text = "\n".join(messages)
    assert SECRET not in text and SESSION not in text
    assert "***" in text


def test_errors_never_show_the_sign_or_the_session(client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, SHIP).mock(return_value=httpx.Response(502))

    with pytest.raises(TransientError) as caught:
        client.call(SHIP, {"tid": "1", "out_sid": "SF1", "company_code": "SF"})

    signature = form(got.calls.last.request)["sign"]
    assert signature not in str(caught.value) and SESSION not in str(caught.value)


def test_session_refused_without_refresh_raises_reauthorization_required_after_one_call(
        client: TaobaoClient, api: respx.MockRouter) -> None:
    got = route(api, FULLINFO).mock(return_value=answer("error_invalid_session.json"))

    with pytest.raises(ReauthorizationRequired) as caught:
        client.call(FULLINFO, TID)

    assert isinstance(caught.value, AuthError)
    assert "cannot refresh" in str(caught.value) and caught.value.code == "invalid-sessionkey"
    assert got.call_count == 1
