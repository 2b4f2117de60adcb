"""The stock part of ``syncd demo``: a supplier runs out of a SKU and every shop's listing drops to zero; a
supplier raises a price and the margin alert opens. Driven from the demo's progress tick; pure sandbox calls."""

from __future__ import annotations

import time
from typing import Any

from syncd.i18n import _

OUT_CODE, OUT_SUPPLIER, OUT_SKU = "SB-HOOK-10P", "yiwu-goods", "YW-H010"
DEAR_CODE, DEAR_SKU, DEAR_FEN = "SB-MUG-WHT", "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90", 4990
START_AFTER = 8.0  # seconds into the run: the first stock pass has written every shop by then


class StockStory:
    """What the demo does and tells about stock and price."""

    def __init__(self, sandbox: Any, rt: Any) -> None:
        self.sandbox = sandbox
        self.enabled = bool(getattr(rt, "config", None) and any(
            s.stock.enabled for s in rt.config.shops.values())) and OUT_SUPPLIER in getattr(sandbox, "bots", {})
        self.before: dict[str, int] = {}
        self.started: float | None = None
        self.zero_after: float | None = None
        partners = getattr(sandbox, "partners", None)
        if self.enabled and partners is not None:
            # the warehouse's prices as the routes' costs say, so that only the price rise below alerts
            partners.webhook.set_price("HZ-B500-BLU", 1200)
            partners.webhook.set_price("HZ-C001-1M", 550)

    def shown(self) -> dict[str, int]:
        return {name: sim.products.stock_of(OUT_CODE) for name, sim in self.sandbox.storefronts.items()}

    def tick(self, elapsed: float) -> str | None:
        """Called on every progress tick; a line to print when something of the story happened."""
        if not self.enabled:
            return None
        if self.started is None and elapsed >= START_AFTER:
            self.before = self.shown()
            path = self.sandbox.bots[OUT_SUPPLIER].drop_stock_file({OUT_SKU: 0, "YW-B500-BLU": 30})
            self.started = time.monotonic()
            partners = getattr(self.sandbox, "partners", None)
            if partners is not None:
                partners.alibaba.set_price(DEAR_SKU, DEAR_FEN)
            return _("stock: supplier {supplier} drops a stock file ({file}): {sku} is out of stock; the 1688 "
                     "factory raises the price of {dear} to {price} yuan").format(
                supplier=OUT_SUPPLIER, file=path.name, sku=OUT_SKU, dear=DEAR_CODE, price=f"{DEAR_FEN / 100:.2f}")
        if self.started is not None and self.zero_after is None and all(v == 0 for v in self.shown().values()):
            self.zero_after = time.monotonic() - self.started
            return _("stock: {code} shows 0 in every shop, {seconds}s after the supplier's file").format(
                code=OUT_CODE, seconds=f"{self.zero_after:.1f}")
        return None

    def summary(self) -> list[str]:
        if not self.enabled or self.started is None:
            return []
        now = self.shown()
        shops = ", ".join(f"{k} {self.before.get(k, '?')}→{v}" for k, v in now.items())
        when = (_("after {seconds}s").format(seconds=f"{self.zero_after:.1f}") if self.zero_after is not None
                else _("not yet"))
        return [_("stock: {code} out of stock at {supplier}: {shops} (zero everywhere {when})").format(
            code=OUT_CODE, supplier=OUT_SUPPLIER, shops=shops, when=when),
            _("stock: see `syncd stock status` and the stock_margin_low alert of {code} (price rise)").format(
                code=DEAR_CODE)]
