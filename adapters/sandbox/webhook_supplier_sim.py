"""A supplier ERP speaking syncd's signed JSON webhook contract (docs/webhook-supplier.md).

Mounted at ``/webhook-supplier``: the supplier file's ``base_url`` is ``{server.url}/webhook-supplier``
with the default paths. Every request must carry a valid ``X-Syncd-Signature`` over timestamp, method,
path and body, within the timestamp window (else 401). Orders are created once per Idempotency-Key (the
same key and body again: 200 with the same order; another body: 409), SKUs in ``reject_skus`` are refused
with 422 ``sku_not_supplied``, a quantity above the stock level with 422 ``out_of_stock``. An accepted
order ships ``ship_after`` seconds later by the injected clock; with ``split_rate`` an order of two or more
lines ships as two parcels covering different lines, the second half a ``ship_after`` later (phase
``partial`` in between). Cancel works until the first parcel leaves, ``too_late`` after.

Faults come from a seeded generator: ``fault_rate`` answers 503, ``lost_reply_rate`` creates the order and
then answers 500, ``qps`` answers 429 with Retry-After; :meth:`fail_next` forces statuses. With ``push_url``
every phase change becomes a signed callback: :meth:`pending_callbacks` lists them and
:meth:`deliver_callbacks` POSTs them (the sandbox bundle calls it from its own thread). Unsigned
``GET /webhook-supplier/_sandbox/state`` answers :meth:`snapshot`.

Stock (issue 19): ``POST stock`` answers ``available`` and ``price_fen`` (``prices``, else a stable made-up
price). With ``stock_push_url`` every change made by :meth:`set_stock` / :meth:`set_price` (or the unsigned
``POST /webhook-supplier/_sandbox/stock`` ``{sku, available?, price_fen?}``) is queued and
:meth:`deliver_stock_pushes` (or ``POST /webhook-supplier/_sandbox/push_stock``) sends it signed
(:mod:`adapters.sandbox.webhook_stock`).
"""

from __future__ import annotations

import heapq
import json
import random
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import httpx

from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.webhook_stock import StockFeed
from syncd.adapters.webhook.signing import IDEMPOTENCY_HEADER, SignatureRefused, sign_headers, verify

PREFIX = "/webhook-supplier"
_CST = ZoneInfo("Asia/Shanghai")
_STATUS = re.compile(r"^/orders/([^/]+)$")
_CANCEL = re.compile(r"^/orders/([^/]+)/cancel$")
# (how the supplier writes the carrier, tracking prefix, random digits after it): real-looking numbers
CARRIERS: tuple[tuple[tuple[str, ...], str, int], ...] = (
    (("中通快递", "zhongtong", "ZTO"), "7531", 10),  # 14 digits
    (("圆通速递", "yuantong", "YTO"), "YT", 13),
    (("韵达快递", "yunda"), "43", 11),  # 13 digits
    (("顺丰速运", "shunfeng", "顺丰"), "SF", 13),
    (("申通快递", "shentong"), "77", 13),  # 15 digits
    (("极兔速递", "jtexpress"), "JT", 13),
)
UNKNOWN_CARRIER = "本地同城速运"


@dataclass
class _Parcel:
    carrier: str
    tracking_no: str
    line_refs: list[str] | None
    due: float


@dataclass
class _Order:
    key: str
    ref: str
    payload: dict[str, Any]
    created_at: float
    amount_fen: int
    plan: list[_Parcel]
    cancelled_at: float | None = None
    reported: str = "accepted"  # the phase last pushed
    history: list[str] = field(default_factory=list)


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})
        super().__init__(message)


