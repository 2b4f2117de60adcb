"""Taobao / Tmall open platform (TOP) simulator speaking the real wire protocol.

Mounted at ``/taobao``: the daemon's ``base_url`` is ``{server.url}/taobao`` (``/taobao/router/rest`` is
accepted too). Every call is checked as the gateway does (reference/storefronts.md §3.1–3.3, §3.7):
parameters from the query string and the form body together; ``method`` known (21/22); ``app_key``
(28/29); ``timestamp`` ``yyyy-MM-dd HH:mm:ss`` GMT+8 within 10 minutes (30/31); ``v=2.0`` (32/34);
``sign_method`` md5 (the default when absent), hmac or hmac-sha256, and the signature over every
parameter (24/25); ``format=json`` (the sandbox answers JSON only); a live ``session`` except for
``taobao.top.auth.token.refresh`` (26/27). Then flow control when ``qps`` is set (code 7, "This ban will
last for N more seconds"; ``qps`` is one limit for every call, a limit per API, or True for
:data:`API_QPS`), and seeded ``isp.*`` faults. Answers are ``{"<name>_response": {...}}`` or
``{"error_response": {...}}``, always over HTTP 200.

Unsigned admin endpoints under ``/taobao/_sandbox/`` and the storefront-neutral controls of
:class:`adapters.sandbox.control.StorefrontSim` are in :mod:`adapters.sandbox.taobao_admin`.
"""

from __future__ import annotations

import collections
import heapq
import hmac
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.products import TAOBAO_IDS, ProductBook
from syncd.adapters.sandbox.taobao_admin import AdminMixin
from syncd.adapters.sandbox.taobao_errors import TopError, invalid, missing
from syncd.adapters.sandbox.taobao_items import TaobaoItems
from syncd.adapters.sandbox.taobao_sessions import SessionStore
from syncd.adapters.sandbox.taobao_trades import COMPANIES, TradeBook
from syncd.adapters.taobao.client import DEFAULT_RATES
from syncd.adapters.taobao.signing import SIGN_METHODS, sign

PREFIX = "/taobao"
REFRESH = "taobao.top.auth.token.refresh"
LIST = "taobao.trades.sold.increment.get"
SHIP = "taobao.logistics.offline.send"
_SESSION_OPTIONAL = {"taobao.logistics.companies.get"}
_SKEW = 600  # the gateway's 10-minute timestamp tolerance
_SLACK = 0.1  # of a token: a client keeping exactly to the limit must not be banned for clock jitter
_FAULTS = ((15, "isp.top-remote-connection-timeout", "连接远程服务超时"),
           (15, "isp.remote-service-error", "远程服务错误"),
           (10, "isp.system-busy", "系统繁忙，请稍后重试"))

Qps = bool | float | Mapping[str, float] | None
# What ``qps=True`` enforces: TOP publishes no per-API numbers, so the assumed ones the adapter budgets by.
API_QPS: dict[str, float] = dict(DEFAULT_RATES)


def response_key(method: str) -> str:
    """``taobao.trade.fullinfo.get`` → ``trade_fullinfo_get_response``."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def ban(seconds: float) -> TopError:
    """Code 7 flow control with the ban's remaining seconds in the message."""
    return TopError(7, "accesscontrol.limited-by-api-access-count",
                    f"This ban will last for {max(1, math.ceil(seconds))} more seconds")


