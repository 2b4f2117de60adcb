"""The subscription call (§C.3): request shape and every returnCode class (§C.4)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.errors import FatalError, ProtocolError, RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.kuaidi100.conftest import KEY, SALT, SUBSCRIBE_URL, failure, form, make_config

CALLBACK = "https://syncd.example.com/hooks/kuaidi100?shipment=42"


def ok(code: str = "200", message: str = "提交成功") -> httpx.Response:
    return httpx.Response(200, json={"result": True, "returnCode": code, "message": message})


def test_subscribe_posts_schema_json_and_param_with_key_callback_salt_and_phone_tail(
        provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(SUBSCRIBE_URL).mock(return_value=ok())

    provider.subscribe("shunfeng", "SF1234567890123", "13812345678", CALLBACK)

    sent = form(route.calls.last.request)
    assert set(sent) == {"schema", "param"} and sent["schema"] == "json"
    assert json.loads(sent["param"]) == {
        "company": "shunfeng", "number": "SF1234567890123", "key": KEY,
        "parameters": {"callbackurl": CALLBACK, "salt": SALT, "resultv2": "4", "phone": "5678"}}


def test_subscribe_without_a_phone_leaves_it_out(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(SUBSCRIBE_URL).mock(return_value=ok())
    provider.subscribe("zhongtong", "73100000000001", None, CALLBACK)
    assert "phone" not in json.loads(form(route.calls.last.request)["param"])["parameters"]


def test_duplicate_subscription_501_is_success(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(SUBSCRIBE_URL).mock(return_value=failure("501", "重复订阅"))
    provider.subscribe("zhongtong", "73100000000001", None, CALLBACK)
    assert route.call_count == 1


@pytest.mark.parametrize("code", ["700", "701", "702", "400"])
def test_refused_subscriptions_are_rejected_errors(
        provider: Kuaidi100Provider, api: respx.MockRouter, code: str) -> None:
    route = api.post(SUBSCRIBE_URL).mock(return_value=failure(code, "拒绝"))
    with pytest.raises(RejectedError, match=f"kuaidi100 subscribe zhongtong 731: returnCode {code}") as info:
        provider.subscribe("zhongtong", "731", None, CALLBACK)
    assert info.value.code == code and route.call_count == 1


def test_wrong_key_600_is_fatal(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(SUBSCRIBE_URL).mock(return_value=failure("600", "不是合法的订阅者"))
    with pytest.raises(FatalError, match=r"check customer and key in tracking\.yaml"):
        provider.subscribe("zhongtong", "731", None, CALLBACK)


def test_expired_key_601_is_rate_limited_for_an_hour(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(SUBSCRIBE_URL).mock(return_value=failure("601", "POLL:KEY已过期"))
    with pytest.raises(RateLimitedError) as info:
        provider.subscribe("zhongtong", "731", None, CALLBACK)
    assert info.value.retry_after == 3600


def test_server_error_500_is_transient_after_retries(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(SUBSCRIBE_URL).mock(return_value=failure("500", "服务器错误"))
    with pytest.raises(TransientError, match="returnCode 500"):
        provider.subscribe("zhongtong", "731", None, CALLBACK)
    assert route.call_count == 3


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(200, json={"message": "提交成功"}), "answer has no returnCode"),
    (httpx.Response(200, json={"returnCode": "200"}), "answer has a returnCode but no result"),
    (ok("501"), "result true with returnCode 501"),
    (httpx.Response(200, text="ok"), "kuaidi100 subscribe: answer is not JSON"),
])
def test_malformed_subscribe_answers_are_protocol_errors(
        provider: Kuaidi100Provider, api: respx.MockRouter, response: httpx.Response, message: str) -> None:
    api.post(SUBSCRIBE_URL).mock(return_value=response)
    with pytest.raises(ProtocolError, match=message):
        provider.subscribe("zhongtong", "731", None, CALLBACK)


def test_subscribe_needs_an_http_callback_and_a_salt(ctx: AdapterContext, api: respx.MockRouter) -> None:
    with pytest.raises(FatalError, match="callback URL is not an http"):
        Kuaidi100Provider(make_config(), ctx).subscribe("zhongtong", "731", None, "ftp://x/cb")
    with pytest.raises(FatalError, match=r"set salt in tracking\.yaml"):
        Kuaidi100Provider(make_config(salt=None), ctx).subscribe("zhongtong", "731", None, CALLBACK)


def test_subscribe_of_sf_without_a_phone_is_refused_before_any_call(
        provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    with pytest.raises(RejectedError, match="need the receiver's or sender's phone"):
        provider.subscribe("shunfeng", "SF1", None, CALLBACK)


def test_subscriptions_are_counted_as_their_own_api(
        provider: Kuaidi100Provider, api: respx.MockRouter, ctx: AdapterContext) -> None:
    api.post(SUBSCRIBE_URL).mock(return_value=ok())
    provider.subscribe("zhongtong", "731", None, CALLBACK)
    assert ctx.stats.calls[("kuaidi100", "subscribe")] == 1 and ("kuaidi100", "query") not in ctx.stats.calls


def test_errors_never_show_the_key_or_the_salt(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(SUBSCRIBE_URL).mock(return_value=failure("700", f"参数 {KEY} {SALT} 错误"))
    with pytest.raises(RejectedError) as info:
        provider.subscribe("zhongtong", "731", None, CALLBACK)
    assert KEY not in str(info.value) and SALT not in str(info.value)
    assert KEY not in str(info.value.platform_message) and SALT not in str(info.value.platform_message)
