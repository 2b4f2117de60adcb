"""Request shape, envelope, rate budget and the error table of the Pinduoduo client."""

from __future__ import annotations

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.client import DEFAULT_RATE, PddClient
from syncd.adapters.pdd.errors import Action, classify
from syncd.adapters.pdd.signing import sign
from syncd.errors import (
    FatalError,
    ProtocolError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
    TransientError,
)
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import (
    ACCESS,
    CLIENT_ID,
    NOW,
    REFRESH,
    ROUTER,
    SECRET,
    SHOP,
    fail,
    form,
    make_config,
    ok,
    route,
)
from tests.fakes import FakeLimiter

INFO = "pdd.order.information.get"
INFO_KEY = "order_info_get_response"
SEND = "pdd.logistics.online.send"


def test_call_posts_a_signed_form_to_the_router_with_every_common_parameter(
        client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, "pdd.order.number.list.increment.get").mock(
        return_value=ok("order_sn_increment_get_response", {"total_count": 0, "order_sn_list": []}))

    data = client.call("pdd.order.number.list.increment.get", {
        "start_updated_at": 1763798400, "end_updated_at": 1763800200, "use_has_next": True, "page": 1,
        "note": "纯棉 T恤 & 袜子/2", "list": [{"a": 1}], "skip": None})

    assert data == {"total_count": 0, "order_sn_list": [], "request_id": "17638020001234567890"}
    request = r.calls.last.request
    assert str(request.url) == ROUTER
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    sent = form(request)
    assert sent["type"] == "pdd.order.number.list.increment.get"
    assert sent["client_id"] == CLIENT_ID
    assert sent["timestamp"] == str(int(NOW.timestamp()))
    assert sent["data_type"] == "JSON"
    assert sent["access_token"] == ACCESS
    assert sent["use_has_next"] == "true"
    assert sent["note"] == "纯棉 T恤 & 袜子/2"
    assert sent["list"] == '[{"a":1}]'
    assert "skip" not in sent
    assert sent["sign"] == sign(sent, SECRET)  # every parameter signed, access_token included


def test_call_without_token_leaves_access_token_out(client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, "pdd.pop.auth.token.refresh").mock(return_value=ok("pop_auth_token_refresh_response", {}))

    client.call("pdd.pop.auth.token.refresh", {"refresh_token": REFRESH}, token=False)

    assert "access_token" not in form(r.calls.last.request)


def test_call_given_an_api_without_a_known_key_reads_its_only_response_object(
        client: PddClient, api: respx.MockRouter) -> None:
    route(api, "pdd.open.decrypt.batch").mock(return_value=ok("something_else_response", {"data_decrypt_list": []}))

    assert client.call("pdd.open.decrypt.batch", {"data_list": []})["data_decrypt_list"] == []


@pytest.mark.parametrize("body", [{"a_response": {}, "b_response": {}}, {"request_id": "1"}, {"x_response": [1]}])
def test_call_given_no_single_response_object_raises_protocol_error(
        client: PddClient, api: respx.MockRouter, body: dict[str, object]) -> None:
    route(api, "pdd.open.decrypt.batch").mock(return_value=httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match=r"pdd pdd\.open\.decrypt\.batch"):
        client.call("pdd.open.decrypt.batch", {})


def test_call_given_non_json_body_raises_protocol_error(client: PddClient, api: respx.MockRouter) -> None:
    route(api, INFO).mock(return_value=httpx.Response(200, text="<html>gateway</html>"))

    with pytest.raises(ProtocolError, match=INFO):
        client.call(INFO, {"order_sn": "1"})


def test_call_given_system_busy_retries_then_returns(
        client: PddClient, api: respx.MockRouter, waits: list[float]) -> None:
    r = route(api, INFO).mock(side_effect=[fail(50000, "系统繁忙，请稍后重试"), fail(None, "服务超时"),
                                           ok(INFO_KEY, {"order_info": {}})])

    assert client.call(INFO, {"order_sn": "1"})["order_info"] == {}
    assert r.call_count == 3
    assert len(waits) == 2


