"""``syncd bench``: the daemon against the sandbox (its simulators in their own process), three shops.

Prints end-to-end orders per second, CPU milliseconds per order (this process only; and by stage), peak RSS, HTTP calls
per order by platform and API, and database statements per order. ``--rate-limited`` switches on each
simulator's per-API flow control and runs the daemon on its default budgets: it reports the throughput
reached against each budget and how many flow-control refusals the daemon triggered (the aim is none).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncd import bench_results, clock
from syncd.bench_calls import ShopWork, SupplierWork, Workload, floor_table, format_table, poll_floor
from syncd.bench_seed import seed_orders
from syncd.config.loader import Config
from syncd.config.models import Route
from syncd.daemon import run_daemon
from syncd.process import tune_for_daemon
from syncd.runtime import build_runtime
from syncd.sandboxrun import (
    SANDBOX_SUPPLIERS,
    Progress,
    copy_sandbox_config,
    load_sandbox_config,
    supplier_dirs,
    total_orders,
    unsettled,
)
from syncd.settings import Settings
from syncd.store.db import open_database
from syncd.store.migrate import upgrade

PLATFORMS = ("douyin", "pdd", "taobao")
FLOW_CONTROL_CODES = {"douyin": "60000", "pdd": "70031", "taobao": "7"}  # what each simulator answers


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _start_sandbox(per_shop: int, data_dir: Path, rate_limited: bool, platforms: tuple[str, ...],
                   extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "syncd.adapters.sandbox", "serve", "--port", "0", "--orders", str(per_shop),
           "--seed", "3", "--fault-rate", "0" if rate_limited else "0.002", "--reply-delay", "0.2",
           "--bad-row-rate", "0", "--release-after", "0", "--span-hours", "24", "--platforms", ",".join(platforms)]
    if rate_limited:
        cmd.append("--api-qps")
    cmd += extra
    for sid, fmt, enc in SANDBOX_SUPPLIERS:
        outbox, inbox = supplier_dirs(data_dir, sid)
        cmd += ["--supplier", f"{sid}:{outbox}:{inbox}:{fmt}:{enc}"]
    # our own interpreter running our own module with arguments built here: nothing untrusted
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,  # noqa: S603
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("sandbox listening on "):
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1]


def _file_suppliers_only(config: Config) -> None:
    """Every SKU to the drop-folder supplier the sandbox catalogue names: the workload the core was first
    measured on, to tell a regression of the core from the cost of API suppliers."""
    seed: Any = importlib.import_module("syncd.adapters.sandbox.seed")
    config.routes = {code: Route(sku=code, supplier=item.supplier, supplier_sku=item.supplier_sku,
                                 multiplier=item.multiplier, cost=seed.PRICES[code][1])
                     for code, item in seed.CATALOG.items()}
    config.suppliers = {sid: sup for sid, sup in config.suppliers.items() if sup.kind == "file"}


def _bench_config(config: Config, rate_limited: bool, platforms: tuple[str, ...],
                  file_only: bool = False) -> Config:
    """The sandbox setup with an operator's pull cadence: pull every 20 s with 2 minutes of overlap (the
    sandbox's 3 s / 5 min are for a demo that ends in a minute). Rate-limited: the adapters' own default
    budgets, not the sandbox's generous overrides."""
    g = config.global_
    # API suppliers asked about open orders every 15 s. Parcel tracking and the alert rules have their own
    # benchmark (``syncd bench --tracking N``): here the watch stage runs at its production cadence and no
    # parcel is tracked, so the figures stay those of the order flow.
    config.global_ = g.model_copy(update={"intervals": g.intervals.model_copy(update={"pull": 20.0, "watch": 60.0}),
                                          "supplier_poll_minutes": 0.25})
    config.tracking = None
    if file_only:
        _file_suppliers_only(config)
    config.shops = {sid: shop.model_copy(update={
        "pull": shop.pull.model_copy(update={"overlap_minutes": 2}),
        **({"rate_limits": {}} if rate_limited else {})}) for sid, shop in config.shops.items()
        if shop.platform in platforms}
    return config


