"""Generic webhook sink over respx: the documented body, timestamp and signature headers, statuses."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.config import WebhookChannel
from syncd.adapters.alerts.webhook import WebhookSink
from syncd.domain import Message, Severity
from syncd.errors import RejectedError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import HOOK_SECRET, HOOK_URL, FakeMonotonic, assert_no_secret, message


def make(ctx: AdapterContext, mono: FakeMonotonic, **changes: Any) -> WebhookSink:
    raw: dict[str, Any] = {"id": "ops-hook", "kind": "webhook", "url": HOOK_URL, "secret": HOOK_SECRET}
    raw.update(changes)
    return WebhookSink(WebhookChannel.model_validate(raw), ctx, monotonic=mono)


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Every test here runs at the frozen NOW (1700000000)."""


def test_body_and_signature_are_as_documented(ctx: AdapterContext, mono: FakeMonotonic,
                                              api: respx.MockRouter) -> None:
    route = api.post(HOOK_URL).mock(return_value=httpx.Response(200))

    make(ctx, mono).send(Message("库存不足", ["SKU A 剩 0 件"], Severity.CRITICAL))

    request = route.calls.last.request
    raw = request.content
    assert json.loads(raw) == {"title": "库存不足", "severity": "critical", "lines": ["SKU A 剩 0 件"],
                               "text": "[CRITICAL] 库存不足\n- SKU A 剩 0 件", "sent_at": "2023-11-14T22:13:20+00:00"}
    assert request.headers["x-syncd-timestamp"] == "1700000000"
    expected = hmac.new(HOOK_SECRET.encode(), b"1700000000." + raw, hashlib.sha256).hexdigest()
    assert request.headers["x-syncd-signature"] == f"v1={expected}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"


def test_without_a_secret_only_the_timestamp_is_sent(ctx: AdapterContext, mono: FakeMonotonic,
                                                     api: respx.MockRouter) -> None:
    route = api.post(HOOK_URL).mock(return_value=httpx.Response(202))
    make(ctx, mono, secret=None).send(message())
    headers = route.calls.last.request.headers
    assert headers["x-syncd-timestamp"] == "1700000000" and "x-syncd-signature" not in headers


def test_body_stays_within_max_bytes(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(HOOK_URL).mock(return_value=httpx.Response(200))
    make(ctx, mono, max_bytes=4096).send(message(400))
    raw = route.calls.last.request.content
    assert len(raw) <= 4096
    assert json.loads(raw)["lines"][-1].endswith(" more")


def test_a_redirect_is_refused_not_followed(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    api.post(HOOK_URL).mock(return_value=httpx.Response(302, headers={"Location": "https://elsewhere.example/"}))
    with pytest.raises(RejectedError, match="HTTP 302") as caught:
        make(ctx, mono).send(message())
    assert_no_secret(str(caught.value))


def test_401_hints_at_the_secret(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    api.post(HOOK_URL).mock(return_value=httpx.Response(401, json={"error": "bad signature"}))
    with pytest.raises(RejectedError, match=r"^webhook receiver 'ops-hook': HTTP 401 .*check secret"):
        make(ctx, mono).send(message())