def test_call_given_http_502_retries_as_transient(client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, INFO).mock(side_effect=[httpx.Response(502, text="Bad Gateway"), ok(INFO_KEY, {})])

    client.call(INFO, {"order_sn": "1"})

    assert r.call_count == 2


def test_call_given_flow_control_every_time_raises_rate_limited_after_the_policy_attempts(
        client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, INFO).mock(return_value=fail(70031, "调用过于频繁，请调整调用频率"))

    with pytest.raises(RateLimitedError, match="rate limited"):
        client.call(INFO, {"order_sn": "1"})
    assert r.call_count == 3


def test_call_given_business_refusal_raises_rejected_with_the_platform_message_once(
        client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "运单号格式错误", "52101"))

    with pytest.raises(RejectedError) as caught:
        client.call(SEND, {"order_sn": "1", "logistics_id": 115, "tracking_number": "x"})
    assert caught.value.platform_message == "业务处理失败: 运单号格式错误"
    assert caught.value.code == "52101"
    assert SEND in str(caught.value)
    assert r.call_count == 1  # a business refusal is never retried


def test_call_given_unknown_error_without_known_words_is_a_business_refusal(
        client: PddClient, api: respx.MockRouter) -> None:
    route(api, INFO).mock(return_value=fail(99999, "某个新的错误"))

    with pytest.raises(RejectedError, match="error 99999"):
        client.call(INFO, {"order_sn": "1"})


@pytest.mark.parametrize(("code", "msg", "hint"), [
    (10004, "签名错误", "check client_secret"),
    (None, "invalid sign", "check client_secret"),
    (10003, "timestamp已过期", "clock"),
    (10001, "client_id不存在", "check client_id"),
    (10009, "IP不在白名单内", "whitelisted"),
    (20031, "用户没有授权访问此接口", "permission"),
    (10002, "type不存在", "syncd needs an update"),
])
def test_call_given_configuration_problem_raises_fatal_naming_the_fix(
        client: PddClient, api: respx.MockRouter, code: int | None, msg: str, hint: str) -> None:
    r = route(api, INFO).mock(return_value=fail(code, msg))

    with pytest.raises(FatalError) as caught:
        client.call(INFO, {"order_sn": "1"})
    assert type(caught.value) is FatalError
    assert hint in str(caught.value) and INFO in str(caught.value)
    assert r.call_count == 1


@pytest.mark.parametrize("msg", ["授权已失效，请商家重新授权", "店铺未授权"])
def test_call_given_authorisation_gone_raises_reauthorization_required_without_refreshing(
        client: PddClient, api: respx.MockRouter, msg: str) -> None:
    r = route(api, INFO).mock(return_value=fail(10035, msg))

    with pytest.raises(ReauthorizationRequired, match="authorise the app again"):
        client.call(INFO, {"order_sn": "1"})
    assert r.call_count == 1