def _sandbox_state(url: str, platforms: tuple[str, ...]) -> dict[str, Any]:
    import httpx

    out = {}
    for p in platforms:
        r = httpx.get(f"{url}/{p}/_sandbox/state", timeout=10)
        out[p] = r.json() if r.status_code == 200 else {}
    return out


def workload(db: Any, config: Config, wall: float, since: Any = None) -> Workload:
    """What the run's orders needed, read back from the database (orders with an id above ``since`` only)."""
    from sqlalchemy import func, select

    from syncd.store.models import Order, Shipment, SupplierOrder

    g = config.global_
    work = Workload(wall_seconds=wall, pull_seconds=float(g.intervals.pull),
                    lookback_hours=max((float(shop.pull.first_lookback_hours) for shop in config.shops.values()),
                                       default=0.0))
    platform_of = {sid: str(shop.platform) for sid, shop in config.shops.items()}
    kind_of = {sid: str(sup.kind) for sid, sup in config.suppliers.items()}
    low = int(since or 0)
    with db.read() as s:
        for sid, n in s.execute(select(Order.shop_id, func.count()).where(Order.id > low)
                                .group_by(Order.shop_id)).all():
            plat = platform_of.get(sid, sid)
            work.shops.setdefault(plat, ShopWork()).orders += int(n)
            work.shops_per_platform[plat] = work.shops_per_platform.get(plat, 0) + 1
        for sid, n in s.execute(select(Order.shop_id, func.count(func.distinct(SupplierOrder.order_id)))
                                .select_from(SupplierOrder).join(Order, Order.id == SupplierOrder.order_id)
                                .where(Order.id > low, SupplierOrder.placed_at.is_not(None))
                                .group_by(Order.shop_id)).all():
            work.shops.setdefault(platform_of.get(sid, sid), ShopWork()).decrypted += int(n)
        uploaded = (select(Order.shop_id, func.count(), func.count(func.distinct(Shipment.order_id)))
                    .select_from(Shipment).join(Order, Order.id == Shipment.order_id)
                    .where(Order.id > low, Shipment.writeback_state == "uploaded").group_by(Order.shop_id))
        for sid, n, orders in s.execute(uploaded).all():
            shop_work = work.shops.setdefault(platform_of.get(sid, sid), ShopWork())
            shop_work.parcels += int(n)
            shop_work.shipped_orders += int(orders)
        api = [sid for sid, kind in kind_of.items() if kind != "file"]
        end = clock.now()
        interval = float(g.supplier_poll_minutes) * 60
        rows = s.execute(select(SupplierOrder.supplier_id, SupplierOrder.placed_at, SupplierOrder.shipped_at,
                                SupplierOrder.state)
                         .where(SupplierOrder.supplier_id.in_(api), SupplierOrder.order_id > low,
                                SupplierOrder.placed_at.is_not(None))).all()
    for sup_id, placed, shipped, state in rows:
        w = work.suppliers.setdefault(kind_of[sup_id], SupplierWork())
        w.sent += 1
        done = state == "shipped"
        w.shipped += done
        w.poll_floor += poll_floor([((shipped or end) - placed).total_seconds()], interval, [done])
    return work


def run_floor_line(per_shop: int, root: Path, rate_limited: bool, platforms: tuple[str, ...],
                   file_only: bool) -> dict[str, Any]:
    """The bare client (syncd.bench_floor) against a fresh sandbox holding the same orders as the bench's."""
    from syncd.bench_floor import run_floor

    data_dir = root / "floor-data"
    sandbox, url = _start_sandbox(per_shop, data_dir, rate_limited, platforms)
    try:
        config = _bench_config(load_sandbox_config(copy_sandbox_config(root / "floor-config"), url), rate_limited,
                               platforms, file_only)
        return run_floor(config, data_dir)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=15)


def add_floor(result: dict[str, Any], floor: dict[str, Any]) -> None:
    """The floor's figures and syncd's CPU per order as a multiple of it (in all, and storefront stages alone)."""
    result["floor"] = floor
    f = floor["cpu_ms_per_order"]
    result["floor_cpu_ms_per_order"] = f
    if f > 0:
        result["cpu_multiple_of_floor"] = round(result["cpu_ms_per_order"] / f, 2)
        by_stage = result.get("cpu_ms_per_order_by_stage", {})
        storefront = by_stage.get("pull", 0.0) + by_stage.get("writeback", 0.0)
        result["storefront_multiple_of_floor"] = round(storefront / f, 2)


