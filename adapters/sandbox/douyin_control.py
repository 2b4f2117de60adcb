"""The Douyin simulator's side of :class:`adapters.sandbox.control.StorefrontSim` (the contract suite's hooks).

Failure codes injected by :meth:`ControlMixin.fail_next` are Douyin's own (reference §1.7):
transient → 20000 ``isp.service-error:20004``; rate_limited → 60000 ``isv.traffic-limited``;
auth_revoked → 30001 ``dop.authorization-closed``. They strike after the gateway checks (so only
well-signed calls count) and before the token check and any effect.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from syncd.adapters.sandbox import seed as seedmod
from syncd.adapters.sandbox.control import FailureKind, RefundKind
from syncd.adapters.sandbox.douyin_errors import ApiError
from syncd.adapters.sandbox.douyin_orders import OrderBook
from syncd.adapters.sandbox.douyin_tokens import TokenStore

SHOP_CONFIG_ID = "douyin-sandbox"
FAILURES: dict[str, tuple[int, str, str]] = {
    "transient": (20000, "isp.service-error:20004", "服务繁忙，请稍后重试"),
    "rate_limited": (60000, "isv.traffic-limited", "触发限流，请稍后重试"),
    "auth_revoked": (30001, "dop.authorization-closed", "店铺授权已关闭，请重新授权"),
}
_WindowKey = tuple[Any, Any, Any, Any]


class ControlMixin:
    """Test hooks of the Douyin simulator; every method runs under the simulator's lock."""

    platform = "douyin"
    prefix: str
    app_key: str
    shop_id: str
    shop_name: str
    _secret: str
    _lock: threading.RLock
    book: OrderBook
    tokens: TokenStore
    clock: Callable[[], float]

    def _init_control(self) -> None:
        self._failures: deque[str] = deque()
        self._touches: list[tuple[str, int]] = []  # (order id, list-call index) waiting to happen
        self._list_calls: dict[_WindowKey, int] = {}
        self._ready_serial = 0

    # ---- StorefrontSim -----------------------------------------------------------------------------

    def shop_config(self, base_url: str) -> dict[str, Any]:
        """A complete Douyin shop config with the sandbox credentials.

        ``base_url`` is where the simulator is mounted (``{server.url}/douyin``); a bare server root gets
        the prefix added.
        """
        url = base_url.rstrip("/")
        if not url.endswith(self.prefix):
            url += self.prefix
        return {"id": SHOP_CONFIG_ID, "platform": "douyin", "name": self.shop_name, "base_url": url,
                "app_key": self.app_key, "app_secret": self._secret, "shop_id": self.shop_id,
                "auth": {"grant": "self"}}

    def seed_ready(self, n: int, *, now: float, spread_seconds: float,
                   skus: Sequence[str] = ("SB-TEE-RED-M",)) -> list[str]:
        """Add ``n`` orders awaiting shipment (status 2), one line per SKU, quantity 1, complete receiver."""
        if n <= 0:
            return []
        if not skus:
            raise ValueError("seed_ready needs at least one SKU")
        first, last = math.ceil(now - spread_seconds), math.floor(now - 60)
        step = (last - first) / (n - 1) if n > 1 else 0.0
        with self._lock:
            self._ready_serial += 1
            rng = random.Random(f"douyin-ready|{self.app_key}|{self._ready_serial}")  # noqa: S311 - test data
            orders = []
            taken = set(self.book.orders)
            for i in range(n):
                ts = min(last, max(first, round(first + i * step)))
                oid = _fresh_id(rng, taken, "5")
                orders.append(_ready_order(rng, oid, ts, skus, taken))
            self.book.add(orders)
            return [o["order_id"] for o in orders]

    def set_updated(self, order_id: str, ts: float) -> None:
        """Set one order's update time."""
        with self._lock:
            order = self._known_order(order_id)
            self.book.stamp(order, int(ts))
            for line in order["sku_order_list"]:
                line["update_time"] = int(ts)

    def touch_when_paging(self, order_id: str, page: int) -> None:
        """Before the ``page``-th (0-based) order.searchList call of a window, bump the order to now, once."""
        with self._lock:
            self._known_order(order_id)
            self._touches.append((order_id, page))
            self._list_calls.clear()

    def expire_access_token(self) -> None:
        """Every access token issued so far expires now; refresh tokens keep working."""
        with self._lock:
            self.tokens.expire(self.clock())

    def fail_next(self, kind: FailureKind, count: int = 1) -> None:
        """The next ``count`` signed calls fail with Douyin's code for ``kind``."""
        if kind not in FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._failures.extend([kind] * count)

    def line_ids(self, order_id: str) -> list[str]:
        """Sub-order ids of the order, in order."""
        with self._lock:
            return [str(line["order_id"]) for line in self._known_order(order_id)["sku_order_list"]]

    def tracking_numbers(self, order_id: str) -> list[str]:
        """Tracking numbers effectively recorded on the order, each once, in upload order."""
        with self._lock:
            self._known_order(order_id)
            numbers = [s["tracking_no"] for s in self.book.shipments.get(order_id, []) if s["effective"]]
            return list(dict.fromkeys(numbers))

    def set_refund(self, order_id: str, line_id: str | None, kind: RefundKind) -> None:
        """An after-sale on one line (every line when None): requested, refunded or closed."""
        with self._lock:
            order = self._known_order(order_id)
            now = int(self.clock())
            lines = order["sku_order_list"] if line_id is None else [self.book.line(order, line_id)]
            for line in lines:
                if kind == "requested":
                    self.book.request_refund(order, str(line["order_id"]), now)
                elif kind == "refunded":
                    if not line["after_sale_info"].get("after_sale_status"):
                        self.book.request_refund(order, str(line["order_id"]), now)
                    self.book.refund_succeeded(order, line, now)
                elif kind == "closed":
                    if not line["after_sale_info"].get("after_sale_status"):
                        self.book.request_refund(order, str(line["order_id"]), now)
                    self.book.aftersales.change(order, line, now, after_sale_status=28, refund_status=0)
                else:
                    raise ValueError(f"unknown refund kind {kind!r}")
                line["update_time"] = now

    # ---- hooks of the gateway ----------------------------------------------------------------------

    def _injected_failure(self) -> ApiError | None:
        """The failure the next signed call must answer with, if one is queued (under the lock)."""
        if not self._failures:
            return None
        return ApiError(*FAILURES[self._failures.popleft()])

    def _before_list(self, params: dict[str, Any], now: float) -> None:
        """Count order.searchList calls per window and apply a due touch (under the lock)."""
        if not self._touches:
            return
        key = (params.get("update_time_start"), params.get("update_time_end"),
               params.get("create_time_start"), params.get("create_time_end"))
        index = self._list_calls.get(key, 0)
        self._list_calls[key] = index + 1
        for touch in [t for t in self._touches if t[1] == index]:
            self._touches.remove(touch)
            order = self.book.orders.get(touch[0])
            if order is not None:
                self.book.stamp(order, int(now))

    def _known_order(self, order_id: str) -> dict[str, Any]:
        order = self.book.orders.get(str(order_id))
        if order is None:
            raise KeyError(f"no order {order_id} in the Douyin simulator")
        return order


