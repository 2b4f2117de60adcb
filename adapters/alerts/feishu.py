"""Feishu (飞书) / Lark custom bot, reference §E.3.

``POST {base_url}/open-apis/bot/v2/hook/{token}`` with a ``post`` (rich text, titled) or ``text``
body. Signed when the bot has a 签名校验 secret: ``timestamp`` in SECONDS and ``sign`` =
Base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")) go in the JSON body, the timestamp as a
string. Not DingTalk's algorithm: that one is refused with 19021. Success is ``code == 0`` (older
answers: ``StatusCode == 0``); body ≤ 20 KB; 100 messages a minute and 5 a second per bot.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from syncd import clock
from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import HttpSink, Monotonic, json_headers
from syncd.adapters.alerts.config import FeishuChannel
from syncd.adapters.alerts.errors import FEISHU
from syncd.adapters.alerts.signing import feishu_sign
from syncd.domain import Message
from syncd.registry import AdapterContext

PER_SECOND = 5


class FeishuSink(HttpSink):
    """One Feishu or Lark bot (``kind`` says which)."""

    def __init__(self, config: FeishuChannel, ctx: AdapterContext, *, monotonic: Monotonic = time.monotonic) -> None:
        super().__init__(kind=config.kind, name=config.id, per_minute=config.per_minute,
                         max_bytes=render.FEISHU_MAX_BYTES, ctx=ctx, monotonic=monotonic,
                         extra_limits=[(PER_SECOND, 1.0)],
                         secrets=[config.token.get_secret_value(),
                                  config.secret.get_secret_value() if config.secret else None])
        self._config = config

    def _render(self, message: Message) -> dict[str, Any]:
        m = self._config.mentions
        return render.feishu(message, msg_type=self._config.msg_type, keyword=self._config.keyword,
                             user_ids=m.user_ids, at_all=m.all, limit=self.max_bytes)

    def url(self) -> str:
        """The bot URL (the token is its last path segment)."""
        return f"{self._config.base_url}/open-apis/bot/v2/hook/{quote(self._config.token.get_secret_value(), safe='')}"

    def body(self, payload: dict[str, Any]) -> bytes:
        """The JSON sent now: signed with the current time when the bot has a secret."""
        if self._config.secret is None:
            return render.encode_json(payload)
        stamp = clock.to_epoch(clock.now())
        signed = {"timestamp": str(stamp), "sign": feishu_sign(self._config.secret.get_secret_value(), stamp)}
        return render.encode_json({**signed, **payload})

    def _deliver(self, payload: Any) -> None:
        request = httpx.Request("POST", self.url(), content=self.body(payload), headers=json_headers())
        self._robot_verdict(self._post(request), FEISHU, ("code", "StatusCode"), ("msg", "StatusMessage"))
