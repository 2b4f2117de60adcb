"""syncd's own signed webhook, for any HTTP endpoint (an ops bot, n8n, a ticket system).

Request: ``POST <url>``, ``Content-Type: application/json; charset=utf-8``, body (compact UTF-8 JSON)::

    {"title": "...", "severity": "info|warning|critical", "lines": ["...", ...],
     "text": "[WARNING] title\\n- line\\n...", "sent_at": "2025-11-22T09:00:00+00:00"}

A list too long for ``max_bytes`` keeps its first lines and ends with ``"… N more"``.

Headers, when the channel has a ``secret``:

- ``X-Syncd-Timestamp``: Unix seconds when the request was made.
- ``X-Syncd-Signature``: ``v1=`` + lowercase hex of HMAC-SHA256(key=secret,
  msg=f"{X-Syncd-Timestamp}." + raw body bytes).

A receiver recomputes the HMAC over the raw body exactly as received, compares in constant time,
and refuses timestamps more than 5 minutes from its own clock (replays). Without a secret only the
timestamp is sent.

Answers: any 2xx is success; 429 and 5xx are retried later (Retry-After honoured); any other status
is a refusal, not retried.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from syncd import clock
from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import HttpSink, Monotonic, json_headers
from syncd.adapters.alerts.config import WebhookChannel
from syncd.adapters.alerts.errors import http_refusal
from syncd.adapters.alerts.signing import webhook_signature
from syncd.domain import Message
from syncd.registry import AdapterContext

TIMESTAMP_HEADER = "X-Syncd-Timestamp"
SIGNATURE_HEADER = "X-Syncd-Signature"


class WebhookSink(HttpSink):
    """One generic webhook receiver."""

    noun = "receiver"

    def __init__(self, config: WebhookChannel, ctx: AdapterContext, *, monotonic: Monotonic = time.monotonic) -> None:
        super().__init__(kind="webhook", name=config.id, per_minute=config.per_minute, max_bytes=config.max_bytes,
                         ctx=ctx, monotonic=monotonic,
                         secrets=[config.url.get_secret_value(),
                                  config.secret.get_secret_value() if config.secret else None])
        self._config = config

    def _render(self, message: Message) -> Message:
        return message  # rendered per attempt: sent_at and the signature are of that moment

    def request(self, message: Message) -> httpx.Request:
        """The signed request for ``message`` made now."""
        now = clock.now()
        stamp = clock.to_epoch(now)
        body = render.encode_json(render.webhook(message, sent_at=now.isoformat(timespec="seconds"),
                                                 limit=self.max_bytes))
        headers = {**json_headers(), TIMESTAMP_HEADER: str(stamp)}
        if self._config.secret is not None:
            headers[SIGNATURE_HEADER] = webhook_signature(self._config.secret.get_secret_value(), stamp, body)
        return httpx.Request("POST", self._config.url.get_secret_value(), content=body, headers=headers)

    def _deliver(self, payload: Any) -> None:
        resp = self._post(self.request(payload))
        if resp.status_code >= 300:
            raise http_refusal(self.label, resp.status_code, self._text(resp))
