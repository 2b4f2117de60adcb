"""The shared HTTP client (syncd.http): status codes become error families; no cookies are kept."""

from __future__ import annotations

import httpx
import pytest
import respx

from syncd.config.models import HttpSettings
from syncd.errors import ProtocolError, RateLimitedError, TransientError
from syncd.http import CallStats, build_client, send


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
