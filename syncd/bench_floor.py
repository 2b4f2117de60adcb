"""The floor line: a bare client that makes only the storefront calls the bench's orders need.

Against a sandbox started exactly as the bench starts it (the same orders), with no database, no scheduler
and no stages: per shop, one read of the whole look-back (in the windows the platform allows, pages of 100),
the addresses of the orders that may ship decrypted in batches of 50, and one ship call per order with a
tracking number. It goes through syncd's own adapters — signing, HTTP, decoding and mapping a platform's
answer are work any client must do — and counts its CPU per order listed, the bench's own denominator.

What the floor leaves out, and syncd must do, is where the multiple goes: storing every order and its lines,
routing, the supplier exchange (workbooks written and read, API suppliers' create, pay and status calls), the
settling re-read of each stretch, refunds, audit records, the scheduler and its leases. The storefront part
alone is compared in ``storefront_multiple`` (syncd's pull and write-back CPU against the floor's).
"""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from syncd import clock
from syncd.domain import OrderIn, OrderStatus, Parcel, ParcelLine, RefundState, Token
from syncd.registry import STOREFRONTS, AdapterContext

DECRYPT_BATCH = 50
CARRIER = "zhongtong"


class MemoryTokens:
    """Tokens held in memory only: the floor keeps no database."""

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}

    def load(self, shop_id: str) -> Token | None:
        return self.tokens.get(shop_id)

    def save(self, shop_id: str, token: Token) -> None:
        self.tokens[shop_id] = token

    @contextmanager
    def refresh_lock(self, shop_id: str) -> Iterator[bool]:
        yield True


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def shippable(o: OrderIn) -> bool:
    return o.status is OrderStatus.PAID and o.ready_to_ship and o.refund_state is RefundState.NONE and bool(o.lines)


def tracking_number(platform_order_id: str) -> str:
    """A ZTO-like number (12 digits after 7), the same for the same order."""
    digits = int(hashlib.sha256(platform_order_id.encode()).hexdigest()[:12], 16) % 10**11
    return f"7{digits:011d}"


def run_shop(adapter: Any, lookback: timedelta, window: timedelta) -> dict[str, int]:
    """List the look-back once, decrypt the shippable orders' addresses in batches of 50, ship each once."""
    now = clock.now()
    start = now - lookback
    orders: dict[str, OrderIn] = {}
    while start < now:
        end = min(start + window, now)
        for o in adapter.list_orders(start, end).orders:
            orders[o.platform_order_id] = o
        start = end
    ready = [o for o in orders.values() if shippable(o)]
    failed = 0
    for i in range(0, len(ready), DECRYPT_BATCH):
        batch = ready[i:i + DECRYPT_BATCH]
        answers = adapter.decrypt([(o.platform_order_id, o.receiver) for o in batch])
        failed += sum(1 for v in answers.values() if isinstance(v, str))
    shipped = 0
    for o in ready:
        parcel = Parcel(CARRIER, tracking_number(o.platform_order_id),
                        [ParcelLine(ln.platform_line_id, ln.quantity) for ln in o.lines],
                        request_id=f"floor-{o.platform_order_id}")
        try:
            adapter.ship(o.platform_order_id, [parcel], True)
            shipped += 1
        except Exception:  # noqa: BLE001 - the floor counts what went through; a refusal is the simulator's
            failed += 1
    return {"listed": len(orders), "shippable": len(ready), "shipped": shipped, "failed": failed}


def refunded_orders(adapter: Any, lookback: timedelta, window: timedelta) -> int:
    """Orders with an entry in the refund stream's look-back (read once, in the adapter's windows): at least as
    many entries as that, so at least ``ceil(orders / 100)`` calls for a client reading the look-back."""
    now = clock.now()
    start = now - lookback
    orders: set[str] = set()
    while start < now:
        end = min(start + window, now)
        orders.update(e.platform_order_id for e in adapter.list_refunds(start, end).events)
        start = end
    return len(orders)


def run_floor(config: Any, data_dir: Path, shops: Sequence[str] | None = None) -> dict[str, Any]:
    """The floor over the configured shops (sandbox URLs already in ``config``): CPU per order listed."""
    import httpx

    from syncd.http import build_client

    http: httpx.Client = build_client(config.global_.http)
    ctx = AdapterContext(http=http, tokens=MemoryTokens(), data_dir=data_dir)
    per_shop: dict[str, dict[str, int]] = {}
    cpu0, t0 = _cpu(), time.monotonic()
    try:
        for sid, shop in config.shops.items():
            if shops is not None and sid not in shops:
                continue
            adapter = STOREFRONTS[shop.platform].factory(shop, ctx)
            try:
                window = min(timedelta(minutes=shop.pull.window_minutes), adapter.max_window)
                lookback = timedelta(hours=shop.pull.first_lookback_hours)
                per_shop[sid] = run_shop(adapter, lookback, window)
                aside, aside_wall = _cpu(), time.monotonic()  # counted for the refund floor, not timed
                per_shop[sid]["refunded"] = refunded_orders(adapter, lookback, window)
                cpu0 += _cpu() - aside
                t0 += time.monotonic() - aside_wall
            finally:
                adapter.close()
    finally:
        http.close()
    cpu, wall = _cpu() - cpu0, time.monotonic() - t0
    listed = sum(s["listed"] for s in per_shop.values())
    return {"orders": listed, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 3),
            "cpu_ms_per_order": round(cpu * 1000 / max(listed, 1), 3),
            "calls": {f"{system} {api}": n for (system, api), n in sorted(ctx.stats.calls.items())},
            "shops": per_shop}