@contextmanager
def _fresh_schema(db_url: str | None) -> Iterator[str | None]:
    """PostgreSQL: each run in a schema of its own (created, then dropped), so runs never see each other's
    orders. SQLite: the run's own file in its temporary directory (``None``)."""
    if not db_url or not db_url.startswith("postgres"):
        yield db_url
        return
    from sqlalchemy import text

    schema = f"bench_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = open_database(db_url)
    try:
        with admin.engine.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in db_url else "?"
        try:
            yield f"{db_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.engine.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def _progress(db: Any, base: int) -> Progress:
    """The run's own orders (ids above ``base``) by state; the same figures as sandboxrun.progress."""
    from sqlalchemy import func, select

    from syncd.store.models import Order

    with db.read() as s:
        states = dict(s.execute(select(Order.state, func.count()).where(Order.id > base).group_by(Order.state)).all())
    return Progress(sum(states.values()), states.get("new", 0), states.get("routed", 0), states.get("placed", 0),
                    states.get("shipped", 0), states.get("held", 0),
                    states.get("cancelled", 0) + states.get("skipped", 0), 0, 0)


def _by_shop(db: Any, base: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from syncd.store.models import Order

    with db.read() as s:
        return {str(k): int(n) for k, n in s.execute(select(Order.shop_id, func.count()).where(Order.id > base)
                                                     .group_by(Order.shop_id)).all()}


def _at_api_suppliers(db: Any, suppliers: list[str], base: int) -> dict[str, int]:
    """Supplier orders of the run's orders at each API supplier."""
    from sqlalchemy import func, select

    from syncd.store.models import SupplierOrder

    out = dict.fromkeys(suppliers, 0)
    if suppliers:
        with db.read() as s:
            for sid, n in s.execute(select(SupplierOrder.supplier_id, func.count())
                                    .where(SupplierOrder.supplier_id.in_(suppliers), SupplierOrder.order_id > base)
                                    .group_by(SupplierOrder.supplier_id)).all():
                out[str(sid)] = int(n)
    return out


def run_bench(orders: int, db_url: str | None = None, time_limit: float = 600,
              rate_limited: bool = False, platforms: tuple[str, ...] = PLATFORMS,
              file_only: bool = False, floor: bool = True, seed: int = 0,
              seed_from: Path | None = None) -> dict[str, Any]:
    """One run of the daemon over ``orders`` sandbox orders. ``seed``: that many finished orders of history are
    in the database first (copied from the SQLite file ``seed_from`` when given, else seeded now); the figures
    are those of the new orders alone."""
    per_shop = math.ceil(orders / len(platforms))
    expected = per_shop * len(platforms)
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, _fresh_schema(db_url) as db_url:
        root = Path(tmp)
        data_dir = root / "data"
        sandbox, url = _start_sandbox(per_shop, data_dir, rate_limited, platforms)
        try:
            config_dir = copy_sandbox_config(root / "config")
            config = _bench_config(load_sandbox_config(config_dir, url), rate_limited, platforms, file_only)
            settings = Settings(config_dir=config_dir, data_dir=data_dir, database_url=db_url)
            if seed_from is not None and not db_url:
                data_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(seed_from, data_dir / "syncd.db")  # a seeded history, copied: each run its own
            db = open_database(settings.db_url())
            upgrade(db)
            if seed and seed_from is None:
                seed_orders(db, seed, report=lambda done, secs: print(f"  seeded {done:,} of {seed:,} ({secs:.0f} s)",
                                                                      flush=True))
            base = total_orders(db)  # the history's last id: the run's orders come after it
            expected_last = base + expected
            rt = build_runtime(settings, config, db)
            tune_for_daemon()  # as ``syncd run`` does
            db.statements.count = 0
            cpu0, t0 = _cpu(), time.monotonic()
            checked = [0.0]

            def done() -> bool:
                # Every 2 s, and only indexed counts: the check must not cost what it measures.
                if time.monotonic() - checked[0] < 2.0:
                    return False
                checked[0] = time.monotonic()
                finished = unsettled(db) == 0 and total_orders(db) >= expected_last
                return finished or time.monotonic() - t0 > time_limit

            run_daemon(rt, install_signals=False, until=done)
            wall, cpu = time.monotonic() - t0, _cpu() - cpu0
            # The daemon's peak, taken before the harness reads its own figures (the simulators' state
            # lists every shipment: decoding it would cost more memory than the daemon's busiest moment).
            peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            p = _progress(db, base)
            by_shop = _by_shop(db, base)
            state = _sandbox_state(url, platforms) if rate_limited else {}
            rates = rt.limiter.rates()
            peak = {key: rt.stats.peak_rate(*key) for key in rt.stats.calls}
            calls = dict(rt.stats.calls)
            at_supplier = _at_api_suppliers(db, list(rt.api_suppliers), base)
            kinds = {sid: str(config.suppliers[sid].kind) for sid in at_supplier}
            statements = db.statements.count
            stage_cpu = rt.metrics.cpu_seconds()
            work = workload(db, config, wall, since=base)
            rt.close()
            db.dispose()
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=15)
        floor_figures = run_floor_line(per_shop, root, rate_limited, platforms, file_only) if floor else None
    for sid, figures in (floor_figures or {}).get("shops", {}).items():
        if sid in config.shops and str(config.shops[sid].platform) in work.shops:
            work.shops[str(config.shops[sid].platform)].lookback_refunds += int(figures.get("refunded", 0))
    handled = p.total
    per_platform: dict[str, dict[str, float]] = {}
    other: dict[str, int] = {}
    for (system, api), n in sorted(calls.items()):
        if f"{system}-demo" in by_shop:  # a storefront: per order of that shop
            per_platform.setdefault(system, {})[api] = round(n / by_shop[f"{system}-demo"], 4)
        elif sent := sum(k for sid, k in at_supplier.items() if kinds[sid] == system):
            per_platform.setdefault(system, {})[api] = round(n / sent, 4)  # an API supplier: per supplier order
        else:
            other[f"{system} {api}"] = n  # alert channels and the like: totals
    result: dict[str, Any] = {
        "orders": expected, "shops": len(platforms), "pulled": p.total, "shipped": p.shipped, "held": p.held,
        "cancelled": p.cancelled, "left_unsettled": p.new + p.routed + p.placed, "wall_seconds": round(wall, 2),
        "orders_per_second": round(handled / wall, 1),
        "cpu_ms_per_order": round(cpu * 1000 / max(handled, 1), 3),
        # Where it went: each stage's runs, and the rest (scheduler, memory release, the harness's checks).
        "cpu_ms_per_order_by_stage": {**{name: round(secs * 1000 / max(handled, 1), 3)
                                         for name, secs in sorted(stage_cpu.items())},
                                      "other": round((cpu - sum(stage_cpu.values())) * 1000 / max(handled, 1), 3)},
        "peak_rss_mb": round(peak_rss_mb, 1),
        "http_calls_per_order": per_platform,
        "supplier_orders_at_api_suppliers": at_supplier,
        "other_calls": other,
        "db_statements_per_order": round(statements / max(handled, 1), 2),
        "database": "postgresql" if db_url and db_url.startswith("postgres") else "sqlite",
        "calls_vs_floor": floor_table(calls, work),
    }
    if floor_figures is not None:
        add_floor(result, floor_figures)
    if rate_limited:
        result["flow_control_refusals"] = {p: state.get(p, {}).get("errors", {}).get(FLOW_CONTROL_CODES[p], 0)
                                           for p in platforms}
        budgets = {}
        for key, rate in sorted(rates.items()):
            platform, _shop, api = key.split(":", 2)
            n = calls.get((platform, api), 0)
            # Only APIs with enough work to fill their budget for 10 s tell whether the daemon can use it.
            if n >= rate * 10 and n >= 50:
                reached = peak[(platform, api)]
                budgets[f"{platform} {api}"] = {"calls": n, "budget_per_s": rate,
                                                "peak_10s_per_s": round(reached, 2),
                                                "share_of_budget": round(reached / rate, 3)}
        result["budgets"] = budgets
    return result


