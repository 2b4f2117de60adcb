"""Slack webhook sink over respx: mrkdwn body, "ok", reasons in 4xx bodies, 429."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.alerts.config import SlackChannel
from syncd.adapters.alerts.slack import SlackSink
from syncd.errors import ProtocolError, RateLimitedError, RejectedError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import SLACK_URL, FakeMonotonic, assert_no_secret, message, sent_json


def make(ctx: AdapterContext, mono: FakeMonotonic, **changes: Any) -> SlackSink:
    raw: dict[str, Any] = {"id": "ops-slack", "kind": "slack", "webhook_url": SLACK_URL}
    raw.update(changes)
    return SlackSink(SlackChannel.model_validate(raw), ctx, monotonic=mono)


def test_posts_text_and_accepts_ok(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
    make(ctx, mono, mentions={"user_ids": ["U01"], "all": True}).send(message(1))
    assert sent_json(route.calls.last.request) == {
        "text": "*[WARNING] 订单超时未发货*\n• 订单 1 已付款 49 小时仍未发货\n<@U01> <!channel>"}


@pytest.mark.parametrize(("status", "reason", "hint"), [
    (400, "invalid_payload", "syncd bug"),
    (400, "no_text", "syncd bug"),
    (404, "channel_not_found", "create a new webhook"),
    (403, "invalid_token", "check webhook_url"),
    (404, "no_service", "check webhook_url"),
    (410, "channel_is_archived", "archived"),
    (400, "something_new", ""),
])
def test_4xx_reason_is_a_refusal(status: int, reason: str, hint: str, ctx: AdapterContext, mono: FakeMonotonic,
                                 api: respx.MockRouter) -> None:
    route = api.post(SLACK_URL).mock(return_value=httpx.Response(status, text=reason))
    with pytest.raises(RejectedError) as caught:
        make(ctx, mono).send(message())
    assert route.call_count == 1
    assert str(caught.value).startswith(f"slack webhook 'ops-slack': HTTP {status} {reason}")
    assert hint in str(caught.value)
    assert caught.value.code == reason
    assert_no_secret(str(caught.value))


def test_429_carries_retry_after(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter,
                                 waits: list[float]) -> None:
    route = api.post(SLACK_URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}),
                                                  httpx.Response(200, text="ok")])
    make(ctx, mono).send(message())
    assert route.call_count == 2
    assert waits == [3.0]  # waited what Slack asked, then delivered


def test_200_without_ok_is_unreadable(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    api.post(SLACK_URL).mock(return_value=httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(ProtocolError, match="expected 200 'ok'"):
        make(ctx, mono).send(message())


def test_reason_echoing_a_url_token_is_scrubbed(ctx: AdapterContext, mono: FakeMonotonic,
                                                api: respx.MockRouter) -> None:
    api.post(SLACK_URL).mock(return_value=httpx.Response(403, text="invalid_token slacktokenneverShown42"))
    with pytest.raises(RejectedError) as caught:
        make(ctx, mono).send(message())
    assert_no_secret(str(caught.value))


def test_429_with_a_long_wait_is_raised_at_once(ctx: AdapterContext, mono: FakeMonotonic,
                                                api: respx.MockRouter) -> None:
    route = api.post(SLACK_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "90"}))
    with pytest.raises(RateLimitedError) as caught:
        make(ctx, mono).send(message())
    assert caught.value.retry_after == 90 and route.call_count == 1
