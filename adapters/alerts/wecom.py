"""WeCom (企业微信) group robot, reference §E.2.

``POST {base_url}/cgi-bin/webhook/send?key=…`` with ``markdown`` (content ≤ 4096 bytes, mentions as
``<@userid>`` in the content) or ``text`` (content ≤ 2048 bytes, ``mentioned_list`` /
``mentioned_mobile_list``). The key is the only credential; no signing. HTTP 200 either way: only
``errcode == 0`` is success; 45009 is the 20-a-minute limit, 93000 a bad or revoked key.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import HttpSink, Monotonic, json_headers
from syncd.adapters.alerts.config import WeComChannel
from syncd.adapters.alerts.errors import WECOM
from syncd.domain import Message
from syncd.registry import AdapterContext


class WeComSink(HttpSink):
    """One WeCom group robot."""

    def __init__(self, config: WeComChannel, ctx: AdapterContext, *, monotonic: Monotonic = time.monotonic) -> None:
        limit = render.WECOM_MARKDOWN_MAX_BYTES if config.msgtype == "markdown" else render.WECOM_TEXT_MAX_BYTES
        super().__init__(kind="wecom", name=config.id, per_minute=config.per_minute, max_bytes=limit, ctx=ctx,
                         secrets=[config.key.get_secret_value()], monotonic=monotonic)
        self._config = config

    def _render(self, message: Message) -> bytes:
        m = self._config.mentions
        body = render.wecom(message, msgtype=self._config.msgtype, user_ids=m.user_ids, mobiles=m.mobiles,
                            at_all=m.all, limit=self.max_bytes)
        return render.encode_json(body)

    def url(self) -> str:
        """The robot URL (the key in the query)."""
        query = urlencode({"key": self._config.key.get_secret_value()}, quote_via=quote, safe="")
        return f"{self._config.base_url}/cgi-bin/webhook/send?{query}"

    def _deliver(self, payload: Any) -> None:
        request = httpx.Request("POST", self.url(), content=payload, headers=json_headers())
        self._robot_verdict(self._post(request), WECOM, ("errcode",), ("errmsg",))