class WebhookSupplierSimulator:
    """One supplier's ERP; thread-safe (every request runs under one lock)."""

    prefix = PREFIX

    def __init__(self, secret: str, *, seed: int = 0, clock: Callable[[], float] = time.time,
                 ship_after: float = 60.0, split_rate: float = 0.3, stock: Mapping[str, int] | None = None,
                 default_stock: int = 1000, out_of_stock: Iterable[str] = (), reject_skus: Iterable[str] = (),
                 fault_rate: float = 0.0, lost_reply_rate: float = 0.0, qps: float | None = None,
                 unknown_carrier_rate: float = 0.0, push_url: str | None = None, window: int = 300,
                 supplier_id: str = "webhook-demo", prices: Mapping[str, int] | None = None,
                 stock_push_url: str | None = None) -> None:
        self._secret = secret
        self.seed, self.clock, self.ship_after, self.split_rate = seed, clock, ship_after, split_rate
        self.default_stock = default_stock
        self.levels: dict[str, int] = dict(stock or {})
        self.levels.update({sku: 0 for sku in out_of_stock})
        self.reject_skus = frozenset(reject_skus)
        self.feed = StockFeed(secret, stock_push_url, dict(prices or {}))
        self.fault_rate, self.lost_reply_rate, self.qps = fault_rate, lost_reply_rate, qps
        self.unknown_carrier_rate = unknown_carrier_rate
        self.push_url, self.window, self.supplier_id = push_url, window, supplier_id
        self._rng = random.Random(f"webhook-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._bucket: tuple[float, float] | None = None
        self._forced: list[int] = []
        self.orders: dict[str, _Order] = {}
        self._due: list[tuple[float, str]] = []
        self._numbers: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}  # event_id → callback body
        self._events = 0
        self.delivered: list[dict[str, Any]] = []
        self.push_failures = 0
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.creates: Counter[str] = Counter()

    # ---- HTTP entry -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one request under ``/webhook-supplier``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if method == "GET" and rest == "/_sandbox/state":
            return json_response(200, self.snapshot())
        if method == "POST" and rest == "/_sandbox/push_stock":
            with httpx.Client(timeout=10) as http:
                return json_response(200, {"delivered": self.deliver_stock_pushes(http)})
        if method == "POST" and rest == "/_sandbox/stock":
            return self._admin_stock(body)
        with self._lock:
            try:
                endpoint, key = _route(method, rest)
                self.calls[endpoint] += 1
                try:
                    verify(self._secret, headers, method, path, body, now=self.clock(), window=self.window)
                except SignatureRefused as err:
                    raise _Reject(401, err.code, str(err)) from None
                self._inject()
                self._advance()
                return self._dispatch(endpoint, key, headers, body)
            except _Reject as err:
                self.errors[err.code] += 1
                status, out, payload = json_response(err.status, {"error": {"code": err.code, "message": err.message}})
                return status, {**out, **err.headers}, payload

    def _dispatch(self, endpoint: str, key: str, headers: Mapping[str, str], body: bytes) -> Response:
        if endpoint == "status":
            return json_response(200, self._view(self._order(key)))
        payload = _json(body)
        if endpoint == "create":
            return self._create(payload, _header(headers, IDEMPOTENCY_HEADER))
        if endpoint == "stock":
            return json_response(200, self._stock(payload))
        return json_response(200, self._cancel(self._order(key), payload))

    def _inject(self) -> None:
        if self._forced:
            status = self._forced.pop(0)
            extra = {"Retry-After": "1"} if status == 429 else {}
            code = {401: "bad_signature", 429: "rate_limited"}.get(status, "unavailable")
            raise _Reject(status, code, "forced by the sandbox", extra)
        now = self.clock()
        if self.qps is not None:
            tokens, last = self._bucket or (max(1.0, self.qps), now)
            tokens = min(max(1.0, self.qps), tokens + max(0.0, now - last) * self.qps)
            if tokens < 1:
                self._bucket = (tokens, now)
                raise _Reject(429, "rate_limited", "请求过于频繁", {"Retry-After": "1"})
            self._bucket = (tokens - 1, now)
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            raise _Reject(503, "unavailable", "系统繁忙，请稍后重试")

    # ---- endpoints ------------------------------------------------------------------------------------

    def _create(self, payload: dict[str, Any], header_key: str | None) -> Response:
        key = payload.get("idempotency_key")
        if not isinstance(key, str) or not key.strip():
            raise _Reject(400, "bad_request", "idempotency_key is required")
        if header_key != key:
            raise _Reject(400, "bad_request", f"the {IDEMPOTENCY_HEADER} header must equal idempotency_key")
        lines = _lines(payload)
        existing = self.orders.get(key)
        if existing is not None:
            if existing.payload != payload:
                self.creates["conflict"] += 1
                raise _Reject(409, "idempotency_conflict", f"key {key} was used for a different order")
            self.creates["replayed"] += 1
            return json_response(200, self._view(existing))
        receiver = payload.get("receiver")
        if not isinstance(receiver, dict) or not all(
                isinstance(receiver.get(k), str) and receiver[k].strip() for k in ("name", "phone", "address")):
            self.creates["rejected"] += 1
            raise _Reject(422, "address_incomplete", "收件人姓名、电话或地址不完整")
        for sku, qty in _per_sku(lines).items():
            if sku in self.reject_skus:
                self.creates["rejected"] += 1
                raise _Reject(422, "sku_not_supplied", f"商品 {sku} 不在供货范围")
            if qty > self._level(sku):
                self.creates["rejected"] += 1
                raise _Reject(422, "out_of_stock", f"商品 {sku} 库存不足（剩 {self._level(sku)}，要 {qty}）")
        for sku, qty in _per_sku(lines).items():
            self.levels[sku] = self._level(sku) - qty
        order = self._new_order(key, payload, lines)
        self.creates["new"] += 1
        if self.lost_reply_rate > 0 and self._rng.random() < self.lost_reply_rate:
            self.creates["lost_reply"] += 1
            raise _Reject(500, "internal", "服务超时")  # created, but the answer is lost
        return json_response(201, self._view(order))

    def _stock(self, payload: dict[str, Any]) -> dict[str, Any]:
        items = payload.get("lines")
        if not isinstance(items, list) or not items:
            raise _Reject(400, "bad_request", "lines must be a non-empty list")
        out: list[dict[str, Any]] = []
        for item in items:
            sku = item.get("sku") if isinstance(item, dict) else None
            if not isinstance(sku, str) or not sku:
                raise _Reject(400, "bad_request", "each line needs a sku")
            if sku in self.reject_skus:
                out.append({"sku": sku, "available": 0, "message": "不在供货范围"})
            else:
                out.append({"sku": sku, "available": self._level(sku), "price_fen": self.feed.price(sku)})
        return {"lines": out}

    def _cancel(self, order: _Order, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        answer = {"idempotency_key": order.key}
        if order.cancelled_at is not None:
            return {**answer, "result": "cancelled", "message": "已取消"}
        if any(p.due <= now for p in order.plan):
            return {**answer, "result": "too_late", "message": "已发货，无法取消"}
        order.cancelled_at = now
        for sku, qty in _per_sku(order.payload["lines"]).items():
            self.levels[sku] = self._level(sku) + qty
        self._observe(order, now)
        return {**answer, "result": "cancelled", "message": str(payload.get("reason") or "")[:100]}

    # ---- orders and shipping ------------------------------------------------------------------------

    def _level(self, sku: str) -> int:
        return self.levels.get(sku, self.default_stock)

    def _order(self, key: str) -> _Order:
        order = self.orders.get(key)
        if order is None:
            raise _Reject(404, "not_found", f"no order under key {key}")
        return order

    def _new_order(self, key: str, payload: dict[str, Any], lines: list[dict[str, Any]]) -> _Order:
        now = self.clock()
        rng = random.Random(f"webhook-order|{self.seed}|{key}")  # noqa: S311 - same key, same parcels
        refs = [str(ln["line_ref"]) for ln in lines]
        first = now + self.ship_after
        if len(refs) >= 2 and rng.random() < self.split_rate:
            half = len(refs) // 2
            plan = [self._parcel(rng, refs[:half], first), self._parcel(rng, refs[half:], first + self.ship_after)]
        else:
            plan = [self._parcel(rng, None, first)]
        amount = sum(int(ln["quantity"]) * (990 + zlib.crc32(str(ln["sku"]).encode()) % 9000) for ln in lines)
        ref = f"WS{datetime.fromtimestamp(now, _CST):%Y%m%d}{len(self.orders) + 1:06d}"
        order = _Order(key=key, ref=ref, payload=payload, created_at=now, amount_fen=amount, plan=plan)
        self.orders[key] = order
        for p in plan:
            heapq.heappush(self._due, (p.due, key))
        return order

    def _parcel(self, rng: random.Random, refs: list[str] | None, due: float) -> _Parcel:
        names, prefix, digits = rng.choice(CARRIERS)
        carrier = UNKNOWN_CARRIER if rng.random() < self.unknown_carrier_rate else rng.choice(names)
        number = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        while number in self._numbers:
            number = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        self._numbers.add(number)
        return _Parcel(carrier=carrier, tracking_no=number, line_refs=refs, due=due)

    def _phase(self, order: _Order, now: float) -> str:
        if order.cancelled_at is not None:
            return "cancelled"
        shipped = sum(1 for p in order.plan if p.due <= now)
        return "accepted" if shipped == 0 else "shipped" if shipped == len(order.plan) else "partial"

    def _advance(self) -> None:
        """Let time act: parcels whose moment came are handed over (and pushed)."""
        now = self.clock()
        while self._due and self._due[0][0] <= now:
            _, key = heapq.heappop(self._due)
            self._observe(self.orders[key], now)

    def _observe(self, order: _Order, now: float) -> None:
        current = self._phase(order, now)
        if current == order.reported:
            return
        order.reported = current
        order.history.append(current)
        if self.push_url:
            self._events += 1
            event_id = f"evt_{self.seed}_{self._events:08d}"
            self._pending[event_id] = {**self._view(order), "event_id": event_id, "occurred_at": _text_time(now)}

    def _view(self, order: _Order) -> dict[str, Any]:
        now = self.clock()
        current = self._phase(order, now)
        parcels = [{"carrier": p.carrier, "tracking_no": p.tracking_no, "line_refs": p.line_refs,
                    "shipped_at": _text_time(p.due)} for p in order.plan
                   if p.due <= now and (order.cancelled_at is None or p.due <= order.cancelled_at)]
        return {"idempotency_key": order.key, "supplier_order_id": order.ref, "phase": current,
                "message": {"accepted": "已接单", "partial": "部分发货", "shipped": "已发货",
                            "cancelled": "已取消"}[current],
                "amount_fen": order.amount_fen, "created_at": _text_time(order.created_at), "parcels": parcels}

    # ---- callbacks ----------------------------------------------------------------------------------

    def pending_callbacks(self) -> list[dict[str, Any]]:
        """Callback bodies not yet accepted by ``push_url`` (after letting time act), oldest first."""
        with self._lock:
            self._advance()
            return [dict(body) for body in self._pending.values()]

    def deliver_callbacks(self, http: httpx.Client) -> int:
        """POST every pending callback, signed, to ``push_url``; those answered 2xx are done. Returns how
        many were delivered; the others stay pending for the next call."""
        if not self.push_url:
            return 0
        path = urlsplit(self.push_url).path or "/"
        delivered = 0
        for body in self.pending_callbacks():
            raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json; charset=utf-8",
                       **sign_headers(self._secret, int(self.clock()), "POST", path, raw)}
            try:
                resp = http.post(self.push_url, content=raw, headers=headers)
                ok = 200 <= resp.status_code < 300
            except httpx.HTTPError:
                ok = False
            with self._lock:
                if ok:
                    self._pending.pop(body["event_id"], None)
                    self.delivered.append(body)
                    delivered += 1
                else:
                    self.push_failures += 1
        return delivered

    # ---- control ------------------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1) -> None:
        """The next ``count`` signed requests answer ``status`` (401, 429, 500, 503...)."""
        with self._lock:
            self._forced.extend([status] * count)

    def set_stock(self, sku: str, level: int) -> None:
        """Set one SKU's stock level (queued for a stock push when ``stock_push_url`` is set)."""
        with self._lock:
            self.levels[sku] = level
            self.feed.changed(sku, level, self.clock())

    def set_price(self, sku: str, price_fen: int) -> None:
        """Set one SKU's price in fen (queued for a stock push when ``stock_push_url`` is set)."""
        with self._lock:
            self.feed.prices[sku] = price_fen
            self.feed.changed(sku, self._level(sku), self.clock())

    def deliver_stock_pushes(self, http: httpx.Client) -> int:
        """Send the pending stock changes as signed pushes until one is refused; returns how many were accepted.
        A refused push stays pending and is resent later with the same event_id."""
        sent = 0
        while True:
            with self._lock:
                body = self.feed.take()
                now = self.clock()
            if body is None:
                return sent
            ok = self.feed.deliver(body, now, http)
            with self._lock:
                self.feed.done(body, ok)
            if not ok:
                return sent
            sent += 1

    def _admin_stock(self, body: bytes) -> Response:
        try:
            payload = json.loads(body)
            sku = payload["sku"]
            if not isinstance(sku, str) or not sku:
                raise TypeError("sku")
            if payload.get("price_fen") is not None:
                self.set_price(sku, int(payload["price_fen"]))
            if payload.get("available") is not None:
                self.set_stock(sku, int(payload["available"]))
        except (ValueError, KeyError, TypeError) as err:
            return json_response(400, {"error": f"bad admin request: {err}"})
        with self._lock:
            return json_response(200, {"sku": sku, "available": self._level(sku), "price_fen": self.feed.price(sku)})

    def order(self, key: str) -> dict[str, Any] | None:
        """The order as ``GET status`` shows it now, or None."""
        with self._lock:
            self._advance()
            found = self.orders.get(key)
            return None if found is None else self._view(found)

    def supplier_config(self, base_url: str) -> dict[str, Any]:
        """A complete supplier file for the webhook adapter (secret inline); ``base_url`` is the server's."""
        return {"id": self.supplier_id, "kind": "webhook", "name": "沙盒供应商 ERP",
                "base_url": base_url.rstrip("/") + self.prefix, "secret": self._secret,
                "tracking": "push" if self.push_url else "poll", "timestamp_window_seconds": self.window}

    def _duplicates(self) -> dict[str, int]:
        """Storefront order lines this supplier was asked for in more than one order (under different keys) —
        a line sent twice; a reship is a new order by design and not counted."""
        seen: Counter[str] = Counter()
        for o in self.orders.values():
            if o.payload.get("kind") == "reship":
                continue
            for ln in o.payload.get("lines") or ():
                seen[f"{o.payload.get('shop_id')}/{o.payload.get('platform_order_id')}/{ln.get('line_ref')}"] += 1
        return {k: n for k, n in sorted(seen.items()) if n > 1}

    def snapshot(self) -> dict[str, Any]:
        """Orders by phase, duplicated lines, create outcomes, calls and errors, stock levels touched, callbacks."""
        with self._lock:
            self._advance()
            now = self.clock()
            return {"now": now,
                    "orders": dict(sorted(Counter(self._phase(o, now) for o in self.orders.values()).items())),
                    "orders_total": len(self.orders), "duplicates": self._duplicates(),
                    "creates": dict(self.creates), "calls": dict(self.calls),
                    "errors": dict(self.errors), "stock": dict(sorted(self.levels.items())),
                    "prices": dict(sorted(self.feed.prices.items())), "stock_pushes": self.feed.state(),
                    "callbacks": {"pending": len(self._pending), "delivered": len(self.delivered),
                                  "failed_attempts": self.push_failures}}