class TaobaoSimulator(AdminMixin):
    """One Taobao shop behind one app; thread-safe (every call runs under one lock)."""

    prefix = PREFIX
    platform = "taobao"

    def __init__(self, app_key: str, app_secret: str, sessions: Mapping[str, str], orders: Iterable[dict[str, Any]],
                 *, session_ttl: float = 30 * 86400, refresh_ttl: float = 60 * 86400, fault_rate: float = 0.0,
                 qps: Qps = None, ban_seconds: float = 1.0, seed: int = 0, clock: Callable[[], float] = time.time,
                 lost_reply_rate: float = 0.0, list_oaid: bool = False, release_after: float | None = None,
                 release_fraction: float = 0.5, shop_name: str = tseed.SANDBOX_TAOBAO_NICK,
                 products: ProductBook | None = None, paging_depth: int = 20_000) -> None:
        self.app_key, self.shop_name = app_key, shop_name
        self._secret = app_secret
        self.clock = clock
        self.fault_rate, self.lost_reply_rate = fault_rate, lost_reply_rate
        self.qps: Qps = API_QPS if qps is True else qps
        self.ban_seconds = ban_seconds
        self._buckets: dict[str, tuple[float, float]] = {}
        self._banned: dict[str, float] = {}
        self._rng = random.Random(f"taobao-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._serial = 0
        self.started_at = clock()
        self.configured_sessions = dict(sessions)
        self.sessions = SessionStore(app_key, sessions, session_ttl, refresh_ttl, seed, self.started_at)
        self.book = TradeBook(orders, list_oaid=list_oaid)
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.sub_errors: Counter[str] = Counter()
        self.failures: collections.deque[str] = collections.deque()
        self.window_calls: Counter[tuple[str, str]] = Counter()
        self.touches: list[tuple[str, int]] = []
        self._events: list[tuple[float, int, str]] = []
        self._plan_release(seed, release_after, release_fraction)
        self._methods: dict[str, Callable[[dict[str, str], float], dict[str, Any]]] = {
            LIST: self._sold_increment,
            "taobao.trade.fullinfo.get": lambda p, now: self.book.fullinfo(p),
            "taobao.top.oaid.decrypt": lambda p, now: self.book.decrypt(p),
            "taobao.logistics.companies.get": lambda p, now: {"logistics_companies": {"logistics_company": COMPANIES}},
            SHIP: self._ship,
            "taobao.refunds.receive.get": self.book.refunds_received,
            REFRESH: self._refresh,
        }
        self.products = products if products is not None else ProductBook(TAOBAO_IDS, started=self.started_at)
        self.items = TaobaoItems(self.products, paging_depth)  # item listing and the stock writes
        self._methods.update(self.items.methods())

    def _plan_release(self, seed: int, release_after: float | None, fraction: float) -> None:
        if release_after is None:
            return
        rng = random.Random(f"taobao-evolution|{seed}")  # noqa: S311 - reproducible
        pending = sorted(t for t, trade in self.book.trades.items() if trade["status"] == "PAID_FORBID_CONSIGN")
        for i, tid in enumerate(t for t in pending if rng.random() < fraction):
            heapq.heappush(self._events, (self.started_at + release_after + i, i, tid))

    def advance(self, now: float) -> None:
        """Release the PAID_FORBID_CONSIGN trades whose time has come (their ``modified`` becomes that time)."""
        while self._events and self._events[0][0] <= now:
            at, _, tid = heapq.heappop(self._events)
            trade = self.book.trades.get(tid)
            if trade is not None and trade["status"] == "PAID_FORBID_CONSIGN":
                trade.update(status="WAIT_SELLER_SEND_GOODS", modified=tseed.text(at))
                for line in trade["orders"]["order"]:
                    if line["status"] == "PAID_FORBID_CONSIGN":
                        line["status"] = "WAIT_SELLER_SEND_GOODS"

    # ---- HTTP entry -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/taobao``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        with self._lock:
            now = self.clock()
            self.advance(now)
            if rest == "/_sandbox" or rest.startswith("/_sandbox/"):
                return self.admin(method, rest[len("/_sandbox"):].strip("/"), query, body)
            if rest not in ("", "/", "/router/rest"):
                return json_response(404, {"error": f"nothing at {path}"})
            self._serial += 1
            request_id = f"sbx{self._serial:010x}"
            params = dict(query)
            try:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                return self._error(TopError(41, "isv.invalid-parameter:body", "请求体不是UTF-8"), request_id)
            api = params.get("method", "")
            self.calls[api or "?"] += 1
            try:
                data = self._call(method, api, params, now)
            except TopError as err:
                return self._error(err, request_id)
            return json_response(200, {response_key(api): {**data, "request_id": request_id}})

    def _error(self, err: TopError, request_id: str) -> Response:
        self.errors[str(err.code)] += 1
        if err.sub_code:
            self.sub_errors[err.sub_code] += 1
        return json_response(200, {"error_response": err.body(request_id)})

    # ---- gateway checks ---------------------------------------------------------------------------

    def _call(self, http_method: str, api: str, p: dict[str, str], now: float) -> dict[str, Any]:
        if http_method not in ("GET", "POST"):
            raise TopError(9, "", "HTTP方法不被允许")
        if not api:
            raise TopError(21)
        if api not in self._methods:
            raise TopError(22, "", f"接口{api}不存在")
        if not p.get("app_key"):
            raise TopError(28)
        if p["app_key"] != self.app_key:
            raise TopError(29)
        self._check_timestamp(p.get("timestamp"), now)
        if not p.get("v"):
            raise TopError(32)
        if p["v"] != "2.0":
            raise TopError(34, "", "只支持v=2.0")
        sign_method = p.get("sign_method") or "md5"
        if sign_method not in SIGN_METHODS:
            raise TopError(25, "", f"不支持的sign_method: {sign_method}")
        if p.get("format") != "json":
            raise invalid("format", "沙盒只返回JSON，请传format=json")
        if not p.get("sign"):
            raise TopError(24)
        expected = sign({k: v for k, v in p.items() if k != "sign"}, self._secret, sign_method)
        if not hmac.compare_digest(p["sign"], expected):
            raise TopError(25)
        self._planned_failure(api)
        self._throttle(api, now)
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            raise TopError(*self._rng.choice(_FAULTS))
        if api != REFRESH and (api not in _SESSION_OPTIONAL or p.get("session")):
            if not p.get("session"):
                raise TopError(26)
            self.sessions.check(p["session"], now)
        return self._methods[api](p, now)

    @staticmethod
    def _check_timestamp(value: str | None, now: float) -> None:
        if not value:
            raise TopError(30)
        try:
            ts = tseed.parse(value)
        except ValueError:
            raise TopError(31, "", "timestamp格式应为yyyy-MM-dd HH:mm:ss") from None
        if abs(ts - now) > _SKEW:
            raise TopError(31, "", "timestamp与服务器时间相差超过10分钟")

    def _planned_failure(self, api: str) -> None:
        if not self.failures:
            return
        kind = self.failures[0]
        if kind == "auth_revoked" and api == REFRESH:
            return  # the refresh itself fails: every refresh token was revoked with the authorisation
        self.failures.popleft()
        if kind == "transient":
            raise TopError(*_FAULTS[0])
        if kind == "rate_limited":
            raise ban(self.ban_seconds)
        raise TopError(27, "invalid-sessionkey", "授权已失效：卖家已取消授权")

    def _throttle(self, api: str, now: float) -> None:
        if not self.qps or self.qps is True:
            return
        if isinstance(self.qps, Mapping):
            key, rate = api, float(self.qps.get(api) or 0)
        else:
            key, rate = "*", float(self.qps)
        if rate <= 0:
            return
        until = self._banned.get(key, 0.0)
        if now < until:
            raise ban(until - now)
        capacity = max(1.0, rate)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        if tokens < 1 - _SLACK:
            self._buckets[key] = (tokens, now)
            self._banned[key] = now + self.ban_seconds
            raise ban(self.ban_seconds)
        self._buckets[key] = (tokens - 1, now)

    # ---- methods with gateway-level state ---------------------------------------------------------

    def _sold_increment(self, p: dict[str, str], now: float) -> dict[str, Any]:
        window = (p.get("start_modified", ""), p.get("end_modified", ""))
        served = self.window_calls[window]
        self.window_calls[window] += 1
        for touch in [t for t in self.touches if t[1] == served]:
            self.touches.remove(touch)
            trade = self.book.trades.get(touch[0])
            if trade is not None:
                trade["modified"] = tseed.text(now)
        return self.book.sold_increment(p, now)

    def _ship(self, p: dict[str, str], now: float) -> dict[str, Any]:
        answer = self.book.ship(p, now)
        if self.lost_reply_rate > 0 and self._rng.random() < self.lost_reply_rate:
            raise TopError(*_FAULTS[0])  # shipped, but the answer is lost
        return answer

    def _refresh(self, p: dict[str, str], now: float) -> dict[str, Any]:
        token = p.get("refresh_token")
        if not token:
            raise missing("refresh_token")
        session, refresh, expires_at, refresh_expires_at = self.sessions.refresh(token, now)
        result = {"access_token": session, "token_type": "Bearer", "expires_in": int(expires_at - now),
                  "refresh_token": refresh, "re_expires_in": int(refresh_expires_at - now),
                  "r1_expires_in": int(expires_at - now), "w1_expires_in": int(expires_at - now),
                  "r2_expires_in": 86400, "w2_expires_in": 1800,
                  "taobao_user_id": tseed.SANDBOX_TAOBAO_USER_ID, "taobao_user_nick": self.shop_name}
        return {"token_result": json.dumps(result, ensure_ascii=False)}
