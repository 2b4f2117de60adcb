"""The real-time query: request shape, every returnCode class, malformed answers, stats and budget."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider, phone_tail
from syncd.adapters.kuaidi100.errors import QUOTA_RETRY_AFTER
from syncd.adapters.kuaidi100.signing import query_sign
from syncd.domain import LogisticsState
from syncd.errors import FatalError, ProtocolError, RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.kuaidi100.conftest import (
    CUSTOMER,
    KEY,
    QUERY_URL,
    failure,
    fixture,
    form,
    make_config,
)
from tests.fakes import FakeLimiter


def test_query_posts_customer_param_and_the_md5_sign_of_the_exact_param(
        provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(QUERY_URL).mock(return_value=httpx.Response(200, json=fixture("query_in_transit.json")))

    result = provider.query("yuantong", "YT7512345678901", None)

    assert result.state is LogisticsState.IN_TRANSIT and len(result.events) == 3
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    sent = form(request)
    assert set(sent) == {"customer", "param", "sign"}
    assert sent["customer"] == CUSTOMER
    assert sent["param"] == '{"com":"yuantong","num":"YT7512345678901","resultv2":"4"}'
    assert sent["sign"] == query_sign(sent["param"], KEY, CUSTOMER)


def test_query_of_sf_sends_only_the_last_four_digits_of_the_phone(
        provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(QUERY_URL).mock(return_value=httpx.Response(200, json=fixture("query_delivered.json")))

    provider.query("shunfeng", "SF1234567890123", "13812345678")

    param = json.loads(form(route.calls.last.request)["param"])
    assert param == {"com": "shunfeng", "num": "SF1234567890123", "phone": "5678", "resultv2": "4"}
    assert "13812345678" not in route.calls.last.request.content.decode()


def test_query_passes_the_phone_tail_for_other_carriers_when_given(
        provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(QUERY_URL).mock(return_value=httpx.Response(200, json=fixture("query_delivered.json")))
    provider.query("zhongtong", "73100000000001", "138****4321")
    assert json.loads(form(route.calls.last.request)["param"])["phone"] == "4321"


@pytest.mark.parametrize(("phone", "tail"), [
    ("13812345678", "5678"), ("138****5678", "5678"), ("+86 138 1234 5678", "5678"),
    ("17012345678-1234", "5678"), ("17012345678转9", "5678"), ("0755-12345678", "5678"), ("12", None), ("", None),
    (None, None),
])
def test_phone_tail_drops_a_virtual_number_extension(phone: str | None, tail: str | None) -> None:
    assert phone_tail(phone) == tail


@pytest.mark.parametrize("carrier", ["shunfeng", "shunfengkuaiyun"])
def test_query_of_sf_without_a_phone_is_refused_before_any_call(
        provider: Kuaidi100Provider, api: respx.MockRouter, carrier: str) -> None:
    with pytest.raises(RejectedError, match="SF parcels need the receiver's or sender's phone") as info:
        provider.query(carrier, "SF1234567890123", None)
    assert info.value.code == "phone"


@pytest.mark.parametrize(("carrier", "number", "what"), [
    ("", "YT1", "is not a Kuaidi100 carrier code"), ("圆通", "YT1", "is not a Kuaidi100 carrier code"),
    ("yuantong", "", "is empty, longer than 32"), ("yuantong", "Y" * 33, "is empty, longer than 32"),
    ("yuantong", "YT 1", "not letters and digits"),
])
def test_query_of_an_impossible_carrier_or_number_is_refused_before_any_call(
        provider: Kuaidi100Provider, api: respx.MockRouter, carrier: str, number: str, what: str) -> None:
    with pytest.raises(RejectedError, match=what):
        provider.query(carrier, number, None)


def test_query_with_resultv2_from_the_config(ctx: AdapterContext, api: respx.MockRouter) -> None:
    route = api.post(QUERY_URL).mock(return_value=httpx.Response(200, json=fixture("query_delivered.json")))
    Kuaidi100Provider(make_config(resultv2=8), ctx).query("yuantong", "YT1", None)
    assert json.loads(form(route.calls.last.request)["param"])["resultv2"] == "8"


def test_query_against_another_base_url(ctx: AdapterContext, api: respx.MockRouter) -> None:
    api.post("http://127.0.0.1:9/kuaidi100/poll/query.do").mock(
        return_value=httpx.Response(200, json=fixture("query_delivered.json")))
    provider = Kuaidi100Provider(make_config(base_url="http://127.0.0.1:9/kuaidi100/"), ctx)
    assert provider.query("yuantong", "YT1", None).final


def test_return_code_500_is_no_records_not_an_error(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    route = api.post(QUERY_URL).mock(return_value=failure("500", "查询无结果，请隔段时间再查"))
    result = provider.query("yuantong", "YT1", None)
    assert (result.state, result.events, result.verdict) == (LogisticsState.NONE, [], "no_records")
    assert route.call_count == 1


@pytest.mark.parametrize("code", ["400", "408", "777"])
def test_refusals_of_the_number_are_rejected_errors_with_kuaidi100s_words(
        provider: Kuaidi100Provider, api: respx.MockRouter, code: str) -> None:
    route = api.post(QUERY_URL).mock(return_value=failure(code, "某原因"))
    with pytest.raises(RejectedError, match=f"kuaidi100 query yuantong YT1: returnCode {code} \\(某原因\\)") as info:
        provider.query("yuantong", "YT1", None)
    assert (info.value.code, info.value.platform_message) == (code, "某原因")
    assert route.call_count == 1  # a business refusal is never retried


@pytest.mark.parametrize(("code", "words"), [("503", "验证签名失败"), ("600", "不是合法的订阅者")])
def test_bad_sign_and_bad_key_are_fatal_and_say_what_to_check(
        provider: Kuaidi100Provider, api: respx.MockRouter, code: str, words: str) -> None:
    route = api.post(QUERY_URL).mock(return_value=failure(code, ""))
    with pytest.raises(FatalError, match=f"returnCode {code} \\({words}.*check customer and key in tracking.yaml"):
        provider.query("yuantong", "YT1", None)
    assert route.call_count == 1


def test_quota_exhausted_is_rate_limited_for_an_hour_and_not_retried_now(
        provider: Kuaidi100Provider, api: respx.MockRouter, waits: list[float]) -> None:
    route = api.post(QUERY_URL).mock(return_value=failure("601", "key已过期"))
    with pytest.raises(RateLimitedError, match="renew or top it up") as info:
        provider.query("yuantong", "YT1", None)
    assert info.value.retry_after == QUOTA_RETRY_AFTER == 3600
    assert (route.call_count, waits) == (1, [])


@pytest.mark.parametrize("code", ["501", "502"])
def test_server_errors_are_retried_then_transient(
        provider: Kuaidi100Provider, api: respx.MockRouter, waits: list[float], code: str) -> None:
    route = api.post(QUERY_URL).mock(return_value=failure(code, "服务器繁忙"))
    with pytest.raises(TransientError, match=f"returnCode {code}") as info:
        provider.query("yuantong", "YT1", None)
    assert info.value.code == code
    assert (route.call_count, len(waits)) == (3, 2)


def test_a_busy_answer_then_a_trace_returns_the_trace(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(QUERY_URL).mock(side_effect=[failure("502"), httpx.Response(200, json=fixture("query_delivered.json"))])
    assert provider.query("yuantong", "YT1", None).state is LogisticsState.DELIVERED


def test_http_5xx_and_network_errors_are_transient(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(QUERY_URL).mock(side_effect=[httpx.Response(503), httpx.ConnectError("x"), httpx.Response(502)])
    with pytest.raises(TransientError, match="kuaidi100 query: HTTP 502"):
        provider.query("yuantong", "YT1", None)


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(200, text="<html>维护中</html>"), "kuaidi100 query: answer is not JSON"),
    (httpx.Response(200, json=[1]), "kuaidi100 query: answer is JSON list, expected an object"),
    (httpx.Response(200, json={"result": "false", "returnCode": "500"}), "result is str, expected true or false"),
    (httpx.Response(200, json={"result": False, "message": "x"}), "answer has no returnCode"),
    (httpx.Response(200, json={"result": False, "returnCode": "200"}), "result false with returnCode 200"),
    (httpx.Response(200, json={"message": "ok", "status": "201"}),
     "answer has neither a trace \\(status 200\\) nor a returnCode"),
    (httpx.Response(200, json={"message": "ok", "status": "200", "state": "0", "data": "none"}),
     "data is str, expected a list"),
    (httpx.Response(404, text="no"), "kuaidi100 query: HTTP 404"),
])
def test_malformed_answers_are_protocol_errors_naming_the_call(
        provider: Kuaidi100Provider, api: respx.MockRouter, response: httpx.Response, message: str) -> None:
    api.post(QUERY_URL).mock(return_value=response)
    with pytest.raises(ProtocolError, match=message):
        provider.query("yuantong", "YT1", None)


def test_a_message_echoing_the_key_or_a_phone_is_scrubbed(provider: Kuaidi100Provider, api: respx.MockRouter) -> None:
    api.post(QUERY_URL).mock(return_value=failure("400", f"key {KEY} 手机 13812345678 不匹配"))
    with pytest.raises(RejectedError) as info:
        provider.query("yuantong", "YT1", None)
    assert KEY not in str(info.value) and "13812345678" not in str(info.value)
    assert "key *** 手机 138****5678" in str(info.value)


def test_calls_are_counted_per_api_and_paced_by_the_budget(
        provider: Kuaidi100Provider, api: respx.MockRouter, ctx: AdapterContext, limiter: FakeLimiter) -> None:
    api.post(QUERY_URL).mock(side_effect=[failure("502"), failure("500")])
    provider.query("yuantong", "YT1", None)
    assert ctx.stats.calls[("kuaidi100", "query")] == 2
    assert limiter.acquired == [(f"kuaidi100:{CUSTOMER}:query", 10.0)] * 2
