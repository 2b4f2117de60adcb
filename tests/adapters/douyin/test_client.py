"""Request shape, envelope checks and the error table of the Douyin client."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from syncd.adapters.douyin.client import Action, DouyinClient, classify
from syncd.adapters.douyin.signing import canonical_param_json, sign
from syncd.errors import (
    FatalError,
    ProtocolError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
    TransientError,
)
from tests.adapters.douyin.conftest import ACCESS, APP_KEY, NOW, REFRESH, SECRET, fail, ok

PARAMS = {"update_time_start": 1763798400, "update_time_end": 1763802000, "page": 0, "size": 100,
          "order_by": "update_time", "order_asc": True, "product": "纯棉 T恤 & 袜子/2"}


def test_call_given_params_posts_signed_canonical_json_to_the_method_path(
        client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok({"total": 0, "shop_order_list": []}))

    data = client.call("order.searchList", PARAMS)

    assert data == {"total": 0, "shop_order_list": []}
    request = route.calls.last.request
    query = dict(request.url.params)
    assert list(query) == ["app_key", "method", "timestamp", "sign", "v", "sign_method", "access_token"]
    assert query["app_key"] == APP_KEY
    assert query["method"] == "order.searchList"
    assert query["timestamp"] == str(int(NOW.timestamp()))
    assert query["v"] == "2"
    assert query["sign_method"] == "hmac-sha256"
    assert query["access_token"] == ACCESS
    body = request.content.decode()
    assert body == canonical_param_json(PARAMS)
    assert "纯棉 T恤 & 袜子/2" in body  # sent unescaped, exactly as signed
    assert query["sign"] == sign(APP_KEY, SECRET, "order.searchList", body, query["timestamp"])
    assert request.headers["content-type"] == "application/json"


def test_call_without_token_leaves_access_token_out_of_the_query(
        client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/token/refresh").mock(return_value=ok({"access_token": "x"}))

    client.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": REFRESH}, token=False)

    assert "access_token" not in route.calls.last.request.url.params


def test_call_given_code_20000_retries_then_returns_the_data(
        client: DouyinClient, api: respx.MockRouter, waits: list[float]) -> None:
    route = api.post("/order/orderDetail").mock(side_effect=[
        fail(20000, "isp.service-error:20004", "系统繁忙"), fail(20001, "", "超时"), ok({"shop_order_detail": {}})])

    assert client.call("order.orderDetail", {"shop_order_id": "1"}) == {"shop_order_detail": {}}
    assert route.call_count == 3
    assert len(waits) == 2


def test_call_given_rate_limit_60000_retries_as_rate_limited(
        client: DouyinClient, api: respx.MockRouter, waits: list[float]) -> None:
    route = api.post("/order/orderDetail").mock(side_effect=[
        fail(60000, "isv.traffic-limited", "调用频率超限"), ok({})])

    client.call("order.orderDetail", {"shop_order_id": "1"})

    assert route.call_count == 2
    assert len(waits) == 1


def test_call_given_rate_limit_every_time_raises_rate_limited_after_the_policy_attempts(
        client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(return_value=fail(60000, "isp.traffic-limited:ip", "限流"))

    with pytest.raises(RateLimitedError, match=r"order.orderDetail: code 60000"):
        client.call("order.orderDetail", {"shop_order_id": "1"})
    assert route.call_count == 3


def test_call_given_transient_errors_stops_after_the_policy_attempts(
        client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(return_value=fail(20000, "isp.service-error:10005", "繁忙"))

    with pytest.raises(TransientError):
        client.call("order.orderDetail", {"shop_order_id": "1"})
    assert route.call_count == 3


def test_call_given_http_502_retries_as_transient(client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(side_effect=[httpx.Response(502, text="Bad Gateway"), ok({})])

    assert client.call("order.orderDetail", {"shop_order_id": "1"}) == {}
    assert route.call_count == 2


def test_call_given_business_failure_50002_raises_rejected_with_the_platform_message(
        client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/logisticsAdd").mock(
        return_value=fail(50002, "isv.business-failed:60017", "运单号不符合规则", msg="业务处理失败"))

    with pytest.raises(RejectedError) as caught:
        client.call("order.logisticsAdd", {"order_id": "1", "company_code": "zhongtong", "logistics_code": "x"})
    assert caught.value.code == "isv.business-failed:60017"
    assert caught.value.platform_message == "运单号不符合规则"
    assert "order.logisticsAdd" in str(caught.value)
    assert route.call_count == 1  # a business refusal is never retried


@pytest.mark.parametrize("code", [40002, 40004])
def test_call_given_business_parameter_error_raises_rejected(
        client: DouyinClient, api: respx.MockRouter, code: int) -> None:
    api.post("/order/logisticsAdd").mock(return_value=fail(code, "isv.missing-parameter:60011", "company_code为空"))

    with pytest.raises(RejectedError) as caught:
        client.call("order.logisticsAdd", {"order_id": "1"})
    assert caught.value.platform_message == "company_code为空"


@pytest.mark.parametrize("sub_code", ["isv.business-failed:70009", "isv.business-failed:120018",
                                      "isv.business-failed:120032", "isv.business-failed:8888"])
def test_call_given_retryable_business_sub_code_retries(
        client: DouyinClient, api: respx.MockRouter, sub_code: str) -> None:
    route = api.post("/order/logisticsAdd").mock(side_effect=[fail(50002, sub_code, "并发"), ok({})])

    client.call("order.logisticsAdd", {"order_id": "1"})

    assert route.call_count == 2


def test_call_given_risk_control_80000_retries(client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(side_effect=[fail(80000, "isv.risk-control-failed:1", "风控"), ok({})])

    client.call("order.orderDetail", {"shop_order_id": "1"})

    assert route.call_count == 2


@pytest.mark.parametrize("sub_code", ["dop.authorization-no-existed", "dop.authorization-closed"])
def test_call_given_authorization_gone_30001_raises_reauthorization_required(
        client: DouyinClient, api: respx.MockRouter, sub_code: str) -> None:
    route = api.post("/order/orderDetail").mock(return_value=fail(30001, sub_code, "店铺授权已关闭"))

    with pytest.raises(ReauthorizationRequired, match="authorise"):
        client.call("order.orderDetail", {"shop_order_id": "1"})
    assert route.call_count == 1


@pytest.mark.parametrize(("code", "sub_code", "hint"), [
    (40003, "isv.signature-invalid", "check app_secret"),
    (40003, "isv.access-token-invalid", "check app_key"),
    (40003, "isv.timestamp-invalid", "clock"),
    (30002, "isv.invalid_ip", "whitelist"),
    (30001, "isv.app-permissions-insufficient", "permission"),
    (40001, "isv.signature-missing", "missing"),
    (70000, "isp.api-service-off", "offline"),
])
def test_call_given_configuration_problem_raises_fatal_naming_the_fix(
        client: DouyinClient, api: respx.MockRouter, code: int, sub_code: str, hint: str) -> None:
    route = api.post("/order/orderDetail").mock(return_value=fail(code, sub_code, "无效"))

    with pytest.raises(FatalError) as caught:
        client.call("order.orderDetail", {"shop_order_id": "1"})
    assert type(caught.value) is FatalError
    assert hint in str(caught.value)
    assert "order.orderDetail" in str(caught.value) and str(code) in str(caught.value)
    assert route.call_count == 1


def test_call_given_unknown_code_raises_fatal(client: DouyinClient, api: respx.MockRouter) -> None:
    api.post("/order/orderDetail").mock(return_value=fail(12345, "dop.something-new", "新错误"))

    with pytest.raises(FatalError, match="unexpected answer"):
        client.call("order.orderDetail", {"shop_order_id": "1"})


def test_call_given_non_json_body_raises_protocol_error_naming_the_method(
        client: DouyinClient, api: respx.MockRouter) -> None:
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, text="<html>gateway</html>"))

    with pytest.raises(ProtocolError, match=r"order\.orderDetail"):
        client.call("order.orderDetail", {"shop_order_id": "1"})


def test_call_given_body_without_code_raises_protocol_error(client: DouyinClient, api: respx.MockRouter) -> None:
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json={"err_no": 0, "data": {}}))

    with pytest.raises(ProtocolError, match=r"order.orderDetail: answer has no numeric 'code'"):
        client.call("order.orderDetail", {"shop_order_id": "1"})


def test_call_given_code_zero_is_not_taken_for_success(client: DouyinClient, api: respx.MockRouter) -> None:
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json={"code": 0, "data": {}}))

    with pytest.raises(FatalError):
        client.call("order.orderDetail", {"shop_order_id": "1"})


def test_call_given_partial_failure_returns_data_only_when_asked(
        client: DouyinClient, api: respx.MockRouter) -> None:
    api.post("/order/batchDecrypt").mock(return_value=fail(10001, "", "部分失败", data={"decrypt_infos": []}))

    assert client.call("order.batchDecrypt", {"cipher_infos": []}, partial=True) == {"decrypt_infos": []}
    with pytest.raises(FatalError):
        client.call("order.batchDecrypt", {"cipher_infos": []})


def test_errors_given_platform_message_echoing_secrets_never_show_them(
        client: DouyinClient, api: respx.MockRouter) -> None:
    echo = f"bad sign for secret {SECRET} token {ACCESS} refresh {REFRESH}"
    api.post("/order/orderDetail").mock(side_effect=[
        fail(40003, "isv.signature-invalid", echo), fail(50002, "isv.business-failed:1", echo),
        fail(30001, "dop.authorization-closed", echo)])

    messages = []
    for _ in range(3):
        with pytest.raises((FatalError, RejectedError)) as caught:
            client.call("order.orderDetail", {"shop_order_id": "1"})
        messages.append(str(caught.value))
        messages.append(str(getattr(caught.value, "platform_message", "")))

    text = "\n".join(messages)
    assert SECRET not in text and ACCESS not in text and REFRESH not in text
    assert "***" in text


def test_errors_never_show_the_sign_or_the_query(client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(return_value=httpx.Response(502))

    with pytest.raises(TransientError) as caught:
        client.call("order.orderDetail", {"shop_order_id": "1"})

    signature = route.calls.last.request.url.params["sign"]
    assert signature not in str(caught.value) and ACCESS not in str(caught.value)


def test_classify_given_token_expiry_codes_asks_for_a_refresh() -> None:
    rule = classify(40003, "isv.access-token-expired")
    assert rule is not None and rule.action is Action.REFRESH
    rule = classify(40003, "isv.access-token-no-existed")
    assert rule is not None and rule.action is Action.REFRESH


def test_request_body_is_parseable_json_matching_the_params(client: DouyinClient, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(return_value=ok({}))

    client.call("order.orderDetail", {"shop_order_id": "6921234567890123456"})

    assert json.loads(route.calls.last.request.content) == {"shop_order_id": "6921234567890123456"}