def main(args: argparse.Namespace) -> int:
    if getattr(args, "seed_only", False):
        from syncd.bench_seed import seed_only

        return seed_only(args)
    if getattr(args, "fleet", None) and getattr(args, "replicas", None):
        from syncd import bench_replicas

        load = _load()
        code = bench_replicas.main(args)
        finish(args, {"fleet": args.fleet, "orders": args.orders, "replicas": args.replicas,
                      "latency": bench_replicas.LAST.get("latency_seconds")}, bench_replicas.LAST, load)
        return code
    if getattr(args, "fleet", None):
        from syncd import bench_fleet

        load = _load()
        fleet = bench_fleet.main(args)
        finish(args, {"fleet": args.fleet, "orders": args.orders, "slow_shop": bool(args.slow_shop),
                      "failing_shop": bool(args.failing_shop)}, bench_fleet.LAST, load)
        return fleet
    orders = 100_000 if args.large else int(args.orders)
    rate_limited = bool(getattr(args, "rate_limited", False))
    file_only = bool(getattr(args, "file_suppliers_only", False))
    platforms = tuple(p for p in str(getattr(args, "shops", ",".join(PLATFORMS))).split(",") if p)
    unknown = set(platforms) - set(PLATFORMS)
    if unknown:
        raise SystemExit(f"syncd bench: --shops takes {', '.join(PLATFORMS)}; found {', '.join(sorted(unknown))}")
    print(f"syncd bench: {orders} orders over {len(platforms)} shop(s) ({', '.join(platforms)}), "
          f"{'2 file suppliers' if file_only else '2 file and 2 API suppliers'} "
          f"({'PostgreSQL' if args.postgres else 'SQLite'}{', platform rate limits on' if rate_limited else ''})",
          flush=True)
    load_at_start = _load()
    limit = 3600 if args.large or rate_limited else 900
    r = run_bench(orders, args.postgres, time_limit=limit, rate_limited=rate_limited, platforms=platforms,
                  file_only=file_only)
    _print_run(r)
    work = {"orders": orders, "platforms": list(platforms), "file_suppliers_only": file_only,
            "rate_limited": rate_limited, "database": r["database"]}
    seed = int(getattr(args, "seed_orders", None) or 0)
    if seed > 0:
        r = seeded_run(args, r, seed, orders, limit, rate_limited, platforms, file_only)
        work["seeded_orders"] = seed
    core = int(getattr(args, "against_core", None) or 0)
    if core > 0:
        r = against_core(args, r, core, limit)
        work["core_orders"] = core
    finish(args, work, r, load_at_start)
    return 0 if r["left_unsettled"] == 0 else 1


