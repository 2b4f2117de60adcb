"""Webhook supplier stock (docs/webhook-supplier.md §6, §9.1): the stock read with prices, and the signed push
(signature, window, replay, malformed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.signing import sign_headers
from syncd.errors import AuthError, RejectedError, TransientError
from syncd.registry import AdapterContext
from syncd.stockmodel import StockReadResult, SupplierStock, SupplierStockSource
from tests.adapters.webhook.conftest import BASE, SECRET, error_json, make_config

STOCK_URL = f"{BASE}/stock"
PATH = "/callbacks/suppliers/acme/stock"
SENT = 1763807400
NOW = datetime.fromtimestamp(SENT + 5, UTC)
AT = datetime(2025, 11, 22, 10, 29, tzinfo=UTC)


def _push(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": "stk_000001", "occurred_at": "2025-11-22T18:29:00+08:00",
                            "lines": [{"sku": "TEE-RED-M", "available": 0, "price_fen": 1990},
                                      {"sku": "SOCK-5P", "available": 120}]}
    body.update(changes)
    return body


def _signed(body: bytes, *, ts: int = SENT, path: str = PATH, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", **sign_headers(secret, ts, "POST", path, body)}


def _raw(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# ---- the read -------------------------------------------------------------------------------------------


def test_the_supplier_is_a_supplier_stock_source(supplier: WebhookSupplier) -> None:
    assert isinstance(supplier, SupplierStockSource)


def test_read_stock_asks_post_stock_and_reads_available_and_price(supplier: WebhookSupplier,
                                                                  api: respx.MockRouter) -> None:
    r = api.post(STOCK_URL).mock(return_value=httpx.Response(200, json={"lines": [
        {"sku": "TEE-RED-M", "available": 35, "price_fen": 1990},
        {"sku": "SOCK-5P", "available": 0, "message": "停产"},
        {"sku": "CAP-BLK", "available": None, "price_fen": 800}]}))

    result = supplier.read_stock(["TEE-RED-M", "SOCK-5P", "CAP-BLK", "MISSING"])

    sent = json.loads(r.calls.last.request.content)
    assert sent == {"lines": [{"sku": s, "quantity": 1} for s in ("TEE-RED-M", "SOCK-5P", "CAP-BLK", "MISSING")],
                    "purpose": "sync"}
    assert r.calls.last.request.headers["X-Syncd-Signature"].startswith("v1=")
    assert result.stock == [SupplierStock("TEE-RED-M", 35, 1990), SupplierStock("SOCK-5P", 0, None),
                            SupplierStock("CAP-BLK", None, 800)]
    assert result.deferred == {"MISSING": "the supplier's stock answer left it out"} and result.failed == {}


def test_read_stock_sends_at_most_100_skus_a_call(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["lines"]
        return httpx.Response(200, json={"lines": [{"sku": ln["sku"], "available": 1} for ln in asked]})

    r = api.post(STOCK_URL).mock(side_effect=answer)

    result = supplier.read_stock([f"S{i}" for i in range(250)])

    assert [len(json.loads(c.request.content)["lines"]) for c in r.calls] == [100, 100, 50]
    assert len(result.stock) == 250


def test_read_stock_given_a_422_defers_the_skus_with_the_suppliers_words(supplier: WebhookSupplier,
                                                                         api: respx.MockRouter) -> None:
    api.post(STOCK_URL).mock(return_value=httpx.Response(422, json=error_json("busy_inventory", "盘点中")))

    result = supplier.read_stock(["TEE-RED-M"])

    assert result.deferred == {"TEE-RED-M": "stock read refused: busy_inventory: 盘点中"}


def test_read_stock_given_stock_false_asks_nothing(ctx: AdapterContext, clock_at: object) -> None:
    result = WebhookSupplier(make_config(stock=False), ctx).read_stock(["TEE-RED-M"])

    assert result == StockReadResult(deferred={"TEE-RED-M": "the supplier file says stock: false"})


def test_read_stock_given_a_bad_signature_answer_raises_auth(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(STOCK_URL).mock(return_value=httpx.Response(401, json=error_json("bad_signature")))

    with pytest.raises(AuthError):
        supplier.read_stock(["TEE-RED-M"])


def test_read_stock_given_5xx_retries_then_raises_transient(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    r = api.post(STOCK_URL).mock(return_value=httpx.Response(503))

    with pytest.raises(TransientError):
        supplier.read_stock(["TEE-RED-M"])

    assert r.call_count == 3


@pytest.mark.parametrize(("answer", "words"), [
    ({"lines": {"sku": "A"}}, "lines: expected a list"),
    ({"lines": [{"sku": "A", "available": -1}]}, r"lines\[0\].available: expected a whole number"),
    ({"lines": [{"sku": "A", "available": 1, "price_fen": 12.5}]}, r"lines\[0\].price_fen"),
    ({"lines": [{"sku": "A", "available": "3"}]}, r"lines\[0\].available"),
    ({"lines": [{"available": 3}]}, r"lines\[0\].sku"),
    ({"lines": [{"sku": "A" * 129, "available": 3}]}, "at most 128"),
])
def test_read_stock_given_a_malformed_answer_raises_naming_the_field(supplier: WebhookSupplier,
                                                                     api: respx.MockRouter, answer: Any,
                                                                     words: str) -> None:
    api.post(STOCK_URL).mock(return_value=httpx.Response(200, json=answer))

    with pytest.raises(Exception, match=words) as caught:
        supplier.read_stock(["A"])

    assert "POST /stock" in str(caught.value)


# ---- the push -------------------------------------------------------------------------------------------


def test_a_signed_fresh_stock_push_is_read_with_its_time(supplier: WebhookSupplier) -> None:
    raw = _raw(_push())

    got = supplier.parse_stock_push(_signed(raw), raw, NOW)

    assert got == [SupplierStock("TEE-RED-M", 0, 1990, AT), SupplierStock("SOCK-5P", 120, None, AT)]


def test_a_push_without_occurred_at_is_true_at_its_signature_time(supplier: WebhookSupplier) -> None:
    raw = _raw(_push(occurred_at=None))

    got = supplier.parse_stock_push(_signed(raw), raw, NOW)

    assert {s.observed_at for s in got} == {datetime.fromtimestamp(SENT, UTC)}


@pytest.mark.parametrize(("headers", "raw", "now", "code"), [
    ({}, _raw(_push()), NOW, "unsigned"),
    (_signed(_raw(_push()), secret="another-secret-of-32-characters!"), _raw(_push()), NOW, "bad_signature"),
    (_signed(_raw(_push()), path="/callbacks/suppliers/acme"), _raw(_push()), NOW, "bad_signature"),
    (_signed(_raw(_push())), _raw(_push(event_id="stk_000002")), NOW, "bad_signature"),
    (_signed(_raw(_push())), _raw(_push()), NOW + timedelta(seconds=301), "stale_timestamp"),
    (_signed(_raw(_push())), _raw(_push()), NOW - timedelta(seconds=310), "stale_timestamp"),
    (_signed(b"[1]"), b"[1]", NOW, "malformed"),
    (_signed(b"\xff"), b"\xff", NOW, "malformed"),
    (_signed(_raw(_push(event_id=""))), _raw(_push(event_id="")), NOW, "malformed"),
    (_signed(_raw(_push(lines=[{"sku": "A", "available": -2}]))),
     _raw(_push(lines=[{"sku": "A", "available": -2}])), NOW, "malformed"),
    (_signed(_raw(_push(lines=[{"sku": "A", "available": 1}] * 2))),
     _raw(_push(lines=[{"sku": "A", "available": 1}] * 2)), NOW, "malformed"),
    (_signed(_raw(_push(lines=[{"sku": f"S{i}", "available": 1} for i in range(1001)]))),
     _raw(_push(lines=[{"sku": f"S{i}", "available": 1} for i in range(1001)])), NOW, "malformed"),
    (_signed(_raw(_push(occurred_at="yesterday"))), _raw(_push(occurred_at="yesterday")), NOW, "malformed"),
])
def test_a_bad_stock_push_is_refused_with_its_reason(supplier: WebhookSupplier, headers: dict[str, str], raw: bytes,
                                                     now: datetime, code: str) -> None:
    with pytest.raises(RejectedError) as caught:
        supplier.parse_stock_push(headers, raw, now)

    assert caught.value.code == code
    assert SECRET not in str(caught.value)


def test_a_replayed_stock_push_is_refused_inside_the_window(supplier: WebhookSupplier) -> None:
    raw = _raw(_push())
    supplier.parse_stock_push(_signed(raw), raw, NOW)

    with pytest.raises(RejectedError) as caught:
        supplier.parse_stock_push(_signed(raw), raw, NOW + timedelta(seconds=60))

    assert caught.value.code == "replay"
    other = _raw(_push(event_id="stk_000002"))
    assert supplier.parse_stock_push(_signed(other), other, NOW)


def test_a_resend_signed_afresh_after_a_failed_answer_is_read_again(supplier: WebhookSupplier) -> None:
    raw = _raw(_push())
    first = supplier.parse_stock_push(_signed(raw), raw, NOW)

    again = supplier.parse_stock_push(_signed(raw, ts=SENT + 60), raw, NOW + timedelta(seconds=60))

    assert again == first  # the same full figures, true at the same occurred_at


def test_a_proxied_supplier_signs_its_stock_pushes_under_the_callback_path(ctx: AdapterContext) -> None:
    supplier = WebhookSupplier(make_config(callback_path="/syncd/callbacks/suppliers/acme"), ctx)
    raw = _raw(_push())

    got = supplier.parse_stock_push(_signed(raw, path="/syncd/callbacks/suppliers/acme/stock"), raw, NOW)

    assert len(got) == 2