def test_call_given_error_actions_in_the_shop_file_classifies_a_code_by_them(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    client = PddClient(make_config(error_actions={"88001": "retry", "isv.odd": "fatal"}), ctx)
    r = route(api, INFO).mock(side_effect=[fail(88001, "新错误"), fail(88002, "另一个", sub_code="isv.odd")])

    with pytest.raises(FatalError, match="error_actions"):
        client.call(INFO, {"order_sn": "1"})
    assert r.call_count == 2  # 88001 was retried, the sub_code override stopped it


def test_config_given_an_unknown_error_action_is_refused() -> None:
    with pytest.raises(ValueError, match="error_actions"):
        make_config(error_actions={"1": "ignore"})


def test_classify_given_flow_control_words_before_busy_words_is_rate_limited() -> None:
    rule = classify(None, "", "系统繁忙：调用过于频繁")
    assert rule is not None and rule.action is Action.RATE_LIMITED


def test_classify_given_10019_asks_for_a_refresh_whatever_the_text() -> None:
    rule = classify(10019, "", "")
    assert rule is not None and rule.action is Action.REFRESH


def test_classify_given_refresh_token_words_asks_for_reauthorisation() -> None:
    rule = classify(10036, "", "refresh_token已过期")
    assert rule is not None and rule.action is Action.REAUTHORIZE


def test_errors_given_platform_message_echoing_secrets_never_show_them(
        client: PddClient, api: respx.MockRouter) -> None:
    echo = f"签名错误 secret {SECRET} token {ACCESS} refresh {REFRESH}"
    route(api, INFO).mock(side_effect=[fail(10004, echo), fail(52101, "业务失败", echo),
                                       fail(10035, "重新授权", echo)])

    messages = []
    for _ in range(3):
        with pytest.raises((FatalError, RejectedError)) as caught:
            client.call(INFO, {"order_sn": "1"})
        messages += [str(caught.value), str(getattr(caught.value, "platform_message", ""))]
    text = "\n".join(messages)
    assert SECRET not in text and ACCESS not in text and REFRESH not in text
    assert "***" in text


def test_errors_never_show_the_sign_or_the_token(client: PddClient, api: respx.MockRouter) -> None:
    r = route(api, INFO).mock(return_value=httpx.Response(502))

    with pytest.raises(TransientError) as caught:
        client.call(INFO, {"order_sn": "1"})

    signature = form(r.calls.last.request)["sign"]
    assert signature not in str(caught.value) and ACCESS not in str(caught.value)


def test_call_takes_the_rate_budget_of_the_api_before_every_request(
        client: PddClient, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    route(api, "pdd.order.number.list.increment.get").mock(
        side_effect=[fail(50000, "系统繁忙"), ok("order_sn_increment_get_response", {})])
    route(api, "pdd.refund.list.increment.get").mock(return_value=ok("refund_increment_get_response", {}))
    route(api, "pdd.open.decrypt.batch").mock(return_value=ok("open_decrypt_batch_response", {}))

    client.call("pdd.order.number.list.increment.get", {})
    client.call("pdd.refund.list.increment.get", {})
    client.call("pdd.open.decrypt.batch", {})

    assert limiter.acquired == [
        (f"pdd:{SHOP}:pdd.order.number.list.increment.get", 50.0),
        (f"pdd:{SHOP}:pdd.order.number.list.increment.get", 50.0),  # a retry is a request too
        (f"pdd:{SHOP}:pdd.refund.list.increment.get", 10.0),
        (f"pdd:{SHOP}:pdd.open.decrypt.batch", DEFAULT_RATE),
    ]


def test_call_given_rate_limits_in_the_shop_file_uses_them(
        ctx: AdapterContext, api: respx.MockRouter, limiter: FakeLimiter, clock_at: time_machine.Traveller) -> None:
    client = PddClient(make_config(rate_limits={"pdd.open.decrypt.batch": 0.1,
                                                "pdd.order.number.list.increment.get": 5}), ctx)
    route(api, "pdd.open.decrypt.batch").mock(return_value=ok("open_decrypt_batch_response", {}))
    route(api, "pdd.order.number.list.increment.get").mock(return_value=ok("order_sn_increment_get_response", {}))

    client.call("pdd.open.decrypt.batch", {})
    client.call("pdd.order.number.list.increment.get", {})

    assert [rate for _, rate in limiter.acquired] == [0.1, 5]


def test_call_given_the_budget_exhausted_raises_rate_limited_without_a_request(
        client: PddClient, api: respx.MockRouter, limiter: FakeLimiter, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(key: str, per_second: float, burst: float | None = None) -> None:
        raise RateLimitedError(f"rate budget {key}: next call in 99 s", retry_after=99)

    monkeypatch.setattr(limiter, "acquire", refuse)

    with pytest.raises(RateLimitedError, match="rate budget"):
        client.call(INFO, {"order_sn": "1"})  # no route: any request would fail as unmocked
    assert api.calls.call_count == 0
