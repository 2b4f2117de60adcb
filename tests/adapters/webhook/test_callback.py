"""parse_callback: only a signed, fresh, well-formed push from this supplier becomes a SupplierCallback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.signing import sign_headers
from syncd.domain import SupplierOrderPhase, SupplierParcel
from syncd.errors import RejectedError
from syncd.registry import AdapterContext
from tests.adapters.webhook.conftest import KEY, SECRET, make_config

PATH = "/callbacks/suppliers/acme"
SENT = 1763807400
NOW = datetime.fromtimestamp(SENT + 5, UTC)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "evt_000123", "idempotency_key": KEY, "phase": "shipped",
        "supplier_order_id": "WS20251122000042", "message": "", "occurred_at": "2025-11-22T18:30:00+08:00",
        "parcels": [{"carrier": "中通快递", "tracking_no": "75312345678901", "line_refs": None,
                     "shipped_at": "2025-11-22T18:25:00+08:00"}]}
    body.update(changes)
    return body


def _signed(body: bytes, *, ts: int = SENT, path: str = PATH, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", **sign_headers(secret, ts, "POST", path, body)}


@pytest.fixture
def pusher(ctx: AdapterContext) -> WebhookSupplier:
    return WebhookSupplier(make_config(tracking="push"), ctx)


def test_a_signed_fresh_callback_is_read(pusher: WebhookSupplier) -> None:
    raw = json.dumps(_body(), ensure_ascii=False).encode()

    got = pusher.parse_callback(_signed(raw), raw, NOW)

    assert got.idempotency_key == KEY
    assert got.status.supplier_ref == "WS20251122000042"
    assert got.status.phase is SupplierOrderPhase.SHIPPED
    assert got.status.parcels == [SupplierParcel(carrier="zhongtong", carrier_text="中通快递",
                                                 tracking_no="75312345678901", line_refs=None,
                                                 sent_at=datetime(2025, 11, 22, 10, 25, tzinfo=UTC))]


def test_the_documented_example_d_is_accepted(pusher: WebhookSupplier) -> None:
    raw = ('{"event_id":"evt_000123","idempotency_key":"syncd-7f3a9c2e41b8d605","phase":"shipped",'
           '"supplier_order_id":"WS20251122000042","message":"","occurred_at":"2025-11-22T18:30:00+08:00",'
           '"parcels":[{"carrier":"中通快递","tracking_no":"75312345678901","line_refs":null,'
           '"shipped_at":"2025-11-22T18:25:00+08:00"}]}').encode()
    headers = {"x-syncd-timestamp": "1763807400",
               "x-syncd-signature": "v1=47b5456e3c520dcfd90096b756d88639121b9e566d0c90c1aab7f5e507f33a01"}

    assert pusher.parse_callback(headers, raw, NOW).status.parcels[0].tracking_no == "75312345678901"


def test_the_configured_callback_path_is_the_one_signed(ctx: AdapterContext) -> None:
    proxied = WebhookSupplier(make_config(tracking="push", callback_path="/syncd/cb/acme"), ctx)
    raw = json.dumps(_body()).encode()

    assert proxied.parse_callback(_signed(raw, path="/syncd/cb/acme"), raw, NOW).idempotency_key == KEY
    with pytest.raises(RejectedError, match="bad signature"):
        proxied.parse_callback(_signed(raw), raw, NOW)


@pytest.mark.parametrize(("headers", "code", "text"), [
    ({}, "unsigned", "unsigned"),
    ({"X-Syncd-Timestamp": str(SENT)}, "unsigned", "unsigned"),
    ({"X-Syncd-Signature": "v1=" + "a" * 64}, "unsigned", "unsigned"),
    ({"X-Syncd-Timestamp": "soon", "X-Syncd-Signature": "v1=" + "a" * 64}, "bad_timestamp", "bad timestamp"),
    ({"X-Syncd-Timestamp": str(SENT), "X-Syncd-Signature": "v1=" + "a" * 64}, "bad_signature", "bad signature"),
])
def test_unsigned_or_badly_signed_callbacks_are_refused_with_the_reason(
        pusher: WebhookSupplier, headers: dict[str, str], code: str, text: str) -> None:
    raw = json.dumps(_body()).encode()

    with pytest.raises(RejectedError, match=text) as caught:
        pusher.parse_callback(headers, raw, NOW)

    assert caught.value.code == code
    assert "webhook supplier acme callback refused" in str(caught.value)


def test_a_callback_signed_with_another_secret_is_refused(pusher: WebhookSupplier) -> None:
    raw = json.dumps(_body()).encode()

    with pytest.raises(RejectedError, match="bad signature"):
        pusher.parse_callback(_signed(raw, secret="another-secret-0123456789"), raw, NOW)


def test_a_body_changed_after_signing_is_refused(pusher: WebhookSupplier) -> None:
    raw = json.dumps(_body()).encode()
    forged = json.dumps(_body(phase="cancelled")).encode()

    with pytest.raises(RejectedError, match="bad signature"):
        pusher.parse_callback(_signed(raw), forged, NOW)


@pytest.mark.parametrize("delta", [301, 3600, -301])
def test_a_replayed_or_early_callback_outside_the_window_is_refused(pusher: WebhookSupplier, delta: int) -> None:
    raw = json.dumps(_body()).encode()

    with pytest.raises(RejectedError, match=r"timestamp outside the 300 s window") as caught:
        pusher.parse_callback(_signed(raw), raw, datetime.fromtimestamp(SENT, UTC) + timedelta(seconds=delta))

    assert caught.value.code == "stale_timestamp"


def test_the_window_follows_the_supplier_file(ctx: AdapterContext) -> None:
    wide = WebhookSupplier(make_config(tracking="push", timestamp_window_seconds=900), ctx)
    raw = json.dumps(_body()).encode()
    later = datetime.fromtimestamp(SENT + 600, UTC)

    assert wide.parse_callback(_signed(raw), raw, later).idempotency_key == KEY
    with pytest.raises(RejectedError, match="900 s window"):
        wide.parse_callback(_signed(raw), raw, later + timedelta(seconds=301))


def test_a_polled_supplier_refuses_pushes(ctx: AdapterContext) -> None:
    raw = json.dumps(_body()).encode()

    with pytest.raises(RejectedError, match="does not push") as caught:
        WebhookSupplier(make_config(), ctx).parse_callback(_signed(raw), raw, NOW)

    assert caught.value.code == "not_push"


@pytest.mark.parametrize(("raw", "text"), [
    (b"\xff\xfe not utf-8", "not UTF-8 JSON"),
    (b"{not json", "not UTF-8 JSON"),
    (b"[1, 2]", "JSON list, expected an object"),
    (json.dumps(_body(event_id="")).encode(), "event_id: expected a non-empty string"),
    (json.dumps(_body(event_id=None)).encode(), "event_id: expected a non-empty string, found null"),
    (json.dumps(_body(event_id="e" * 129)).encode(), "event_id: expected at most 128"),
    (json.dumps(_body(idempotency_key=7)).encode(), "idempotency_key: expected a non-empty string, found int"),
    (json.dumps(_body(phase="sent")).encode(), "phase: expected one of"),
    (json.dumps(_body(supplier_order_id="")).encode(), "supplier_order_id: expected a non-empty"),
    (json.dumps(_body(parcels=[])).encode(), "phase shipped needs at least one parcel"),
    (json.dumps(_body(parcels=[{"carrier": "中通", "tracking_no": 7531}])).encode(),
     r"parcels\[0\]\.tracking_no: expected a string"),
    (json.dumps(_body(occurred_at="now")).encode(), "occurred_at: expected an RFC 3339"),
])
def test_a_signed_but_malformed_body_is_refused_naming_the_field(pusher: WebhookSupplier, raw: bytes,
                                                                 text: str) -> None:
    with pytest.raises(RejectedError, match=text) as caught:
        pusher.parse_callback(_signed(raw), raw, NOW)

    assert caught.value.code == "malformed"


def test_a_refusal_never_shows_the_secret_or_the_signature(pusher: WebhookSupplier) -> None:
    raw = json.dumps(_body()).encode()
    headers = _signed(raw)

    with pytest.raises(RejectedError) as caught:
        pusher.parse_callback(headers, raw, NOW + timedelta(hours=1))

    assert SECRET not in str(caught.value)
    assert headers["X-Syncd-Signature"][3:] not in str(caught.value)
