"""The stock benchmark: 10,000 SKUs across three shops, one full pass, a second pass after 5 % of the suppliers'
figures changed, and the time from a supplier going to zero to the storefronts showing zero.

The storefronts are in-memory stand-ins with each platform's batch rule (Douyin 50 SKUs across products a call,
Pinduoduo one, Taobao 20 of one item) and a fixed cost per call: what is measured is the engine (its database work,
its batching), not a simulator. The real adapters against the simulators are the end-to-end tests' business.

Figures:

- calls per changed SKU against the floor (the fewest calls the platform's batch rule allows for exactly the
  changed SKUs: changed SKUs only, full batches);
- CPU milliseconds per SKU of the full pass and of the changed-5 % pass (this process);
- zero latency: supplier push recorded → storefront shows 0, through the real ``stock_due`` job on its interval,
  95th percentile, against the stock interval.

``run_stock_bench()`` returns the figures; the bench helper / the lead wires ``syncd bench --stock``.
"""

from __future__ import annotations

import math
import random
import resource
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.config.loader import Config
from syncd.config.models import GlobalConfig, Route, ShopConfigBase, ShopStock, SupplierConfigBase
from syncd.stock import catalog, engine, intake, stage
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult, SupplierStock
from syncd.store.db import open_database
from syncd.store.migrate import upgrade

# platform → (SKUs a call, one product a call)
BATCH_RULES = {"douyin": (50, False), "pdd": (1, False), "taobao": (20, True)}
SKUS_PER_PRODUCT = 4


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class BenchFront:
    """A storefront with a platform's batch rule: counts calls, keeps what was written and when."""

    def __init__(self, platform: str, listing: list[ListingSku]) -> None:
        self.platform = platform
        self.stock_batch_limit, self.batch_within_product = BATCH_RULES[platform]
        self.listing = listing
        self.calls = 0
        self.shown: dict[str, int] = {}
        self.zero_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def list_catalog(self) -> Iterator[ListingSku]:
        yield from self.listing

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        if len(writes) > self.stock_batch_limit or (
                self.batch_within_product and len({w.product_id for w in writes}) > 1):
            raise AssertionError(f"{self.platform}: a batch the platform would refuse")
        now = time.monotonic()
        with self._lock:
            self.calls += 1
            for w in writes:
                self.shown[w.sku_id] = w.quantity
                if w.quantity == 0:
                    self.zero_at.setdefault(w.sku_id, now)
        return [StockWriteResult(w.sku_id, ok=True) for w in writes]


class BenchSource:
    """An API supplier answering from a dict (reads are not what is measured)."""

    kind = "bench"

    def __init__(self, figures: dict[str, tuple[int, int]]) -> None:
        self.figures = figures

    def read_stock(self, supplier_skus: Sequence[str]) -> Any:
        from syncd.stockmodel import StockReadResult

        return StockReadResult([SupplierStock(s, *self.figures[s]) for s in supplier_skus if s in self.figures])

    def parse_stock_push(self, headers: Any, body: bytes, now: Any) -> list[SupplierStock]:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class BenchRuntime:
    """The few runtime fields the stock engine reads."""

    db: Any
    config: Config
    storefronts: dict[str, Any]
    api_suppliers: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    holder: str = "bench"
    suppliers: dict[str, Any] = field(default_factory=dict)
    metrics: Any = None


def floor_calls(changed: dict[str, list[ListingSku]]) -> int:
    """The fewest write calls each platform's batch rule allows for these changed SKUs."""
    total = 0
    for platform, items in changed.items():
        limit, per_product = BATCH_RULES[platform]
        if per_product:
            per: dict[str, int] = {}
            for it in items:
                per[it.product_id] = per.get(it.product_id, 0) + 1
            total += sum(math.ceil(n / limit) for n in per.values())
        else:
            total += math.ceil(len(items) / limit)
    return total


def _world(skus: int, db_url: str) -> tuple[BenchRuntime, dict[str, BenchFront], BenchSource]:
    rng = random.Random(19)  # noqa: S311 - made-up figures, not secrets
    routes = {f"M-{i:05d}": Route(sku=f"M-{i:05d}", supplier="factory", supplier_sku=f"F-{i:05d}",
                                  multiplier=1 + (i % 3 == 0)) for i in range(skus)}
    figures = {f"F-{i:05d}": (rng.randint(1, 900), rng.randint(500, 5000)) for i in range(skus)}
    source = BenchSource(figures)
    fronts: dict[str, BenchFront] = {}
    shops: dict[str, ShopConfigBase] = {}
    per_shop = math.ceil(skus / len(BATCH_RULES))
    codes = sorted(routes)
    for n, platform in enumerate(BATCH_RULES):
        mine = codes[n * per_shop:(n + 1) * per_shop]
        listing = [ListingSku(f"{platform}-P{j // SKUS_PER_PRODUCT}", f"{platform}-S{j}", code, "", True, 100,
                              9900, 0) for j, code in enumerate(mine)]
        fronts[f"{platform}-shop"] = BenchFront(platform, listing)
        shops[f"{platform}-shop"] = ShopConfigBase(id=f"{platform}-shop", platform=platform,
                                                   base_url="http://bench.invalid",
                                                   stock=ShopStock(enabled=True, buffer=2, max=500))
    suppliers = {"factory": SupplierConfigBase(id="factory", kind="bench")}
    db = open_database(db_url)
    upgrade(db)
    config = Config(Path("."), GlobalConfig(), shops, suppliers, routes)
    return BenchRuntime(db, config, dict(fronts), {"factory": source}), fronts, source


