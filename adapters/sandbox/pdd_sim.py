"""Pinduoduo (拼多多) open-platform simulator speaking the real wire protocol.

Mounted at ``/pdd``: the router is ``POST {server.url}/pdd`` (the shop's ``base_url``), the API named by
``type``. Every call is checked as the router does (reference/storefronts.md §2.1–2.3, §2.7): parameters
as a form (or a JSON object of the same pairs); a known ``client_id``; a known ``type``; ``timestamp`` in
Unix seconds within 10 minutes; the MD5 ``sign`` (UPPER hex) over every other parameter; a live
``access_token`` except for the token calls. Answers are ``{"<name>_response": {…}}`` or
``{"error_response": {error_code, error_msg, sub_code, sub_msg, request_id}}``, always over HTTP 200.
Codes other than 10019 are the simulator's choice (:mod:`adapters.sandbox.pdd_errors`).

``qps``: None, no flow control; True or a mapping, the published per-shop limits (§2.7) with the
mapping's per-API calls-per-second on top; a number, that many calls per second for every API. Over it
a call answers the flow-control error. ``fault_rate`` draws transient errors from a seeded generator.

Unsigned admin endpoints under ``/pdd/_sandbox/`` are in :mod:`adapters.sandbox.pdd_admin`.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from syncd.adapters.pdd.mapping import line_ids
from syncd.adapters.pdd.signing import sign as pdd_sign
from syncd.adapters.pdd.signing import wire_value
from syncd.adapters.sandbox import pdd_errors as codes
from syncd.adapters.sandbox.control import FailureKind, RefundKind
from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.pdd_admin import admin
from syncd.adapters.sandbox.pdd_errors import PddApiError, param
from syncd.adapters.sandbox.pdd_goods import RESPONSE_KEYS as GOODS_RESPONSE_KEYS
from syncd.adapters.sandbox.pdd_goods import PddGoods
from syncd.adapters.sandbox.pdd_orders import PddOrderBook
from syncd.adapters.sandbox.pdd_seed import (
    COMPANIES,
    SANDBOX_PDD_ACCESS_TOKEN,
    SANDBOX_PDD_AUTH_CODE,
    SANDBOX_PDD_MALL_NAME,
    SANDBOX_PDD_REFRESH_TOKEN,
    make_pdd_order,
    order_sn_for,
    text_time,
)
from syncd.adapters.sandbox.pdd_tokens import PddTokens
from syncd.adapters.sandbox.products import PDD_IDS, ProductBook
from syncd.adapters.sandbox.seed import _receiver

PREFIX = "/pdd"
LIST_API = "pdd.order.number.list.increment.get"
TOKENLESS = frozenset({"pdd.pop.auth.token.create", "pdd.pop.auth.token.refresh"})
SHIP_APIS = frozenset({"pdd.logistics.online.send", "pdd.order.upload.extra.logistics"})
TIMESTAMP_TOLERANCE = 600
# Published limits (§2.7): API → (calls, seconds)
PUBLISHED_LIMITS: dict[str, tuple[float, float]] = {
    LIST_API: (3000, 60), "pdd.order.information.get": (30_000, 60), "pdd.order.status.get": (3000, 60),
    "pdd.refund.list.increment.get": (100, 10), "pdd.logistics.online.send": (5000, 1),
    "pdd.logistics.companies.get": (1200, 10),
}
RESPONSE_KEYS = {
    LIST_API: "order_sn_increment_get_response", "pdd.order.information.get": "order_info_get_response",
    "pdd.order.status.get": "order_status_get_response",
    "pdd.refund.list.increment.get": "refund_increment_get_response",
    "pdd.open.decrypt.batch": "open_decrypt_batch_response",
    "pdd.logistics.companies.get": "logistics_companies_get_response",
    "pdd.logistics.online.send": "logistics_online_send_response",
    "pdd.order.upload.extra.logistics": "upload_extra_logistics_response",
    "pdd.pop.auth.token.create": "pop_auth_token_create_response",
    "pdd.pop.auth.token.refresh": "pop_auth_token_refresh_response",
    **GOODS_RESPONSE_KEYS,
}
_FAILURES: dict[str, tuple[int, str]] = {"transient": (codes.BUSY, "服务暂时不可用"),
                                         "rate_limited": (codes.FLOW, "触发店铺级限流"),
                                         "auth_revoked": (codes.REVOKED, "商家已取消授权")}

Qps = float | bool | Mapping[str, float] | None


class PddSimulator:
    """One Pinduoduo mall behind one app; thread-safe (every call runs under one lock).

    Implements :class:`adapters.sandbox.control.StorefrontSim` for the cross-platform contract suite.
    """

    prefix = PREFIX
    platform = "pdd"

    def __init__(self, client_id: str, client_secret: str, mall_id: str, orders: Iterable[dict[str, Any]], *,
                 token_ttl: float = 86400, refresh_ttl: float = 30 * 86400, fault_rate: float = 0.0,
                 qps: Qps = None, seed: int = 0, clock: Callable[[], float] = time.time,
                 lost_reply_rate: float = 0.0, mall_name: str = SANDBOX_PDD_MALL_NAME,
                 products: ProductBook | None = None) -> None:
        self.client_id, self.mall_id, self.mall_name = client_id, str(mall_id), mall_name
        self._secret = client_secret
        self.clock = clock
        self.fault_rate = fault_rate
        self.lost_reply_rate = lost_reply_rate
        self.qps: Qps = qps
        self._seed = seed
        self._rng = random.Random(f"pdd-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._serial = 0
        self._seeded = 0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._forced: list[str] = []
        self._touches: list[tuple[str, int]] = []
        self._window_calls: Counter[tuple[str, str]] = Counter()
        self.book = PddOrderBook(orders)
        self.tokens = PddTokens(client_id, token_ttl, refresh_ttl, seed)
        self.tokens.issue(clock(), SANDBOX_PDD_ACCESS_TOKEN, SANDBOX_PDD_REFRESH_TOKEN)
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._methods: dict[str, Callable[[dict[str, str], float], dict[str, Any]]] = {
            "pdd.pop.auth.token.create": self._token_create,
            "pdd.pop.auth.token.refresh": self._token_refresh,
            LIST_API: self._list,
            "pdd.order.information.get": lambda p, now: self.book.information(p),
            "pdd.order.status.get": lambda p, now: self.book.status(p),
            "pdd.refund.list.increment.get": self.book.refund_list,
            "pdd.open.decrypt.batch": lambda p, now: self.book.decrypt(p),
            "pdd.logistics.companies.get": lambda p, now: {"logistics_companies": COMPANIES},
            "pdd.logistics.online.send": self.book.ship,
            "pdd.order.upload.extra.logistics": self.book.ship_extra,
        }
        self.products = products if products is not None else ProductBook(PDD_IDS, started=clock())
        self.goods = PddGoods(self.products)  # goods list / detail / information and the stock write
        self._methods.update(self.goods.methods())

    # ---- HTTP entry ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/pdd``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if rest == "/_sandbox" or rest.startswith("/_sandbox/"):
            with self._lock:
                return admin(self, method, rest[len("/_sandbox"):].strip("/"), body)
        if rest not in ("", "/"):
            return json_response(404, {"error": f"nothing at {path}: the router is {self.prefix}"})
        if method != "POST":
            return json_response(405, {"error": "the router takes POST"})
        with self._lock:
            now = self.clock()
            self._serial += 1
            request_id = f"{int(now * 1000)}{self._serial:08d}"
            api = "?"
            try:
                params = _params(query, headers, body)
                api = params.get("type") or "?"
                self.calls[api] += 1
                data = self._call(api, params, now)
            except PddApiError as err:
                self.errors[str(err.code)] += 1
                return json_response(200, {"error_response": {
                    "error_code": err.code, "error_msg": err.msg, "sub_code": err.sub_code, "sub_msg": err.sub_msg,
                    "request_id": request_id}})
            return json_response(200, {RESPONSE_KEYS[api]: {**data, "request_id": request_id}})

    def _call(self, api: str, p: dict[str, str], now: float) -> dict[str, Any]:
        client_id = p.get("client_id")
        if not client_id or client_id != self.client_id:
            raise PddApiError(codes.CLIENT, "client_id不存在或已停用")
        if api not in self._methods:
            raise PddApiError(codes.TYPE, f"接口{api}不存在")
        stamp = p.get("timestamp") or ""
        if not stamp.isdigit() or abs(int(stamp) - now) > TIMESTAMP_TOLERANCE:
            raise PddApiError(codes.TIMESTAMP, "timestamp必须是与服务器相差10分钟以内的Unix秒")
        given = p.get("sign") or ""
        if not hmac.compare_digest(given, pdd_sign(p, self._secret)):
            raise PddApiError(codes.SIGN, "签名校验失败，请检查签名算法与client_secret")
        if (p.get("data_type") or "JSON").upper() != "JSON":
            raise param("沙盒只支持data_type=JSON")
        self._inject(api, now)
        if api not in TOKENLESS:
            token = p.get("access_token")
            if not token:
                raise PddApiError(codes.TOKEN, "access_token不能为空")
            self.tokens.check(token, now)
        result = self._methods[api](p, now)
        if api in SHIP_APIS and self.lost_reply_rate > 0 and self._rng.random() < self.lost_reply_rate:
            raise PddApiError(codes.BUSY, "服务超时")  # done, but the answer is lost
        return result

    def _inject(self, api: str, now: float) -> None:
        if self._forced:
            code, why = _FAILURES[self._forced.pop(0)]
            raise PddApiError(code, why)
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            if self._rng.random() < 0.5:
                raise PddApiError(codes.BUSY, "服务繁忙")
            raise PddApiError(codes.FLOW, "触发限流")
        limit = self._limit(api)
        if limit is None:
            return
        rate, capacity = limit
        tokens, last = self._buckets.get(api, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        if tokens < 1:
            self._buckets[api] = (tokens, now)
            raise PddApiError(codes.FLOW, f"{api}超过店铺级限流")
        self._buckets[api] = (tokens - 1, now)

    def _limit(self, api: str) -> tuple[float, float] | None:
        """(calls per second, burst) for ``api`` under the ``qps`` setting; None when unlimited."""
        qps = self.qps
        if qps is None or qps is False:
            return None
        if isinstance(qps, int | float) and not isinstance(qps, bool):
            return float(qps), max(1.0, float(qps))
        overrides = qps if isinstance(qps, Mapping) else {}
        if api in overrides:
            rate = float(overrides[api])
            return rate, max(1.0, rate)
        if api in PUBLISHED_LIMITS:
            calls, seconds = PUBLISHED_LIMITS[api]
            return calls / seconds, calls
        return None

    # ---- methods with gateway-level state -------------------------------------------------------------

    def _list(self, p: dict[str, str], now: float) -> dict[str, Any]:
        window = (p.get("start_updated_at") or "", p.get("end_updated_at") or "")
        index = self._window_calls[window]
        self._window_calls[window] += 1
        for touch in [t for t in self._touches if t[1] == index]:
            self._touches.remove(touch)
            if touch[0] in self.book.orders:
                self.book.touch(touch[0], now)
        return self.book.increment(p, now)

    def _token_answer(self, access: str, refresh: str, refresh_expires_at: float, now: float) -> dict[str, Any]:
        expires_at = self.tokens.expiry(access)
        return {"access_token": access, "expires_in": int(expires_at - now), "expires_at": int(expires_at),
                "refresh_token": refresh, "refresh_token_expires_in": int(refresh_expires_at - now),
                "refresh_token_expires_at": int(refresh_expires_at), "owner_id": self.mall_id,
                "owner_name": self.mall_name, "scope": sorted(self._methods)}

    def _token_create(self, p: dict[str, str], now: float) -> dict[str, Any]:
        if p.get("code") != SANDBOX_PDD_AUTH_CODE:
            raise param("code无效或已过期")
        pair = self.tokens.issue(now)
        return self._token_answer(pair.access, pair.refresh, pair.refresh_expires_at, now)

    def _token_refresh(self, p: dict[str, str], now: float) -> dict[str, Any]:
        token = p.get("refresh_token")
        if not token:
            raise param("refresh_token不能为空")
        pair = self.tokens.refresh(token, now)
        return self._token_answer(pair.access, pair.refresh, pair.refresh_expires_at, now)

    # ---- StorefrontSim (adapters.sandbox.control) -------------------------------------------------------

    def shop_config(self, base_url: str) -> dict[str, Any]:
        """A complete shop config for the PDD adapter, secrets inline."""
        return {"id": "pdd-demo", "platform": "pdd", "name": self.mall_name, "base_url": base_url,
                "client_id": self.client_id, "client_secret": self._secret,
                "auth": {"access_token": SANDBOX_PDD_ACCESS_TOKEN, "refresh_token": SANDBOX_PDD_REFRESH_TOKEN},
                "pull": {"window_minutes": 30, "overlap_minutes": 5, "lag_seconds": 1, "first_lookback_hours": 26}}

    def seed_ready(self, n: int, *, now: float, spread_seconds: float,
                   skus: Sequence[str] = ("SB-TEE-RED-M",)) -> list[str]:
        """``n`` paid orders ready to ship, updated evenly over ``[now - spread_seconds, now - 60]``."""
        with self._lock:
            self._seeded += 1
            rng = random.Random(f"pdd-seed-ready|{self._seed}|{self._seeded}")  # noqa: S311 - reproducible
            high = now - 60
            low = min(now - spread_seconds, high)
            made: list[tuple[int, str]] = []
            for i in range(n):
                ts = int(low + (high - low) * i / (n - 1)) if n > 1 else int(high)
                sn = order_sn_for(rng, ts)
                while sn in self.book.orders:
                    sn = order_sn_for(rng, ts)
                order = make_pdd_order(rng, sn, "normal", ts - 60, int(now), codes=list(skus),
                                       counts=[1] * len(skus), receiver=_receiver(rng))
                order.update(created_time=text_time(ts - 60), confirm_time=text_time(ts - 30),
                             pay_time=text_time(ts - 30), updated_at=text_time(ts),
                             last_ship_time=text_time(ts - 30 + 48 * 3600))
                self.book.add([order])
                made.append((ts, sn))
            return [sn for _, sn in sorted(made)]

    def set_updated(self, order_id: str, ts: float) -> None:
        """Set one order's update time (Unix seconds)."""
        with self._lock:
            self.book.touch(order_id, ts)

    def touch_when_paging(self, order_id: str, page: int) -> None:
        """Once, before serving list call number ``page`` (0-based) of a window, bump the order to now."""
        with self._lock:
            self._touches.append((order_id, page))
            self._window_calls.clear()

    def expire_access_token(self) -> None:
        """Every access token issued so far expires now (a refresh still works)."""
        with self._lock:
            self.tokens.expire_all(self.clock())

    def fail_next(self, kind: FailureKind, count: int = 1) -> None:
        """The next ``count`` signed calls answer PDD's error for ``kind``."""
        if kind not in _FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._forced.extend([kind] * count)

    def line_ids(self, order_id: str) -> list[str]:
        """The adapter's ids of the order's lines (``sku_id``; PDD has no sub-order id)."""
        with self._lock:
            return line_ids(self.book.orders[order_id]["item_list"])

    def tracking_numbers(self, order_id: str) -> list[str]:
        """Tracking numbers effectively on the order: the shipment first, then extra parcels."""
        with self._lock:
            return self.book.tracking_numbers(order_id)

    def set_refund(self, order_id: str, line_id: str | None, kind: RefundKind) -> None:
        """An after-sale on the order's line (the first when None), update times bumped to now."""
        with self._lock:
            self.book.set_refund(order_id, line_id, kind, self.clock())

    # ---- admin ------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Counts by order status, effective shipments, ship calls, calls per API, errors per code."""
        now = self.clock()
        by_status = Counter(str(o["order_status"]) for o in self.book.orders.values())
        return {
            "now": now,
            "orders": dict(sorted(by_status.items())),
            "orders_total": len(self.book.orders),
            "shipments": {sn: list(s) for sn, s in self.book.shipments.items()},
            "ship_calls": dict(self.book.ship_calls),
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "refunds": len(self.book.refunds),
            "tokens": self.tokens.counts(now),
        }

    def snapshot(self) -> dict[str, Any]:
        """:meth:`state` under the simulator's lock."""
        with self._lock:
            return self.state()


def _params(query: dict[str, str], headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """The call's parameters: the query string plus a form body, or a JSON object of the same pairs."""
    params = dict(query)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise param("请求体不是UTF-8") from None
    if "json" in (headers.get("content-type") or "").lower():
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            raise param("请求体不是合法的JSON") from None
        if not isinstance(data, dict):
            raise param("请求体必须是JSON对象")
        params.update({str(k): wire_value(v) for k, v in data.items() if v is not None})
    else:
        params.update(parse_qsl(text, keep_blank_values=True))
    return params
