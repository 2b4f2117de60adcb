"""Admin endpoints of the Taobao simulator under ``/taobao/_sandbox/``, and the storefront-neutral controls
of :class:`adapters.sandbox.control.StorefrontSim` (the cross-platform contract suite drives those).

======  =====================  ==================================================================
GET     state                  counts and effects, see :meth:`AdminMixin.state`
GET     order/<tid>            the trade as the platform holds it
POST    orders                 ``{"orders": [...]}`` or ``{"generate": n, "seed": s, "span_hours": h}``
POST    order/<tid>            ``{"action": ..., "oid": ..., "fields": {...}}``; actions: pay, release,
                               refund, refund_success, refund_reject, cancel, complete, touch,
                               set (``fields`` merged into the trade)
POST    expire_token           every session issued so far expires now
POST    faults                 ``{"fault_rate"?, "qps"?, "lost_reply_rate"?}``
======  =====================  ==================================================================

Every change sets the trade's ``modified`` to the simulator's clock, as the platform would.
"""

from __future__ import annotations

import collections
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.control import FailureKind, RefundKind
from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.products import ProductBook, admin_stock
from syncd.adapters.sandbox.taobao_sessions import SessionStore
from syncd.adapters.sandbox.taobao_trades import TradeBook
from syncd.adapters.taobao.client import DEFAULT_RATES

SHOP_ID = "taobao-sim"


