"""Slack incoming webhook, reference §E.4.

``POST <webhook_url>`` with ``{"text": "<mrkdwn>"}``. Success is HTTP 200 with the plain body ``ok``;
a refusal is a 4xx whose text body is the reason (``invalid_payload``, ``no_text``,
``channel_not_found``, …); 429 carries Retry-After. The whole URL is the credential and is never shown.
Slack allows about one message a second per webhook (short bursts tolerated): the sink keeps to one a
second besides its ``per_minute``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import HttpSink, Monotonic, json_headers
from syncd.adapters.alerts.config import SlackChannel
from syncd.adapters.alerts.errors import slack_error, unreadable
from syncd.domain import Message
from syncd.registry import AdapterContext

PER_SECOND = 1  # api.slack.com rate limits: incoming webhooks about one message a second


class SlackSink(HttpSink):
    """One Slack incoming webhook."""

    noun = "webhook"

    def __init__(self, config: SlackChannel, ctx: AdapterContext, *, monotonic: Monotonic = time.monotonic) -> None:
        url = config.webhook_url.get_secret_value()
        # the path segments after /services/ (or /workflows/, /triggers/) are tokens: mask each one too
        parts = [p for p in url.split("?")[0].split("/")[4:] if len(p) >= 4]
        super().__init__(kind="slack", name=config.id, per_minute=config.per_minute,
                         max_bytes=render.SLACK_MAX_BYTES, ctx=ctx, secrets=[url, *parts], monotonic=monotonic,
                         extra_limits=[(PER_SECOND, 1.0)])
        self._config = config

    def _render(self, message: Message) -> bytes:
        m = self._config.mentions
        return render.encode_json(render.slack(message, user_ids=m.user_ids, at_all=m.all, limit=self.max_bytes))

    def _deliver(self, payload: Any) -> None:
        request = httpx.Request("POST", self._config.webhook_url.get_secret_value(), content=payload,
                                headers=json_headers())
        resp = self._post(request)
        text = self._text(resp)
        if resp.status_code >= 400:
            raise slack_error(self.label, resp.status_code, text)
        if resp.status_code != 200 or text != "ok":
            raise unreadable(self.label, f"HTTP {resp.status_code} with {text[:80]!r}, expected 200 'ok'")