SEEDED_KEEP = ("wall_seconds", "cpu_ms_per_order", "cpu_ms_per_order_by_stage", "peak_rss_mb",
               "db_statements_per_order", "left_unsettled")


def seeded_run(args: argparse.Namespace, empty: dict[str, Any], seed: int, orders: int, limit: float,
               rate_limited: bool, platforms: tuple[str, ...], file_only: bool) -> dict[str, Any]:
    """The same workload again on a database holding ``seed`` finished orders; the figures of both side by side
    and the CPU per new order seeded against empty (the aim: at most 1.2x)."""
    seed_from = Path(args.seed_from) if getattr(args, "seed_from", None) else None
    with tempfile.TemporaryDirectory(prefix="syncd-bench-seed-") as tmp:
        if seed_from is None and not args.postgres:  # seeded once into a file each run then copies
            seed_from = Path(tmp) / "seeded.db"
            print(f"\nseeding {seed:,} finished orders (60 days) into {seed_from}", flush=True)
            from syncd.bench_seed import main as seed_main

            summary = seed_main(f"sqlite:///{seed_from}", seed)
            print(f"seeded in {summary.seconds:.0f} s", flush=True)
        print(f"\nthe same workload on a database holding {seed:,} finished orders", flush=True)
        r = run_bench(orders, args.postgres, time_limit=limit, rate_limited=rate_limited, platforms=platforms,
                      file_only=file_only, floor=False, seed=seed, seed_from=seed_from)
    _print_run(r)
    for key in ("floor", "floor_cpu_ms_per_order"):
        if key in empty:
            r[key] = empty[key]
    if r.get("floor_cpu_ms_per_order"):
        add_floor(r, r["floor"])
    r["seeded_orders"] = seed
    r["empty_database"] = {k: empty[k] for k in SEEDED_KEEP if k in empty}
    r["cpu_seeded_vs_empty"] = round(r["cpu_ms_per_order"] / max(empty["cpu_ms_per_order"], 1e-9), 2)
    r["left_unsettled"] = r["left_unsettled"] + empty["left_unsettled"]
    print(f"\nCPU per new order with {seed:,} stored orders: {r['cpu_ms_per_order']} ms against "
          f"{empty['cpu_ms_per_order']} ms on an empty database: {r['cpu_seeded_vs_empty']}x (aim: at most 1.2x)")
    return r