class AdminError(Exception):
    """An admin request that cannot be done (HTTP status + message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminMixin:
    """Admin handlers and controls; the simulator provides the attributes below."""

    app_key: str
    shop_name: str
    _secret: str
    _lock: threading.RLock
    clock: Callable[[], float]
    book: TradeBook
    products: ProductBook
    sessions: SessionStore
    configured_sessions: dict[str, str]
    calls: Counter[str]
    errors: Counter[str]
    sub_errors: Counter[str]
    failures: collections.deque[str]
    touches: list[tuple[str, int]]
    fault_rate: float
    lost_reply_rate: float
    qps: bool | float | Mapping[str, float] | None
    _buckets: dict[str, tuple[float, float]]
    _banned: dict[str, float]

    # ---- HTTP admin -------------------------------------------------------------------------------

    def admin(self, method: str, route: str, query: dict[str, str], body: bytes) -> Response:
        """Dispatch one admin request (``route`` is the path below ``_sandbox/``); the caller holds the lock."""
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return json_response(400, {"error": "body is not JSON"})
        if not isinstance(payload, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        head, _, arg = route.partition("/")
        stock = admin_stock(self.products, method, route, payload)
        if stock is not None:
            return stock
        try:
            if method == "GET" and route == "state":
                return json_response(200, self.state())
            if method == "GET" and head == "order":
                return json_response(200, {"trade": self._trade(arg)})
            if method == "POST" and route == "orders":
                return json_response(200, self._add(payload))
            if method == "POST" and head == "order":
                return json_response(200, {"trade": self.change_trade(arg, payload)})
            if method == "POST" and route == "expire_token":
                return json_response(200, {"expired": self.sessions.expire_all(self.clock())})
            if method == "POST" and route == "faults":
                return json_response(200, self._faults(payload))
        except AdminError as err:
            return json_response(err.status, {"error": str(err)})
        return json_response(404, {"error": f"no admin endpoint {method} _sandbox/{route}"})

    def state(self) -> dict[str, Any]:
        """Counts by trade status, effective shipments, ship calls, calls per method, errors per code."""
        now = self.clock()
        by_status = Counter(str(t["status"]) for t in self.book.trades.values())
        return {
            "now": now,
            "orders": dict(sorted(by_status.items())),
            "orders_total": len(self.book.trades),
            "shipments": {tid: list(s) for tid, s in self.book.shipments.items()},
            "ship_calls": dict(self.book.ship_calls),
            "ship_replays": {},  # TOP has no idempotency key to replay by
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "sub_errors": dict(self.sub_errors),
            "tokens": self.sessions.snapshot(now),
        }

    def snapshot(self) -> dict[str, Any]:
        """:meth:`state` taken under the simulator's lock."""
        with self._lock:
            return self.state()

    def _trade(self, tid: str) -> dict[str, Any]:
        trade = self.book.trades.get(tid)
        if trade is None:
            raise AdminError(404, f"no trade {tid}")
        return trade

    def _add(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        if "generate" in payload:
            trades = tseed.generate_taobao_orders(int(payload["generate"]), int(payload.get("seed", 0)), now,
                                                  float(payload.get("span_hours", 1)))
        elif isinstance(payload.get("orders"), list):
            trades = payload["orders"]
        else:
            raise AdminError(400, 'expected {"orders": [...]} or {"generate": n}')
        for trade in trades:
            if not isinstance(trade, dict) or not {"tid_str", "oaid", "orders", "modified"} <= set(trade):
                raise AdminError(400, "each trade needs tid_str, oaid, orders and modified")
        added, skipped = self.book.add(trades)
        return {"added": added, "skipped": skipped}

    def change_trade(self, tid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one admin action to a trade (see the module table); returns the trade."""
        trade = self._trade(tid)
        action, oid = payload.get("action"), payload.get("oid")
        now = self.clock()
        stamp = tseed.text(now)
        try:
            self.book.line(trade, None if oid is None else str(oid))
        except KeyError:
            raise AdminError(404, f"trade {tid} has no sub-order {oid}") from None
        status = trade["status"]
        if action == "pay":
            self._expect(trade, ("WAIT_BUYER_PAY",))
            self._set_status(trade, "WAIT_SELLER_SEND_GOODS")
            trade.update(pay_time=stamp, delivery_time=tseed.text(now + 48 * 3600))
        elif action == "release":
            self._expect(trade, ("PAID_FORBID_CONSIGN",))
            self._set_status(trade, "WAIT_SELLER_SEND_GOODS")
        elif action in ("refund", "refund_success"):
            kind = "requested" if action == "refund" else "refunded"
            self.book.set_refund(tid, None if oid is None else str(oid), kind, now)
        elif action == "refund_reject":
            line = self.book.line(trade, None if oid is None else str(oid))
            line["refund_status"] = "SELLER_REFUSE_BUYER"
            self.book.refund_record(trade, line, "SELLER_REFUSE_BUYER", stamp)
        elif action == "cancel":
            if status in ("WAIT_BUYER_CONFIRM_GOODS", "SELLER_CONSIGNED_PART", "TRADE_FINISHED"):
                raise AdminError(409, f"trade {tid} is already shipped ({status})")
            if status == "WAIT_BUYER_PAY":
                self._set_status(trade, "TRADE_CLOSED_BY_TAOBAO")
            else:
                self.book.set_refund(tid, None, "refunded", now)
        elif action == "complete":
            self._expect(trade, ("WAIT_BUYER_CONFIRM_GOODS",))
            self._set_status(trade, "TRADE_FINISHED")
            trade["end_time"] = stamp
        elif action == "set":
            fields = payload.get("fields")
            if not isinstance(fields, dict):
                raise AdminError(400, 'action "set" needs "fields": {...}')
            trade.update(fields)
            if "modified" in fields:
                return trade
        elif action != "touch":
            raise AdminError(400, f"unknown action {action!r}")
        trade["modified"] = stamp
        return trade

    @staticmethod
    def _expect(trade: dict[str, Any], allowed: tuple[str, ...]) -> None:
        if trade["status"] not in allowed:
            raise AdminError(409, f"trade {trade['tid_str']} is {trade['status']}, expected one of {allowed}")

    @staticmethod
    def _set_status(trade: dict[str, Any], status: str) -> None:
        trade["status"] = status
        for line in trade["orders"]["order"]:
            if line.get("refund_status") != "SUCCESS":
                line["status"] = status

    def _faults(self, payload: dict[str, Any]) -> dict[str, Any]:
        if "fault_rate" in payload:
            self.fault_rate = float(payload["fault_rate"])
        if "lost_reply_rate" in payload:
            self.lost_reply_rate = float(payload["lost_reply_rate"])
        if "qps" in payload:
            qps = payload["qps"]
            if qps is True:
                self.qps = dict(DEFAULT_RATES)  # the assumed per-API limits (taobao_sim.API_QPS)
            elif isinstance(qps, dict):
                self.qps = {k: float(v) for k, v in qps.items()}
            else:
                self.qps = None if qps in (None, False) else float(qps)
            self._buckets.clear()
            self._banned.clear()
        return {"fault_rate": self.fault_rate, "qps": self.qps, "lost_reply_rate": self.lost_reply_rate}

    # ---- StorefrontSim controls (adapters.sandbox.control) ------------------------------------------

    def shop_config(self, base_url: str) -> dict[str, Any]:
        """A complete shop config for the Taobao adapter, secrets inline."""
        session, refresh = next(iter(self.configured_sessions.items()))
        config: dict[str, Any] = {"id": SHOP_ID, "platform": "taobao", "name": self.shop_name,
                                  "base_url": base_url, "app_key": self.app_key, "app_secret": self._secret,
                                  "session": session, "sign_method": "hmac-sha256", "pull": {"window_minutes": 30}}
        expiry = self.sessions.first_expiry(session)
        if expiry is not None:
            config["session_expires_at"] = datetime.fromtimestamp(expiry, UTC).isoformat()
        if refresh:
            config.update(can_refresh=True, refresh_token=refresh)
        return config

    def seed_ready(self, n: int, *, now: float, spread_seconds: float,
                   skus: Sequence[str] = ("SB-TEE-RED-M",)) -> list[str]:
        """``n`` trades awaiting shipment, one sub-order (quantity 1) per SKU, modified evenly over
        ``[now - spread_seconds, now - 60]``; their tids in ``modified`` order."""
        with self._lock:
            rng = random.Random(f"taobao-ready|{len(self.book.trades)}|{now}")  # noqa: S311 - reproducible
            seen = {int(t) for t in self.book.trades}
            first, last = now - spread_seconds, now - 60
            trades = []
            for i in range(n):
                at = int(last if n == 1 else first + (last - first) * i / (n - 1))
                trade = tseed.make_trade(rng, tseed.new_tid(rng, seen), "normal", at - 300, at + 120, list(skus))
                for line in trade["orders"]["order"]:
                    line.update(num=1, total_fee=line["price"], payment=line["price"])
                total = sum(int(line["price"].replace(".", "")) for line in trade["orders"]["order"])
                trade.update(created=tseed.text(at - 300), pay_time=tseed.text(at - 240), modified=tseed.text(at),
                             delivery_time=tseed.text(at + 48 * 3600), payment=tseed.yuan(total),
                             total_fee=tseed.yuan(total))
                trades.append(trade)
            self.book.add(trades)
            return [t["tid_str"] for t in trades]

    def set_updated(self, order_id: str, ts: float) -> None:
        """Set one trade's ``modified`` (second resolution, as TOP keeps it)."""
        with self._lock:
            self._trade(order_id)["modified"] = tseed.text(ts)

    def touch_when_paging(self, order_id: str, page: int) -> None:
        """Once, just before the ``page``-th (0-based) listing call of a window, set the trade's ``modified``
        to now. Calls are counted per ``(start_modified, end_modified)`` from the first call of that window."""
        with self._lock:
            self.touches.append((order_id, page))

    def expire_access_token(self) -> None:
        """Every session issued so far expires now; refresh tokens still work."""
        with self._lock:
            self.sessions.expire_all(self.clock())

    def fail_next(self, kind: FailureKind, count: int = 1) -> None:
        """The next ``count`` signed calls fail: ``transient`` isp.* (code 15), ``rate_limited`` code 7 with its
        ban, ``auth_revoked`` code 27 — the seller withdrew the authorisation, so every refresh token issued
        so far is refused too (a refresh attempt does not use up ``count``)."""
        with self._lock:
            if kind == "auth_revoked":
                self.sessions.revoke_refresh()
            self.failures.extend([kind] * count)

    def line_ids(self, order_id: str) -> list[str]:
        """The oids of the trade's sub-orders, in order."""
        with self._lock:
            return [str(line["oid_str"]) for line in self._trade(order_id)["orders"]["order"]]

    def tracking_numbers(self, order_id: str) -> list[str]:
        """Tracking numbers effectively recorded on the trade (each once, in upload order)."""
        with self._lock:
            return self.book.tracking_numbers(order_id)

    def set_refund(self, order_id: str, line_id: str | None, kind: RefundKind) -> None:
        """A refund on one sub-order (every one when None): requested, refunded or closed."""
        with self._lock:
            self.book.set_refund(order_id, line_id, kind, self.clock())
