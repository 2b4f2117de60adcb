"""The webhook supplier simulator's stock pushes (docs/webhook-supplier.md §9.1) and its prices.

Each change of a SKU's stock level or price becomes one line of a pending push; :meth:`StockFeed.deliver`
POSTs the pending lines as one signed push (``event_id`` ``stk_…``, ``occurred_at`` the time of the last
change) to ``/callbacks/suppliers/<id>/stock``; a push not answered 2xx stays pending and is resent with the
same ``event_id``, as the contract asks.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from syncd.adapters.webhook.signing import sign_headers

_CST = ZoneInfo("Asia/Shanghai")


def default_price_fen(sku: str) -> int:
    """A stable made-up price for a SKU nobody priced: 5.00 to 54.90 yuan."""
    return 500 + (zlib.crc32(sku.encode()) % 500) * 10


@dataclass
class StockFeed:
    """Prices and the stock-push queue of one simulated supplier; the simulator calls it under its lock
    (except :meth:`deliver`, which takes what is pending and posts it without holding anything)."""

    secret: str
    url: str | None = None
    prices: dict[str, int] = field(default_factory=dict)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)  # sku -> the pending line
    last_change: float = 0.0
    events: int = 0
    in_flight: dict[str, Any] | None = None  # a push sent but not yet accepted: resent as it was
    delivered: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0

    def price(self, sku: str) -> int:
        return self.prices.get(sku, default_price_fen(sku))

    def changed(self, sku: str, available: int | None, now: float) -> None:
        """Queue the SKU's current figures (when a push URL is set)."""
        if not self.url:
            return
        self.lines[sku] = {"sku": sku, "available": available, "price_fen": self.price(sku)}
        self.last_change = now

    def take(self) -> dict[str, Any] | None:
        """The push to send now: the one in flight again, else the pending lines as a new event."""
        if self.in_flight is None and self.lines:
            self.events += 1
            self.in_flight = {"event_id": f"stk_{self.events:06d}",
                              "occurred_at": datetime.fromtimestamp(self.last_change, _CST).isoformat(),
                              "lines": list(self.lines.values())}
            self.lines = {}
        return self.in_flight

    def done(self, body: dict[str, Any], ok: bool) -> None:
        if ok:
            self.delivered.append(body)
            self.in_flight = None
        else:
            self.failures += 1

    def deliver(self, body: dict[str, Any], now: float, http: httpx.Client) -> bool:
        """POST one push, signed over the URL's path; True when answered 2xx."""
        assert self.url is not None
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        path = urlsplit(self.url).path or "/"
        headers = {"Content-Type": "application/json; charset=utf-8",
                   **sign_headers(self.secret, int(now), "POST", path, raw)}
        try:
            return 200 <= http.post(self.url, content=raw, headers=headers).status_code < 300
        except httpx.HTTPError:
            return False

    def state(self) -> dict[str, Any]:
        return {"pending": len(self.lines) + (len(self.in_flight["lines"]) if self.in_flight else 0),
                "delivered": len(self.delivered), "failed_attempts": self.failures}


__all__ = ["StockFeed", "default_price_fen"]