CORE_KEEP = ("orders", "wall_seconds", "cpu_ms_per_order", "cpu_ms_per_order_by_stage", "peak_rss_mb",
             "db_statements_per_order", "left_unsettled")


def against_core(args: argparse.Namespace, mix: dict[str, Any], orders: int, limit: float) -> dict[str, Any]:
    """Right after the run ``mix``, the workload the core was first measured on (Douyin alone, every SKU to the
    drop-folder suppliers, ``orders`` orders), measured the same way in the same process; the first run's CPU
    per order as a multiple of it (issue 20: at most 2x for the full mix)."""
    print(f"\nthe Douyin + drop-folder workload, {orders} orders, right after", flush=True)
    core = run_bench(orders, args.postgres, time_limit=limit, platforms=("douyin",), file_only=True, floor=False)
    _print_run(core)
    out = {**mix, "core": {k: core[k] for k in CORE_KEEP},
           "left_unsettled": mix["left_unsettled"] + core["left_unsettled"]}
    out["cpu_multiple_of_core"] = round(mix["cpu_ms_per_order"] / max(core["cpu_ms_per_order"], 1e-9), 2)
    print(f"\nCPU per order: {mix['cpu_ms_per_order']} ms against {core['cpu_ms_per_order']} ms for Douyin + drop "
          f"folder: {out['cpu_multiple_of_core']}x (aim for the full mix: at most 2x)")
    return out


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return -1.0


def _print_run(r: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in r.items() if k != "calls_vs_floor"}, ensure_ascii=False, indent=2))
    print("\nCalls against the floor (per order of the shop; per supplier order at API suppliers):")
    print(format_table(r["calls_vs_floor"]))
    print(f"\n{r['orders_per_second']} orders/s end to end ({r['wall_seconds']} s), {r['cpu_ms_per_order']} ms CPU "
          f"per order, peak RSS {r['peak_rss_mb']} MB, {r['db_statements_per_order']} DB statements per order")
    if "cpu_multiple_of_floor" in r:
        print(f"floor line (bare client: list, decrypt, ship; no database, no scheduler): "
              f"{r['floor_cpu_ms_per_order']} ms CPU per order; syncd {r['cpu_multiple_of_floor']}x the floor in all, "
              f"its pull and write-back {r['storefront_multiple_of_floor']}x")


def finish(args: argparse.Namespace, work: dict[str, Any], figures: dict[str, Any], load_at_start: float) -> None:
    """``--json FILE``: the run as a document (and its table for docs/benchmarks.md); ``--compare OLD``: the
    differences from an earlier one."""
    doc = bench_results.document(work, figures, load_at_start)
    if getattr(args, "json_file", None):
        bench_results.write(args.json_file, doc)
        print(f"\nwrote {args.json_file}; its table for docs/benchmarks.md:\n")
        print(bench_results.markdown(doc))
    if getattr(args, "compare", None):
        print()
        print(bench_results.format_compare(bench_results.load(args.compare), doc))
