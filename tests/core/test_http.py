"""The shared HTTP client (syncd.http): status codes become error families; no cookies are kept."""

from __future__ import annotations

import httpx
import pytest
import respx

from syncd.config.models import HttpSettings
from syncd.errors import ProtocolError, RateLimitedError, TransientError
from syncd.http import MAX_CODES_PER_SYSTEM, CallStats, build_client, endpoint, send


@respx.mock
def test_send_given_a_cookie_from_one_answer_never_sends_it_on_a_later_call():
    # one client serves every shop: shop A's gateway setting a cookie must not reach shop B's calls
    respx.post("https://gw.example/a").respond(200, json={}, headers={"Set-Cookie": "sid=shop-a; Path=/"})
    b = respx.post("https://gw.example/b").respond(200, json={})
    client, stats = build_client(HttpSettings()), CallStats()
    send(client, stats, client.build_request("POST", "https://gw.example/a"), system="gw", api="a")
    send(client, stats, client.build_request("POST", "https://gw.example/b"), system="gw", api="b")
    assert "cookie" not in b.calls.last.request.headers
    assert len(client.cookies) == 0
    with pytest.raises(AttributeError):
        client.cookies = {"sid": "x"}  # type: ignore[assignment]


@respx.mock
@pytest.mark.parametrize(("status", "family"), [(429, RateLimitedError), (503, TransientError), (404, ProtocolError)])
def test_send_given_an_error_status_raises_its_family_and_counts_it(status, family):
    respx.get("https://gw.example/x").respond(status)
    client, stats = build_client(HttpSettings()), CallStats()
    with pytest.raises(family):
        send(client, stats, client.build_request("GET", "https://gw.example/x"), system="gw", api="x")
    assert stats.errors[("gw", "x", f"http-{status}")] == 1


@respx.mock
def test_send_given_a_network_failure_raises_transient():
    respx.get("https://gw.example/x").mock(side_effect=httpx.ConnectError("refused"))
    client, stats = build_client(HttpSettings()), CallStats()
    with pytest.raises(TransientError):
        send(client, stats, client.build_request("GET", "https://gw.example/x"), system="gw", api="x")
    assert stats.errors[("gw", "x", "network")] == 1


@respx.mock
@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("²", None), ("١٢", None), ("soon", None)])
def test_retry_after_takes_ascii_seconds_and_ignores_other_digits(header, expected):
    # '²'.isdigit() is True and float('²') raises: a garbled header must not turn a 429 into a crash
    respx.get("https://gw.example/x").respond(429, headers={"Retry-After": header.encode()})
    client, stats = build_client(HttpSettings()), CallStats()
    with pytest.raises(RateLimitedError) as caught:
        send(client, stats, client.build_request("GET", "https://gw.example/x"), system="gw", api="x")
    assert caught.value.retry_after == expected


def test_platform_error_counts_code_and_kind_and_returns_the_error():
    stats = CallStats()
    err = RateLimitedError("pdd x: rate limited", code="isv.traffic-limited")
    assert stats.platform_error("pdd", "x", err) is err
    stats.platform_error("pdd", "x", TransientError("busy"), code=20000)
    stats.platform_error("pdd", "x", ProtocolError("garbled"))
    assert stats.codes == {("pdd", "x", "isv.traffic-limited", "rate_limited"): 1,
                           ("pdd", "x", "20000", "transient"): 1, ("pdd", "x", "none", "protocol"): 1}


def test_platform_error_codes_from_outside_cannot_mint_unbounded_series():
    stats = CallStats()
    for i in range(MAX_CODES_PER_SYSTEM + 50):
        stats.platform_error("gw", "x", TransientError("busy"), code=f"code-{i}\n{{evil}}")
    codes = {code for (_s, _a, code, _k) in stats.codes}
    assert len(codes) == MAX_CODES_PER_SYSTEM + 1 and "other" in codes
    assert all(len(c) <= 32 and "\n" not in c and "{" not in c for c in codes)


@respx.mock
def test_endpoint_given_the_same_url_parses_it_once_and_requests_on_it_carry_their_own_query():
    # the adapters build every request on endpoint(...): the text is parsed once per URL, and a request's own
    # query (Douyin signs into it) never changes the URL the next request starts from
    route = respx.post("https://gw.example/order/list")
    route.respond(200, json={})
    first = endpoint("https://gw.example/order/list")
    assert endpoint("https://gw.example/order/list") is first
    client, stats = build_client(HttpSettings()), CallStats()
    send(client, stats, httpx.Request("POST", first, params={"sign": "a"}), system="gw", api="list")
    send(client, stats, httpx.Request("POST", endpoint("https://gw.example/order/list")), system="gw", api="list")
    assert [str(c.request.url) for c in route.calls] == ["https://gw.example/order/list?sign=a",
                                                         "https://gw.example/order/list"]
    assert str(first) == "https://gw.example/order/list"