# ---- request parsing -------------------------------------------------------------------------------


def _route(method: str, rest: str) -> tuple[str, str]:
    """(endpoint, key) of a path below the prefix; 404 / 405 otherwise."""
    routes: list[tuple[str, str, str]] = []
    if rest == "/orders":
        routes.append(("POST", "create", ""))
    elif rest == "/stock":
        routes.append(("POST", "stock", ""))
    elif m := _CANCEL.match(rest):
        routes.append(("POST", "cancel", unquote(m.group(1))))
    elif m := _STATUS.match(rest):
        routes.append(("GET", "status", unquote(m.group(1))))
    if not routes:
        raise _Reject(404, "no_route", f"nothing at {rest}")
    allowed, endpoint, key = routes[0]
    if method != allowed:
        raise _Reject(405, "method_not_allowed", f"{rest} takes {allowed}")
    return endpoint, key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v.strip() for k, v in headers.items() if k.lower() == name.lower()), None)


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        raise _Reject(400, "bad_request", "body is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise _Reject(400, "bad_request", "body must be a JSON object")
    return payload


def _lines(payload: dict[str, Any]) -> list[dict[str, Any]]:
    lines = payload.get("lines")
    if not isinstance(lines, list) or not lines:
        raise _Reject(400, "bad_request", "lines must be a non-empty list")
    for i, ln in enumerate(lines):
        if not (isinstance(ln, dict) and isinstance(ln.get("line_ref"), str) and ln["line_ref"]
                and isinstance(ln.get("sku"), str) and ln["sku"] and isinstance(ln.get("quantity"), int)
                and not isinstance(ln["quantity"], bool) and ln["quantity"] >= 1):
            raise _Reject(400, "bad_request", f"lines[{i}] needs line_ref, sku and a quantity ≥ 1")
    return lines


def _per_sku(lines: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in lines:
        out[ln["sku"]] = out.get(ln["sku"], 0) + int(ln["quantity"])
    return out


def _text_time(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), _CST).isoformat()
