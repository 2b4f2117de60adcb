"""place / find / pay / trace: the signed create with its Idempotency-Key, replays, unknown outcomes."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.config import WebhookSupplierConfig
from syncd.adapters.webhook.mapping import encode, order_body
from syncd.adapters.webhook.signing import verify
from syncd.domain import PlacedOrder
from syncd.errors import FatalError, ProtocolError, RateLimitedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.webhook.conftest import (
    BASE,
    KEY,
    NOW,
    NOW_TS,
    SECRET,
    error_json,
    make_config,
    order_json,
    sample_request,
)
from tests.fakes import FakeLimiter

EXAMPLE_C = "v1=3d679eaa4afd046952e1a1fb1fe2af82d3c6a6276ab2b9575c4d179287ac345d"
EXAMPLE_C_GET = "v1=0cf1077374236fc4a3a1d0a4c9f807f8dd8cc7aaec18de6ccc63bfc79f21a044"


def test_place_posts_the_documented_signed_request_and_reads_201(
        supplier: WebhookSupplier, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    route = api.post(f"{BASE}/orders").mock(return_value=httpx.Response(201, json=order_json()))

    placed = supplier.place(sample_request())

    assert placed == PlacedOrder(supplier_ref="WS20251122000042", paid=True, amount_fen=3980)
    request = route.calls.last.request
    assert request.content == encode(order_body(sample_request()))
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["X-Syncd-Timestamp"] == str(NOW_TS)
    assert request.headers["X-Syncd-Signature"] == EXAMPLE_C  # docs §2.4 example C, byte for byte
    assert limiter.acquired == [("webhook:acme:create", 5.0)]


def test_place_body_carries_the_receiver_lines_and_reship_fields(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    route = api.post(f"{BASE}/orders").mock(return_value=httpx.Response(201, json=order_json()))

    supplier.place(sample_request(kind="reship", original_key="syncd-old-1", remark="加急"))

    body = json.loads(route.calls.last.request.content)
    assert body["kind"] == "reship"
    assert body["original_key"] == "syncd-old-1"
    assert body["remark"] == "加急"
    assert body["receiver"]["address"] == "浙江省杭州市西湖区文三路90号1幢101室"
    assert body["lines"] == [{"line_ref": "6931234567890123457", "sku": "TEE-RED-M", "quantity": 2,
                              "title": "纯棉T恤", "spec": "红色 M"}]


def test_place_given_200_returns_the_existing_order_and_says_so(
        supplier: WebhookSupplier, api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    api.post(f"{BASE}/orders").mock(return_value=httpx.Response(200, json=order_json(phase="shipped", parcels=[
        {"carrier": "中通", "tracking_no": "75312345678901", "line_refs": None}])))

    with caplog.at_level(logging.INFO, logger="syncd.adapters.webhook"):
        placed = supplier.place(sample_request())

    assert placed.supplier_ref == "WS20251122000042"
    assert "already had order WS20251122000042" in caplog.text


def test_place_given_5xx_then_201_resends_the_same_key_and_body(
        supplier: WebhookSupplier, api: respx.MockRouter, waits: list[float]) -> None:
    route = api.post(f"{BASE}/orders").mock(side_effect=[
        httpx.Response(503, json=error_json("unavailable")), httpx.Response(201, json=order_json())])

    assert supplier.place(sample_request()).supplier_ref == "WS20251122000042"

    first, second = (c.request for c in route.calls)
    assert first.content == second.content
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == KEY
    assert len(waits) == 1


def test_place_signs_each_attempt_at_its_own_time(
        supplier: WebhookSupplier, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            clock_at.shift(timedelta(seconds=400))  # the retry happens after the first window closed
            return httpx.Response(500)
        return httpx.Response(201, json=order_json())

    api.post(f"{BASE}/orders").mock(side_effect=answer)

    supplier.place(sample_request())

    stamps = [int(r.headers["X-Syncd-Timestamp"]) for r in calls]
    assert stamps == [NOW_TS, NOW_TS + 400]
    for r in calls:  # each attempt is valid at the moment it is sent
        verify(SECRET, r.headers, "POST", "/api/syncd/orders", r.content, now=int(r.headers["X-Syncd-Timestamp"]),
               window=300)


def test_place_given_persistent_5xx_raises_transient_unknown_outcome(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    route = api.post(f"{BASE}/orders").mock(return_value=httpx.Response(502, text="bad gateway"))

    with pytest.raises(TransientError, match=r"HTTP 502"):
        supplier.place(sample_request())

    assert route.call_count == 3


def test_place_given_timeouts_raises_transient(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/orders").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(TransientError) as caught:
        supplier.place(sample_request())

    assert caught.value.code == "timeout"


def test_place_given_429_with_a_long_retry_after_raises_at_once_and_pauses_the_supplier(
        supplier: WebhookSupplier, api: respx.MockRouter, waits: list[float], limiter: FakeLimiter) -> None:
    r = api.post(f"{BASE}/orders").mock(return_value=httpx.Response(429, headers={"Retry-After": "7"},
                                                                    json=error_json("rate_limited")))

    with pytest.raises(RateLimitedError) as caught:
        supplier.place(sample_request())
    with pytest.raises(RateLimitedError):  # within the ban: not sent at all
        supplier.place(sample_request())
    limiter.now += 7.5
    with pytest.raises(RateLimitedError):
        supplier.place(sample_request())

    assert caught.value.retry_after == 7.0
    assert waits == []  # the stage moves on to other suppliers instead of sleeping through the ban
    assert r.call_count == 2


def test_place_given_429_with_a_short_retry_after_waits_it_then_succeeds(
        supplier: WebhookSupplier, api: respx.MockRouter, waits: list[float]) -> None:
    api.post(f"{BASE}/orders").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "1"}, json=error_json("rate_limited")),
        httpx.Response(201, json=order_json())])

    placed = supplier.place(sample_request())

    assert placed.supplier_ref and waits == [1.0]


@pytest.mark.parametrize(("response", "text"), [
    (httpx.Response(201, text="<html>ok</html>"), "answer is not JSON"),
    (httpx.Response(201, json=[order_json()]), "expected an object"),
    (httpx.Response(201, json=order_json(supplier_order_id=None)), "supplier_order_id: expected a non-empty string"),
    (httpx.Response(201, json=order_json(supplier_order_id=" ")), "supplier_order_id: expected a non-empty string"),
    (httpx.Response(201, json=order_json(idempotency_key="another")), "idempotency_key: expected"),
    (httpx.Response(201, json=order_json(amount_fen="3980")), "amount_fen: expected a whole number"),
    (httpx.Response(201, json=order_json(amount_fen=-1)), "amount_fen: expected a whole number"),
    (httpx.Response(202, json=order_json()), "HTTP 202"),
    (httpx.Response(301, headers={"Location": "https://x"}), "redirect"),
])
def test_place_given_an_unreadable_answer_raises_protocol_error_naming_the_call(
        supplier: WebhookSupplier, api: respx.MockRouter, response: httpx.Response, text: str) -> None:
    route = api.post(f"{BASE}/orders").mock(return_value=response)

    with pytest.raises(ProtocolError, match=text) as caught:
        supplier.place(sample_request())

    assert "webhook supplier acme POST /orders" in str(caught.value)
    assert route.call_count == 1  # never retried


def test_place_uses_the_configured_path_and_rate(ctx: AdapterContext, api: respx.MockRouter,
                                                 limiter: FakeLimiter, clock_at: time_machine.Traveller) -> None:
    config: WebhookSupplierConfig = make_config(paths={"orders": "/v2/order/create"}, rate_limits={"create": 2})
    route = api.post(f"{BASE}/v2/order/create").mock(return_value=httpx.Response(201, json=order_json()))

    WebhookSupplier(config, ctx).place(sample_request())

    request = route.calls.last.request
    verify(SECRET, request.headers, "POST", "/api/syncd/v2/order/create", request.content, now=NOW_TS, window=300)
    assert limiter.acquired == [("webhook:acme:create", 2.0)]


# ---- find --------------------------------------------------------------------------------------------


def test_find_reads_the_order_by_key_with_a_signed_get(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    route = api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(200, json=order_json()))

    found = supplier.find(KEY, NOW - timedelta(hours=1))

    assert found == PlacedOrder(supplier_ref="WS20251122000042", paid=True, amount_fen=3980)
    request = route.calls.last.request
    assert request.content == b""
    assert "Content-Type" not in request.headers
    assert "Idempotency-Key" not in request.headers
    assert request.headers["X-Syncd-Signature"] == EXAMPLE_C_GET


def test_find_given_404_not_found_returns_none(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(404, json=error_json("not_found", "无此订单")))

    assert supplier.find(KEY, NOW) is None


def test_find_given_a_404_without_the_error_object_raises_fatal(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(404, text="<h1>Not Found</h1>"))

    with pytest.raises(FatalError, match="check base_url and paths"):
        supplier.find(KEY, NOW)


def test_find_encodes_the_key_as_one_path_segment_and_signs_the_encoded_path(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    key = "sd/1 2?#%"
    route = api.get(f"{BASE}/orders/sd%2F1%202%3F%23%25").mock(
        return_value=httpx.Response(200, json=order_json(idempotency_key=key)))

    assert supplier.find(key, NOW) is not None

    request = route.calls.last.request
    assert request.url.raw_path == b"/api/syncd/orders/sd%2F1%202%3F%23%25"
    verify(SECRET, request.headers, "GET", "/api/syncd/orders/sd%2F1%202%3F%23%25", b"", now=NOW_TS, window=300)


def test_find_given_a_different_key_in_the_answer_raises_protocol_error(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(200, json=order_json(idempotency_key="x")))

    with pytest.raises(ProtocolError, match="idempotency_key"):
        supplier.find(KEY, NOW)


# ---- the rest ----------------------------------------------------------------------------------------


def test_pay_returns_the_order_as_is_without_a_call(supplier: WebhookSupplier) -> None:
    order = PlacedOrder(supplier_ref="WS1", paid=True, amount_fen=1)

    assert supplier.pay(order) is order


def test_trace_and_token_have_nothing_to_do(supplier: WebhookSupplier) -> None:
    assert supplier.trace("WS1", "75312345678901") is None
    supplier.ensure_token()
    supplier.close()
