"""The contract's signature: the documented examples reproduce, and every refusal has its reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from syncd.adapters.webhook.mapping import encode, order_body
from syncd.adapters.webhook.signing import SignatureRefused, digest, message, sign_headers, verify
from tests.adapters.webhook.conftest import KEY, SECRET, sample_request

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhook-supplier.md"
TEST_SECRET = "test_secret_0123456789"
CANCEL_BODY = b'{"reason":"buyer cancelled"}'
CALLBACK_BODY = ('{"event_id":"evt_000123","idempotency_key":"syncd-7f3a9c2e41b8d605","phase":"shipped",'
                 '"supplier_order_id":"WS20251122000042","message":"","occurred_at":"2025-11-22T18:30:00+08:00",'
                 '"parcels":[{"carrier":"中通快递","tracking_no":"75312345678901","line_refs":null,'
                 '"shipped_at":"2025-11-22T18:25:00+08:00"}]}').encode()
STOCK_PUSH_BODY = (b'{"event_id":"stk_000001","occurred_at":"2025-11-22T18:29:00+08:00","lines":[{"sku":"TEE-RED-M",'
                   b'"available":0,"price_fen":1990},{"sku":"SOCK-5P","available":120}]}')

# (secret, timestamp, method, path, body, signature) — docs/webhook-supplier.md §2.4 examples A–E
EXAMPLES = [
    (TEST_SECRET, "1700000000", "GET", "/orders/K-1", b"",
     "2c4301c4168f065b67859f5fe74f9365d6c005d261f41993d38a1a1c96cc1aa7"),
    (TEST_SECRET, "1700000000", "POST", "/orders/K-1/cancel", CANCEL_BODY,
     "be7a8b3c36161bc26a3025fc87af99730a8867efb78f6c80c0d9d9b9c95a89ce"),
    (SECRET, "1763802000", "POST", "/api/syncd/orders", encode(order_body(sample_request())),
     "3d679eaa4afd046952e1a1fb1fe2af82d3c6a6276ab2b9575c4d179287ac345d"),
    (SECRET, "1763802000", "GET", f"/api/syncd/orders/{KEY}", b"",
     "0cf1077374236fc4a3a1d0a4c9f807f8dd8cc7aaec18de6ccc63bfc79f21a044"),
    (SECRET, "1763807400", "POST", "/callbacks/suppliers/acme", CALLBACK_BODY,
     "47b5456e3c520dcfd90096b756d88639121b9e566d0c90c1aab7f5e507f33a01"),
    (SECRET, "1763807400", "POST", "/callbacks/suppliers/acme/stock", STOCK_PUSH_BODY,
     "c000a32e902e9cc119dd8e67c9b54c7fa100ec45a3ffb18c0a4f09958ce89d42"),
]


@pytest.mark.parametrize(("secret", "ts", "method", "path", "body", "expected"), EXAMPLES)
def test_digest_reproduces_each_documented_example(secret: str, ts: str, method: str, path: str, body: bytes,
                                                   expected: str) -> None:
    assert digest(secret, ts, method, path, body) == expected
    assert f"v1={expected}" in DOC.read_text(encoding="utf-8")


def test_documented_bodies_are_the_bytes_syncd_sends() -> None:
    doc = DOC.read_text(encoding="utf-8")
    order = encode(order_body(sample_request()))

    assert order.decode() in doc  # example C's body is exactly what order_body + encode produce
    assert f"body ({len(order)} bytes" in doc
    assert CALLBACK_BODY.decode() in doc
    assert STOCK_PUSH_BODY.decode() in doc
    assert "1700000000.GET./orders/K-1." in doc
    assert f"1700000000.POST./orders/K-1/cancel.{CANCEL_BODY.decode()}" in doc


def test_every_hex_in_the_signature_section_is_checked_by_this_file() -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc[doc.index("### 2.4"):doc.index("## 3.")]
    documented = set(re.findall(r"\b[0-9a-f]{64}\b", section))

    assert documented == {e[5] for e in EXAMPLES}


def test_message_is_timestamp_method_path_then_raw_body() -> None:
    assert message("17", "post", "/a%2Fb", "é".encode()) == b"17.POST./a%2Fb." + "é".encode()


def test_sign_headers_gives_the_timestamp_and_a_v1_signature() -> None:
    headers = sign_headers(TEST_SECRET, 1700000000, "GET", "/orders/K-1", b"")

    assert headers == {"X-Syncd-Timestamp": "1700000000", "X-Syncd-Signature": f"v1={EXAMPLES[0][5]}"}


def _headers(ts: str = "1700000000", sig: str | None = None) -> dict[str, str]:
    return {"x-syncd-timestamp": ts, "X-SYNCD-SIGNATURE": sig or f"v1={EXAMPLES[1][5]}"}


def _verify(headers: dict[str, str], now: float = 1700000000, body: bytes = CANCEL_BODY) -> int:
    return verify(TEST_SECRET, headers, "POST", "/orders/K-1/cancel", body, now=now, window=300)


def test_verify_accepts_a_good_request_with_any_header_case() -> None:
    assert _verify(_headers()) == 1700000000


def test_verify_accepts_when_one_of_several_entries_matches() -> None:
    assert _verify(_headers(sig=f"v0=abc, v1={'0' * 64}, v1={EXAMPLES[1][5]}")) == 1700000000


def test_verify_accepts_the_edges_of_the_window() -> None:
    assert _verify(_headers(), now=1700000300) == 1700000000
    assert _verify(_headers(), now=1699999700) == 1700000000


@pytest.mark.parametrize(("headers", "code", "text"), [
    ({}, "unsigned", "unsigned"),
    ({"X-Syncd-Timestamp": "1700000000"}, "unsigned", "no X-Syncd-Signature"),
    ({"X-Syncd-Signature": "v1=00"}, "unsigned", "no X-Syncd-Timestamp"),
    (_headers(ts="17e8"), "bad_timestamp", "Unix seconds"),
    (_headers(ts="-1700000000"), "bad_timestamp", "Unix seconds"),
    (_headers(ts="١٧٠٠٠٠٠٠٠٠"), "bad_timestamp", "Unix seconds"),
    (_headers(sig="sha256=" + EXAMPLES[1][5]), "bad_signature", "no v1= entry"),
    (_headers(sig="v1=" + "0" * 64), "bad_signature", "bad signature"),
    (_headers(sig="v1=" + EXAMPLES[0][5]), "bad_signature", "bad signature"),
    (_headers(ts="1700000001"), "bad_signature", "bad signature"),
])
def test_verify_refuses_with_its_reason(headers: dict[str, str], code: str, text: str) -> None:
    with pytest.raises(SignatureRefused, match=text) as caught:
        _verify(headers)

    assert caught.value.code == code
    assert EXAMPLES[1][5] not in str(caught.value)


def test_verify_refuses_a_changed_body() -> None:
    with pytest.raises(SignatureRefused) as caught:
        _verify(_headers(), body=b'{"reason":"buyer cancelled!"}')

    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("now", [1700000301, 1699999699, 1800000000])
def test_verify_refuses_a_correctly_signed_request_outside_the_window(now: float) -> None:
    with pytest.raises(SignatureRefused, match=r"timestamp outside the 300 s window") as caught:
        _verify(_headers(), now=now)

    assert caught.value.code == "stale_timestamp"
