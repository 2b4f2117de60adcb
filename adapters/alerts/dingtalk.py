"""DingTalk custom group robot (钉钉自定义机器人), reference §E.1.

``POST {base_url}/robot/send?access_token=…[&timestamp=…&sign=…]`` with a JSON ``markdown`` (title
mandatory) or ``text`` body. Signed when the robot has a 加签 secret: ``timestamp`` in milliseconds,
``sign`` = Base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded, in the query.
HTTP 200 either way: only ``errcode == 0`` is success. 20 messages a minute per robot; the 21st is
answered 130101 and mutes the robot for 10 minutes, so the sink stops itself at 20.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from syncd import clock
from syncd.adapters.alerts import render
from syncd.adapters.alerts.base import HttpSink, Monotonic, json_headers
from syncd.adapters.alerts.config import DingTalkChannel
from syncd.adapters.alerts.errors import DINGTALK
from syncd.adapters.alerts.signing import dingtalk_sign
from syncd.domain import Message
from syncd.registry import AdapterContext

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DingTalkSink(HttpSink):
    """One DingTalk robot."""

    def __init__(self, config: DingTalkChannel, ctx: AdapterContext, *, monotonic: Monotonic = time.monotonic) -> None:
        super().__init__(kind="dingtalk", name=config.id, per_minute=config.per_minute,
                         max_bytes=render.DINGTALK_MAX_BYTES, ctx=ctx, monotonic=monotonic,
                         secrets=[config.access_token.get_secret_value(),
                                  config.secret.get_secret_value() if config.secret else None])
        self._config = config

    def _render(self, message: Message) -> bytes:
        m = self._config.mentions
        body = render.dingtalk(message, msgtype=self._config.msgtype, keyword=self._config.keyword,
                               mobiles=m.mobiles, user_ids=m.user_ids, at_all=m.all, limit=self.max_bytes)
        return render.encode_json(body)

    def url(self) -> str:
        """The robot URL for a request made now (a fresh signature each time)."""
        query = {"access_token": self._config.access_token.get_secret_value()}
        if self._config.secret is not None:
            stamp = (clock.now() - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
            query["timestamp"] = str(stamp)
            query["sign"] = dingtalk_sign(self._config.secret.get_secret_value(), stamp)
        # quote (not quote_plus), nothing safe: '+', '/' and '=' of the Base64 signature are all escaped
        return f"{self._config.base_url}/robot/send?{urlencode(query, quote_via=quote, safe='')}"

    def _deliver(self, payload: Any) -> None:
        request = httpx.Request("POST", self.url(), content=payload, headers=json_headers())
        self._robot_verdict(self._post(request), DINGTALK, ("errcode",), ("errmsg",))
