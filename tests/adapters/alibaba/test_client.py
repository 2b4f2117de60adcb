"""Request shape, envelopes, rate budget and the error table of the 1688 client."""

from __future__ import annotations

import httpx
import pytest
import respx

from syncd.adapters.alibaba.client import DEFAULT_RATE, ORDER_DETAIL, ORDER_LIST, AlibabaClient, business_failure
from syncd.adapters.alibaba.errors import Action, classify, error_for, qos_wait
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
from tests.adapters.alibaba.conftest import (
    ACCESS,
    SECRET,
    SUPPLIER,
    TOKEN_URL,
    fixture,
    form,
    gateway_error,
    make_config,
    route,
)
from tests.fakes import FakeLimiter, FakeTokenStore

DETAIL_OK = {"success": "true", "result": {"baseInfo": {"id": 1, "status": "waitbuyerpay"}}}


def test_call_posts_a_form_with_token_and_signature_to_the_api_url(
        client: AlibabaClient, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    r = route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json=DETAIL_OK))

    answer = client.call(ORDER_DETAIL, {"orderId": "123", "webSite": "1688"})

    assert answer.body == DETAIL_OK and answer.code == ""
    request = r.calls.last.request
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    sent = form(request)
    assert sent["orderId"] == "123" and sent["access_token"] == ACCESS and len(sent["_aop_signature"]) == 40
    assert limiter.acquired == [(f"1688:{SUPPLIER}:{ORDER_DETAIL}", DEFAULT_RATE)]


def test_call_uses_the_files_rate_budget_for_that_api(ctx: AdapterContext, api: respx.MockRouter,
                                                      limiter: FakeLimiter, clock_at: object) -> None:
    client = AlibabaClient(make_config(rate_limits={ORDER_DETAIL: 0.5}), ctx)
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json=DETAIL_OK))

    client.call(ORDER_DETAIL, {"orderId": "1"})

    assert limiter.acquired[-1] == (f"1688:{SUPPLIER}:{ORDER_DETAIL}", 0.5)


@pytest.mark.parametrize(("status", "code", "kind", "words"), [
    (400, "gw.SignatureInvalid", FatalError, "app_secret"),
    (403, "gw.APIACLDecline", FatalError, "permission"),
    (400, "gw.ParamMissing", FatalError, "syncd fix"),
    (200, "gw.SignatureInvalid", FatalError, "app_secret"),
])
def test_gateway_configuration_errors_are_fatal_with_a_hint_and_not_retried(
        client: AlibabaClient, api: respx.MockRouter, status: int, code: str, kind: type[Exception],
        words: str) -> None:
    r = route(api, ORDER_DETAIL).mock(return_value=gateway_error(status, code, "refused"))

    with pytest.raises(kind, match=words) as err:
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert code in str(err.value) and not isinstance(err.value, AuthError)
    assert r.call_count == 1


def test_flow_control_pauses_the_accounts_calls_for_the_ban_instead_of_sleeping_through_it(
        client: AlibabaClient, api: respx.MockRouter, waits: list[float], limiter: FakeLimiter) -> None:
    qos = gateway_error(400, "gw.QosAppFrequencyLimit", "App call exceeds limited frequency")
    r = route(api, ORDER_DETAIL).mock(return_value=qos)

    with pytest.raises(RateLimitedError) as first:
        client.call(ORDER_DETAIL, {"orderId": "1"})
    assert (r.call_count, waits, first.value.retry_after) == (1, [], 10.0)  # raised at once, not slept
    with pytest.raises(RateLimitedError):  # app-wide: every API of the account waits out the ban
        client.call(ORDER_LIST, {"page": 1})
    assert len(api.calls) == 1

    limiter.now += 10.5
    with pytest.raises(RateLimitedError) as second:
        client.call(ORDER_DETAIL, {"orderId": "1"})
    assert r.call_count == 2
    assert second.value.retry_after == 20.0  # refused again right after the ban: the next one is longer


