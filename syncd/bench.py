"""``syncd bench``: the daemon's stages against the sandbox (in its own process) with N orders.

Prints end-to-end orders per second, CPU milliseconds per order (this process only; the simulators run in
another), peak RSS, HTTP calls per order by API, and database statements per order.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from syncd.config.loader import Config
from syncd.daemon import run_daemon
from syncd.runtime import build_runtime
from syncd.sandboxrun import (
    SANDBOX_SUPPLIERS,
    copy_sandbox_config,
    load_sandbox_config,
    progress,
    supplier_dirs,
    total_orders,
    unsettled,
)
from syncd.settings import Settings
from syncd.store.db import open_database
from syncd.store.migrate import upgrade


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _start_sandbox(orders: int, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "adapters.sandbox", "serve", "--port", "0", "--orders", str(orders),
           "--seed", "3", "--fault-rate", "0.002", "--reply-delay", "0.2", "--bad-row-rate", "0",
           "--release-after", "0", "--span-hours", "24"]
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


def _bench_config(config: Config) -> Config:
    """The sandbox setup with an operator's pull cadence: pull every 20 s, re-reading 2 minutes of overlap
    (the sandbox's 3 s / 5 min would re-read every order a hundred times)."""
    g = config.global_
    config.global_ = g.model_copy(update={"intervals": g.intervals.model_copy(update={"pull": 20.0})})
    config.shops = {sid: shop.model_copy(update={"pull": shop.pull.model_copy(update={"overlap_minutes": 2})})
                    for sid, shop in config.shops.items()}
    return config


def run_bench(orders: int, db_url: str | None = None, time_limit: float = 600) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        sandbox, url = _start_sandbox(orders, data_dir)
        try:
            config_dir = copy_sandbox_config(root / "config")
            config = _bench_config(load_sandbox_config(config_dir, url))
            settings = Settings(config_dir=config_dir, data_dir=data_dir, database_url=db_url)
            db = open_database(settings.db_url())
            upgrade(db)
            rt = build_runtime(settings, config, db)
            db.statements.count = 0
            cpu0, t0 = _cpu(), time.monotonic()

            checked = [0.0]

            def done() -> bool:
                # Every 2 s, and only indexed counts: the check must not cost what it measures.
                if time.monotonic() - checked[0] < 2.0:
                    return False
                checked[0] = time.monotonic()
                return (unsettled(db) == 0 and total_orders(db) >= orders) or time.monotonic() - t0 > time_limit

            run_daemon(rt, install_signals=False, until=done)
            wall, cpu = time.monotonic() - t0, _cpu() - cpu0
            p = progress(db)
            calls = {api: n for (_system, api), n in sorted(rt.stats.calls.items())}
            errors = {f"{api} {kind}": n for (_s, api, kind), n in sorted(rt.stats.errors.items())}
            statements = db.statements.count
            rt.close()
            db.dispose()
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=15)
    handled = p.total
    return {
        "orders": orders, "pulled": p.total, "shipped": p.shipped, "held": p.held, "cancelled": p.cancelled,
        "left_unsettled": p.new + p.routed + p.placed, "wall_seconds": round(wall, 2),
        "orders_per_second": round(handled / wall, 1),
        "cpu_ms_per_order": round(cpu * 1000 / max(handled, 1), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "http_calls": calls, "http_calls_per_order": {k: round(v / max(handled, 1), 4) for k, v in calls.items()},
        "http_errors": errors, "db_statements": statements,
        "db_statements_per_order": round(statements / max(handled, 1), 2),
        "database": "postgresql" if db_url and db_url.startswith("postgres") else "sqlite",
    }


def main(args: argparse.Namespace) -> int:
    orders = 100_000 if args.large else int(args.orders)
    print(f"syncd bench: {orders} orders, 1 Douyin shop, 2 drop-folder suppliers "
          f"({'PostgreSQL' if args.postgres else 'SQLite'})", flush=True)
    r = run_bench(orders, args.postgres, time_limit=3600 if args.large else 600)
    print(json.dumps(r, ensure_ascii=False, indent=2))
    print(f"\n{r['orders_per_second']} orders/s end to end ({r['wall_seconds']} s), {r['cpu_ms_per_order']} ms CPU "
          f"per order, peak RSS {r['peak_rss_mb']} MB, {r['db_statements_per_order']} DB statements per order")
    return 0 if r["left_unsettled"] == 0 else 1