def _fresh_id(rng: random.Random, taken: set[str], first: str) -> str:
    while True:
        oid = first + "".join(rng.choice("0123456789") for _ in range(18))
        if oid not in taken:
            taken.add(oid)
            return oid


def _ready_order(rng: random.Random, oid: str, ts: int, skus: Sequence[str], taken: set[str]) -> dict[str, Any]:
    """A paid order awaiting shipment updated at ``ts``, one quantity-1 line per SKU."""
    order = seedmod.make_order(rng, oid, "normal", ts - 60, ts + 120)  # make_order keeps times ≤ now - 120
    template = order["sku_order_list"][0]
    lines = [_line(template, oid, _fresh_id(rng, taken, "6"), code) for code in skus]
    for line in lines:
        line.update(create_time=ts - 60, pay_time=ts - 30, update_time=ts, exp_ship_time=ts - 30 + 48 * 3600)
    amount = sum(line["pay_amount"] for line in lines)
    order.update(sku_order_list=lines, create_time=ts - 60, pay_time=ts - 30, update_time=ts,
                 exp_ship_time=ts - 30 + 48 * 3600, order_amount=amount, pay_amount=amount)
    return order


def _line(template: dict[str, Any], parent: str, sub_id: str, code: str) -> dict[str, Any]:
    if code in seedmod.CATALOG:
        item = seedmod.CATALOG[code]
        title, spec, price = item.title, item.spec, seedmod.PRICES[code][0]
    elif code in seedmod.UNMAPPED:
        title, spec, price = seedmod.UNMAPPED[code]
    else:
        title, spec, price = code, (), 1000
    digest = int.from_bytes(hashlib.sha256(f"sku|{code}".encode()).digest()[:8], "big")
    line = copy.deepcopy(template)
    line.update(order_id=sub_id, parent_order_id=parent, code=code, product_name=title, item_num=1,
                sku_id=10**15 + digest % (9 * 10**15), origin_amount=price, sum_amount=price, pay_amount=price,
                spec=[{"name": k, "value": v} for k, v in spec],
                after_sale_info={"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0})
    return line