def test_flow_control_wait_from_the_supplier_file_short_enough_is_waited_in_place(
        ctx: AdapterContext, api: respx.MockRouter, waits: list[float], clock_at: object) -> None:
    client = AlibabaClient(make_config(flow_control_wait_seconds=1), ctx)
    qos = gateway_error(400, "gw.QosAppFrequencyLimit", "App call exceeds limited frequency")
    route(api, ORDER_DETAIL).mock(side_effect=[qos, httpx.Response(200, json=DETAIL_OK)])

    client.call(ORDER_DETAIL, {"orderId": "1"})

    assert waits and waits[0] >= 1.0


def test_flow_control_on_one_api_pauses_that_api_only(client: AlibabaClient, api: respx.MockRouter,
                                                      limiter: FakeLimiter) -> None:
    route(api, ORDER_DETAIL).mock(return_value=gateway_error(400, "gw.QosApiFrequencyLimit", "api frequency"))
    other = route(api, ORDER_LIST).mock(return_value=httpx.Response(200, json={"result": []}))

    with pytest.raises(RateLimitedError):
        client.call(ORDER_DETAIL, {"orderId": "1"})
    client.call(ORDER_LIST, {"page": 1})

    assert other.call_count == 1


def test_flow_control_streak_resets_after_a_success(client: AlibabaClient, api: respx.MockRouter,
                                                    limiter: FakeLimiter) -> None:
    qos = gateway_error(400, "gw.QosAppFrequencyLimit", "App call exceeds limited frequency")
    ok = httpx.Response(200, json=DETAIL_OK)
    route(api, ORDER_DETAIL).mock(side_effect=[qos, ok, qos])

    with pytest.raises(RateLimitedError) as first:
        client.call(ORDER_DETAIL, {"orderId": "1"})
    limiter.now += 11
    client.call(ORDER_DETAIL, {"orderId": "1"})
    with pytest.raises(RateLimitedError) as again:
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert [first.value.retry_after, again.value.retry_after] == [10.0, 10.0]


def test_5xx_and_timeouts_are_retried_then_transient(client: AlibabaClient, api: respx.MockRouter) -> None:
    r = route(api, ORDER_DETAIL).mock(side_effect=[httpx.Response(502), httpx.ReadTimeout("slow"),
                                                   httpx.Response(503)])

    with pytest.raises(TransientError):
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert r.call_count == 3


def test_retried_false_raises_the_first_transient_failure(client: AlibabaClient, api: respx.MockRouter) -> None:
    r = route(api, ORDER_DETAIL).mock(return_value=httpx.Response(502))

    with pytest.raises(TransientError):
        client.call(ORDER_DETAIL, {"orderId": "1"}, retried=False)

    assert r.call_count == 1


@pytest.mark.parametrize(("response", "words"), [
    (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
    (httpx.Response(200, json=[1, 2]), "JSON list"),
    (httpx.Response(404, text="not found"), "HTTP 404 without a 1688 error body"),
])
def test_unreadable_answers_are_protocol_errors_naming_the_api(
        client: AlibabaClient, api: respx.MockRouter, response: httpx.Response, words: str) -> None:
    route(api, ORDER_DETAIL).mock(return_value=response)

    with pytest.raises(ProtocolError, match=words) as err:
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert ORDER_DETAIL in str(err.value)


def test_http_403_without_a_code_is_fatal(client: AlibabaClient, api: respx.MockRouter) -> None:
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(403, text="denied"))

    with pytest.raises(FatalError, match="permissions"):
        client.call(ORDER_DETAIL, {"orderId": "1"})


def test_business_failure_is_rejected_with_1688s_code_and_message(client: AlibabaClient,
                                                                  api: respx.MockRouter) -> None:
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json={
        "success": "false", "errorCode": "500_1", "errorMessage": "订单不存在"}))

    with pytest.raises(RejectedError) as err:
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert err.value.code == "500_1" and err.value.platform_message == "订单不存在"


def test_a_tolerated_business_code_is_returned_not_raised(client: AlibabaClient, api: respx.MockRouter) -> None:
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "500_2", "errorMessage": "订单尚未发货"}))

    answer = client.call(ORDER_DETAIL, {"orderId": "1"}, tolerate={"500_2"})

    assert (answer.code, answer.message) == ("500_2", "订单尚未发货")


