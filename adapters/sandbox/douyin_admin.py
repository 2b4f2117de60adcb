"""Unsigned admin endpoints of the Douyin simulator, under ``/douyin/_sandbox/`` (tests and the demo).

======  =====================  ==================================================================
GET     state                  counts and effects, see :meth:`AdminMixin.state`
GET     order/<order_id>       the order as the platform holds it
GET     tokens                 issued access tokens with their remaining life
POST    orders                 ``{"orders": [...]}`` or ``{"generate": n, "seed": s, "span_hours": h}``
POST    order/<order_id>       ``{"action": ..., "sku_order_id": ..., "fields": {...}}``; actions:
                               cancel, pay, release, refund, refund_success, refund_reject,
                               complete, touch, set (``fields`` merged into the order)
POST    expire_token           ``{"access_token"?, "expires_in"?: 0, "refresh_token"?}``
POST    faults                 ``{"fault_rate"?, "qps"?, "api_qps"?: {method: qps}, "lost_reply_rate"?}``
======  =====================  ==================================================================

Every change bumps the order's ``update_time`` to the simulator's clock, as the platform would.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncd.adapters.sandbox import seed as seedmod
from syncd.adapters.sandbox.douyin_orders import OrderBook, set_status
from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.products import ProductBook, admin_stock

if TYPE_CHECKING:
    from syncd.adapters.sandbox.douyin_tokens import TokenStore


class AdminError(Exception):
    """An admin request that cannot be done (HTTP status + message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminMixin:
    """Admin handlers; the simulator provides the attributes below."""

    book: OrderBook
    products: ProductBook
    tokens: TokenStore
    clock: Callable[[], float]
    calls: Counter[str]
    errors: Counter[str]
    sub_errors: Counter[str]
    fault_rate: float
    lost_reply_rate: float
    qps: float | None
    _bucket: tuple[float, float]
    api_qps: dict[str, float]
    _api_buckets: dict[str, tuple[float, float]]

    def admin(self, method: str, route: str, query: dict[str, str], body: bytes) -> Response:
        """Dispatch one admin request (``route`` is the path below ``_sandbox/``)."""
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
            if method == "GET" and route == "tokens":
                return json_response(200, {"tokens": self.tokens.snapshot(self.clock())})
            if method == "GET" and head == "order":
                return json_response(200, {"order": self._order(arg)})
            if method == "POST" and route == "orders":
                return json_response(200, self._add_orders(payload))
            if method == "POST" and head == "order":
                return json_response(200, {"order": self.change_order(arg, payload)})
            if method == "POST" and route == "expire_token":
                return json_response(200, self._expire(payload))
            if method == "POST" and route == "faults":
                return json_response(200, self._faults(payload))
        except AdminError as err:
            return json_response(err.status, {"error": str(err)})
        return json_response(404, {"error": f"no admin endpoint {method} _sandbox/{route}"})

    def state(self) -> dict[str, Any]:
        """Counts by order status, effective shipments, ship calls, calls per method, errors per code."""
        now = self.clock()
        by_status = Counter(str(o["order_status"]) for o in self.book.orders.values())
        tokens = self.tokens.snapshot(now)
        return {
            "now": now,
            "orders": dict(sorted(by_status.items())),
            "orders_total": len(self.book.orders),
            "shipments": {oid: list(s) for oid, s in self.book.shipments.items()},
            "ship_calls": dict(self.book.ship_calls),
            "ship_replays": dict(self.book.ship_replays),
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "sub_errors": dict(self.sub_errors),
            "tokens": {"issued": len(tokens), "valid": sum(1 for t in tokens if t["valid"])},
        }

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.book.orders.get(order_id)
        if order is None:
            raise AdminError(404, f"no order {order_id}")
        return order

    def _add_orders(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        if "generate" in payload:
            orders = seedmod.generate_orders(int(payload["generate"]), int(payload.get("seed", 0)), now,
                                             float(payload.get("span_hours", 1)))
        elif isinstance(payload.get("orders"), list):
            orders = payload["orders"]
        else:
            raise AdminError(400, 'expected {"orders": [...]} or {"generate": n}')
        for order in orders:
            if not isinstance(order, dict) or "order_id" not in order or "sku_order_list" not in order:
                raise AdminError(400, "each order needs order_id and sku_order_list")
        added, skipped = self.book.add(orders, now)
        return {"added": added, "skipped": skipped}

    def change_order(self, order_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one admin action to an order (see the module table); returns the order."""
        order = self._order(order_id)
        action = payload.get("action")
        now = int(self.clock())
        status = order["order_status"]
        sku = payload.get("sku_order_id")
        try:
            line = self.book.line(order, None if sku is None else str(sku))
        except KeyError:
            raise AdminError(404, f"order {order_id} has no sub-order {sku}") from None
        if action == "cancel":
            if status in (3, 101, 5):
                raise AdminError(409, f"order {order_id} is already shipped (status {status})")
            if order.get("pay_time"):
                for each in order["sku_order_list"]:
                    self.book.aftersales.change(order, each, now, after_sale_status=12, after_sale_type=2,
                                                refund_status=3)
            set_status(order, 4)
            order["cancel_reason"] = payload.get("reason", "买家申请取消")
        elif action == "pay":
            self._expect(order, status, (1,))
            set_status(order, 2)
            order.update(pay_time=now, exp_ship_time=now + 48 * 3600)
        elif action == "release":
            self._expect(order, status, (105,))
            set_status(order, 2)
        elif action == "refund":
            self._expect(order, status, (2, 105, 101, 3))
            self.book.request_refund(order, str(line["order_id"]), now)
        elif action == "refund_success":
            self.book.refund_succeeded(order, line, now)
        elif action == "refund_reject":
            self.book.aftersales.change(order, line, now, after_sale_status=27, refund_status=4)
        elif action == "complete":
            self._expect(order, status, (3,))
            set_status(order, 5)
            order["finish_time"] = now
        elif action == "set":
            fields = payload.get("fields")
            if not isinstance(fields, dict):
                raise AdminError(400, 'action "set" needs "fields": {...}')
            order.update(fields)
            self.book.reindex_id(order_id)  # the fields may hold update_time or even order_id
            if "order_status" in fields:
                set_status(order, int(fields["order_status"]))
            if "update_time" in fields:
                return order
        elif action != "touch":
            raise AdminError(400, f"unknown action {action!r}")
        order["update_time"] = now
        self.book.reindex_id(order_id)
        return order

    @staticmethod
    def _expect(order: dict[str, Any], status: int, allowed: tuple[int, ...]) -> None:
        if status not in allowed:
            raise AdminError(409, f"order {order['order_id']} has status {status}, expected one of {allowed}")

    def _expire(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        out = {"expired": self.tokens.expire(now, payload.get("access_token"),
                                             float(payload.get("expires_in", 0)))}
        if payload.get("refresh_token") is not None or payload.get("refresh"):
            out["refresh_expired"] = self.tokens.expire_refresh(now, payload.get("refresh_token") or None)
        return out

    def _faults(self, payload: dict[str, Any]) -> dict[str, Any]:
        if "fault_rate" in payload:
            self.fault_rate = float(payload["fault_rate"])
        if "lost_reply_rate" in payload:
            self.lost_reply_rate = float(payload["lost_reply_rate"])
        if "qps" in payload:
            self.qps = None if payload["qps"] is None else float(payload["qps"])
            self._bucket = (float(self.qps or 0), self.clock())
        if "api_qps" in payload:
            limits = payload["api_qps"] or {}
            if not isinstance(limits, dict) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in limits.values()):
                raise AdminError(400, '"api_qps" must map API names to positive numbers')
            self.api_qps = {str(k): float(v) for k, v in limits.items()}
            self._api_buckets.clear()
        return {"fault_rate": self.fault_rate, "qps": self.qps, "api_qps": self.api_qps,
                "lost_reply_rate": self.lost_reply_rate}
