"""The whole sandbox in one object: HTTP server, storefront simulators, one bot per drop-folder supplier, and
the partners (1688, a webhook supplier, Kuaidi100, alert robots)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.adapters.douyin.client import DEFAULT_RATES as DOUYIN_DEFAULT_RATES
from syncd.adapters.sandbox import pdd_seed as pseed
from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
from syncd.adapters.sandbox.httpserver import Response, SandboxServer, json_response
from syncd.adapters.sandbox.partners import Partners
from syncd.adapters.sandbox.pdd_sim import PddSimulator
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, generate_orders
from syncd.adapters.sandbox.supplier_bot import SupplierBot
from syncd.adapters.sandbox.taobao_sim import TaobaoSimulator


@dataclass(frozen=True)
class SupplierSpec:
    """A simulated drop-folder supplier: where the daemon writes orders, where replies go."""

    id: str
    outbox_dir: str | Path
    inbox_dir: str | Path
    reply_format: str = "xlsx"
    encoding: str = "utf-8-sig"

    @classmethod
    def parse(cls, text: str) -> SupplierSpec:
        """``ID:OUTBOX:INBOX[:FORMAT[:ENCODING]]`` (the CLI's ``--supplier``)."""
        parts = text.split(":")
        if not 3 <= len(parts) <= 5 or not all(parts[:3]):
            raise ValueError(f"expected ID:OUTBOX:INBOX[:FORMAT[:ENCODING]], found {text!r}")
        return cls(*parts)


# The Douyin limits the adapter assumes (Douyin publishes none), enforced by the simulator when asked.
DOUYIN_API_QPS: dict[str, float] = dict(DOUYIN_DEFAULT_RATES)


class Sandbox:
    """Start/stop everything the daemon talks to; usable as a context manager."""

    def __init__(self, orders: int = 200, seed: int = 1, suppliers: Sequence[SupplierSpec] = (), port: int = 0,
                 fault_rate: float = 0.02, token_ttl: float = 7 * 86400, refresh_ttl: float = 14 * 86400,
                 reply_delay: float = 2.0, bad_row_rate: float = 0.02, qps: float | None = None, *,
                 clock: Callable[[], float] = time.time, span_hours: float = 24, bot_interval: float | None = 1.0,
                 release_after: float | None = 30.0, refund_after: float | None = None,
                 refund_fraction: float = 0.0, lost_reply_rate: float = 0.0,
                 platforms: Sequence[str] = ("douyin", "pdd", "taobao"), api_qps: bool = False,
                 partners: bool = True, partner_ship_after: float | None = None,
                 push_interval: float | None = 1.0, shops_per_platform: int = 1, slow_shop: str | None = None,
                 failing_shop: str | None = None, slow_seconds: float = 5.0, latency: float = 0.0) -> None:
        self.clock = clock
        self.orders = generate_orders(orders, seed, clock(), span_hours)
        self.douyin = DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, self.orders,
                                      token_ttl=token_ttl, refresh_ttl=refresh_ttl, fault_rate=fault_rate,
                                      qps=qps, seed=seed, clock=clock, release_after=release_after,
                                      refund_after=refund_after, refund_fraction=refund_fraction,
                                      lost_reply_rate=lost_reply_rate,
                                      api_qps=DOUYIN_API_QPS if api_qps else None)
        self.server = SandboxServer(port=port, latency=latency)
        # Every storefront simulator gets ``orders`` orders of its own; ``api_qps`` switches on each one's
        # published (or assumed) per-API limits, answered with the platform's own flow-control error.
        self.storefronts: dict[str, Any] = {"douyin": self.douyin}
        if "pdd" in platforms:
            self.storefronts["pdd"] = PddSimulator(
                pseed.SANDBOX_PDD_CLIENT_ID, pseed.SANDBOX_PDD_CLIENT_SECRET, pseed.SANDBOX_PDD_MALL_ID,
                pseed.generate_pdd_orders(orders, seed, clock(), span_hours), fault_rate=fault_rate,
                qps=True if api_qps else qps, seed=seed, clock=clock, lost_reply_rate=lost_reply_rate)
        if "taobao" in platforms:
            self.storefronts["taobao"] = TaobaoSimulator(
                tseed.SANDBOX_TAOBAO_APP_KEY, tseed.SANDBOX_TAOBAO_APP_SECRET, tseed.SANDBOX_TAOBAO_SESSIONS,
                tseed.generate_taobao_orders(orders, seed, clock(), span_hours), fault_rate=fault_rate,
                qps=True if api_qps else qps, seed=seed, clock=clock, lost_reply_rate=lost_reply_rate,
                release_after=release_after)
        # A fleet (``syncd bench --fleet``): more shops of each platform, each a simulator of its own with its own
        # orders, mounted at /<platform>-2, /<platform>-3 ...; one of them may answer slowly or fail every call.
        for k in range(2, shops_per_platform + 1):
            for name in list(platforms):
                if name not in ("douyin", "pdd", "taobao"):
                    continue
                sim = self._storefront(name, orders, seed * 1000 + k, clock, span_hours, fault_rate, qps, api_qps,
                                       token_ttl, refresh_ttl, release_after, refund_after, refund_fraction,
                                       lost_reply_rate)
                sim.prefix = f"/{name}-{k}"
                self.storefronts[f"{name}-{k}"] = sim
        for key, sim in self.storefronts.items():
            handler: Any = sim
            if key == slow_shop:
                handler = _Slow(sim, slow_seconds)
            elif key == failing_shop:
                handler = _Failing(sim)
            self.server.mount(sim.prefix, handler)
        # API suppliers ship after ``partner_ship_after`` seconds (default: the drop-folder reply delay).
        self.partners = Partners(self.server, seed=seed, clock=clock, fault_rate=fault_rate,
                                 lost_reply_rate=lost_reply_rate, min_stock=4 * orders,
                                 ship_after=reply_delay if partner_ship_after is None else partner_ship_after,
                                 ) if partners else None
        self.push_interval = push_interval
        self.bots = {s.id: SupplierBot(s.outbox_dir, s.inbox_dir, reply_delay=reply_delay,
                                       reply_format=s.reply_format, encoding=s.encoding,
                                       bad_row_rate=bad_row_rate, seed=seed, clock=clock, name=s.id)
                     for s in suppliers}
        self.bot_interval = bot_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _storefront(name: str, orders: int, seed: int, clock: Callable[[], float], span_hours: float,
                    fault_rate: float, qps: float | None, api_qps: bool, token_ttl: float, refresh_ttl: float,
                    release_after: float | None, refund_after: float | None, refund_fraction: float,
                    lost_reply_rate: float) -> Any:
        """One more storefront simulator of ``name`` with orders of its own (``seed``)."""
        if name == "douyin":
            return DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID,
                                   generate_orders(orders, seed, clock(), span_hours), token_ttl=token_ttl,
                                   refresh_ttl=refresh_ttl, fault_rate=fault_rate, qps=qps, seed=seed, clock=clock,
                                   release_after=release_after, refund_after=refund_after,
                                   refund_fraction=refund_fraction, lost_reply_rate=lost_reply_rate,
                                   api_qps=DOUYIN_API_QPS if api_qps else None)
        if name == "pdd":
            return PddSimulator(pseed.SANDBOX_PDD_CLIENT_ID, pseed.SANDBOX_PDD_CLIENT_SECRET, pseed.SANDBOX_PDD_MALL_ID,
                                pseed.generate_pdd_orders(orders, seed, clock(), span_hours), fault_rate=fault_rate,
                                qps=True if api_qps else qps, seed=seed, clock=clock,
                                lost_reply_rate=lost_reply_rate)
        return TaobaoSimulator(tseed.SANDBOX_TAOBAO_APP_KEY, tseed.SANDBOX_TAOBAO_APP_SECRET,
                               tseed.SANDBOX_TAOBAO_SESSIONS, tseed.generate_taobao_orders(orders, seed, clock(),
                                                                                           span_hours),
                               fault_rate=fault_rate, qps=True if api_qps else qps, seed=seed, clock=clock,
                               lost_reply_rate=lost_reply_rate, release_after=release_after)

    def start(self) -> Sandbox:
        """Serve HTTP and start one polling thread per supplier bot (none when ``bot_interval`` is None)."""
        self.server.start()
        self._stop.clear()
        for sid, bot in self.bots.items():
            if self.bot_interval is None:
                break  # the caller polls the bots itself
            t = threading.Thread(target=bot.run, args=(self._stop, self.bot_interval),
                                 name=f"sandbox-supplier-{sid}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.partners is not None and self.push_interval is not None:
            self.partners.start_pushes(self.push_interval)
        return self

    def stop(self) -> None:
        """Stop the bots and the server (idempotent)."""
        self._stop.set()
        if self.partners is not None:
            self.partners.stop()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        self.server.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def douyin_url(self) -> str:
        """The Douyin shop's ``base_url``."""
        return self.server.url + self.douyin.prefix

    def state(self) -> dict[str, Any]:
        """Each storefront simulator's admin state (by platform), what each supplier bot did, and the partners'
        state under ``partners`` (by ``1688``, ``webhook``, ``kuaidi100``, ``robots``)."""
        partners = {"partners": self.partners.snapshot()} if self.partners is not None else {}
        return {**{name: sim.snapshot() for name, sim in self.storefronts.items()}, **partners, "suppliers": {
            sid: {"answered_files": sum(1 for v in list(bot.answered.values()) if v), "answers": len(bot.answers),
                  "bad_rows": len(bot.bad_rows), "cancelled": len(bot.cancelled)}
            for sid, bot in self.bots.items()}}

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Slow:
    """A storefront whose every answer takes ``seconds`` (``syncd bench --fleet --slow-shop``)."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        if "/_sandbox" not in path:
            time.sleep(self.seconds)
        return self.inner.handle(method, path, query, headers, body)  # type: ignore[no-any-return]


class _Failing:
    """A storefront that fails every API call with HTTP 503 (``syncd bench --fleet --failing-shop``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        if "/_sandbox" in path:
            return self.inner.handle(method, path, query, headers, body)  # type: ignore[no-any-return]
        return json_response(503, {"error": "sandbox: this shop fails every call"})