def run_stock_bench(skus: int = 10_000, *, changed_share: float = 0.05, zero_events: int = 20,
                    due_interval: float = 1.0, db_url: str | None = None) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict (see the module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="syncd-stock-bench-") as tmp:
        rt, fronts, source = _world(skus, db_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        for shop_id, front in fronts.items():
            catalog.sync_shop(rt, shop_id, front)
        cpu, wall = _cpu(), time.monotonic()
        first = engine.run_pass(rt)
        full_cpu, full_wall = _cpu() - cpu, time.monotonic() - wall
        calls_full = sum(f.calls for f in fronts.values())
        floor_full = floor_calls({f.platform: f.listing for f in fronts.values()})
        # 5 % of the figures move: only those SKUs are written again
        rng = random.Random(7)  # noqa: S311 - made-up figures, not secrets
        moved = rng.sample(sorted(source.figures), int(len(source.figures) * changed_share))
        for sku in moved:
            q, p = source.figures[sku]
            source.figures[sku] = (q + 10, p)
        before = {k: f.calls for k, f in fronts.items()}
        cpu, wall = _cpu(), time.monotonic()
        second = engine.run_pass(rt)
        delta_cpu, delta_wall = _cpu() - cpu, time.monotonic() - wall
        calls_delta = sum(f.calls - before[k] for k, f in fronts.items())
        rewritten = {(p.shop_id, p.sku_id) for p in second.plans}  # the moved SKUs whose shown figure changed
        floor_delta = floor_calls({f.platform: [it for it in f.listing if (shop, it.sku_id) in rewritten]
                                   for shop, f in fronts.items()})
        latencies = _zero_latency(rt, fronts, zero_events, due_interval)
        rt.db.dispose()
    p95 = sorted(latencies)[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else float("nan")
    return {
        "skus": skus, "shops": len(fronts), "written_full": first.written, "written_delta": second.written,
        "calls_full": calls_full, "floor_full": floor_full, "calls_delta": calls_delta, "floor_delta": floor_delta,
        "calls_vs_floor_full": round(calls_full / max(floor_full, 1), 3),
        "calls_vs_floor_delta": round(calls_delta / max(floor_delta, 1), 3),
        "cpu_ms_per_sku_full": round(full_cpu * 1000 / max(skus, 1), 4),
        "cpu_ms_per_sku_delta": round(delta_cpu * 1000 / max(skus, 1), 4),
        "wall_s_full": round(full_wall, 3), "wall_s_delta": round(delta_wall, 3),
        "zero_latency_p95_s": round(p95, 3), "zero_latency_max_s": round(max(latencies, default=float("nan")), 3),
        "due_interval_s": due_interval, "zero_events": len(latencies),
    }


def _zero_latency(rt: BenchRuntime, fronts: dict[str, BenchFront], events: int, interval: float) -> list[float]:
    """Pushes of zero at random moments while the ``stock_due`` job runs on its interval in a thread."""
    from syncd.stages.runner import StageReport

    if events <= 0:
        return []
    stop = threading.Event()

    def due_job() -> None:
        while not stop.wait(interval):
            stage.run_due(rt, StageReport("stock_due"))

    worker = threading.Thread(target=due_job, name="bench-stock-due", daemon=True)
    worker.start()
    rng = random.Random(3)  # noqa: S311 - made-up timings, not secrets
    codes = rng.sample(sorted(rt.config.routes), events)
    where = {it.merchant_code: (f, it.sku_id) for f in fronts.values() for it in f.listing}
    pushed: dict[str, float] = {}
    try:
        for code in codes:
            time.sleep(rng.uniform(0, interval))
            with rt.db.begin() as s:
                intake.record(s, "factory", [SupplierStock(rt.config.routes[code].supplier_sku, 0)], intake.PUSH)
            pushed[code] = time.monotonic()
        deadline = time.monotonic() + 10 * interval + 10
        while time.monotonic() < deadline and not all(where[c][1] in where[c][0].zero_at for c in codes):
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    return [where[c][0].zero_at[where[c][1]] - pushed[c] for c in codes if where[c][1] in where[c][0].zero_at]


def render(figures: dict[str, Any]) -> str:
    """The figures as the operator reads them."""
    return "\n".join([
        f"stock bench: {figures['skus']} SKUs across {figures['shops']} shops",
        f"  full pass: {figures['written_full']} written in {figures['calls_full']} calls "
        f"(floor {figures['floor_full']}, {figures['calls_vs_floor_full']}x), "
        f"{figures['cpu_ms_per_sku_full']} ms CPU per SKU, {figures['wall_s_full']} s",
        f"  5% changed: {figures['written_delta']} written in {figures['calls_delta']} calls "
        f"(floor {figures['floor_delta']}, {figures['calls_vs_floor_delta']}x), "
        f"{figures['cpu_ms_per_sku_delta']} ms CPU per SKU, {figures['wall_s_delta']} s",
        f"  supplier zero -> storefront zero: p95 {figures['zero_latency_p95_s']} s, max "
        f"{figures['zero_latency_max_s']} s over {figures['zero_events']} pushes (stock_due every "
        f"{figures['due_interval_s']} s)"])


def main(args: Any) -> int:
    """``syncd bench --stock SKUS`` (``--postgres URL``, ``--json FILE`` as for the order bench)."""
    import json

    figures = run_stock_bench(int(args.stock), db_url=getattr(args, "postgres", None))
    print(render(figures))
    out = getattr(args, "json_file", None)
    if out:
        Path(out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # python -m syncd.stock.bench
    print(render(run_stock_bench()))