def test_a_busy_business_answer_is_retried(client: AlibabaClient, api: respx.MockRouter) -> None:
    busy = httpx.Response(200, json={"success": False, "errorCode": "isp.busy", "errorMessage": "系统繁忙"})
    r = route(api, ORDER_DETAIL).mock(side_effect=[busy, httpx.Response(200, json=DETAIL_OK)])

    assert client.call(ORDER_DETAIL, {"orderId": "1"}).body == DETAIL_OK
    assert r.call_count == 2


def test_list_answer_without_success_fails_only_by_its_error_code(client: AlibabaClient,
                                                                  api: respx.MockRouter) -> None:
    route(api, ORDER_LIST).mock(side_effect=[
        httpx.Response(200, json=fixture("order_list.json")),
        httpx.Response(200, json={"errorCode": "400_param", "errorMessage": "createStartTime格式错误"})])

    assert client.call(ORDER_LIST, {}).body["totalRecord"] == 1
    with pytest.raises(RejectedError, match="400_param"):
        client.call(ORDER_LIST, {})


def test_messages_never_echo_secrets_tokens_phones_or_the_receiver(client: AlibabaClient,
                                                                   api: respx.MockRouter) -> None:
    echo = f"bad {SECRET} {ACCESS} 13812345678 文一西路100号"
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "400_address", "errorMessage": echo}))

    with pytest.raises(RejectedError) as err:
        client.call(ORDER_DETAIL, {"orderId": "1"}, hide=["文一西路100号"])

    text = f"{err.value} {err.value.platform_message}"
    assert SECRET not in text and ACCESS not in text and "13812345678" not in text and "文一西路" not in text
    assert "138****5678" in text


def test_http_401_refreshes_once_then_sends_again_with_the_new_token(
        client: AlibabaClient, api: respx.MockRouter, store: FakeTokenStore) -> None:
    r = route(api, ORDER_DETAIL).mock(side_effect=[
        gateway_error(401, "401", "access_token expired"), httpx.Response(200, json=DETAIL_OK)])
    refresh = api.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=fixture("token.json")))

    client.call(ORDER_DETAIL, {"orderId": "1"})

    assert [form(c.request)["access_token"] for c in r.calls] == [ACCESS, "new-access-token-0002"]
    assert refresh.call_count == 1 and store.saved[-1].access_token == "new-access-token-0002"


def test_http_401_again_after_the_refresh_is_an_auth_error(client: AlibabaClient, api: respx.MockRouter) -> None:
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(401, text=""))
    api.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=fixture("token.json")))

    with pytest.raises(AuthError) as err:
        client.call(ORDER_DETAIL, {"orderId": "1"})

    assert not isinstance(err.value, ReauthorizationRequired)


def test_business_failure_reads_every_spelling() -> None:
    assert business_failure({"success": True}) is None
    assert business_failure({"success": "true", "errorCode": ""}) is None
    assert business_failure({"success": False, "code": "X", "message": "m"}) == ("X", "m")
    assert business_failure({"success": False, "errorCode": "Y", "errorMsg": "n"}) == ("Y", "n")
    assert business_failure({"success": "false"}) == ("unknown", "")
    assert business_failure({"result": [], "totalRecord": 0}) is None


@pytest.mark.parametrize(("code", "message", "action"), [
    ("gw.QosAppFrequencyLimit", "", Action.RATE_LIMITED),
    ("gw.SignatureInvalid", "", Action.FATAL),
    ("gw.APIACLDecline", "", Action.FATAL),
    ("401", "", Action.REFRESH),
    ("", "authorization revoked by user", Action.REAUTHORIZE),
    ("isp.service-unavailable", "", Action.RETRY),
    ("500_005", "起批量不满足", None),
])
def test_error_table_rows(code: str, message: str, action: Action | None) -> None:
    rule = classify(code, message)
    assert (rule.action if rule else None) is action


def test_error_actions_in_the_file_classify_a_code_ahead_of_the_table() -> None:
    err = error_for("api", "500_005", "起批量不满足", overrides={"500_005": "retry"})
    assert isinstance(err, TransientError)


def test_http_401_is_an_auth_error_whatever_the_body_says() -> None:
    assert type(error_for("api", "500_005", "x", status=401)) is AuthError
    assert qos_wait(1) == 10 and qos_wait(3) == 40 and qos_wait(20) == 320
