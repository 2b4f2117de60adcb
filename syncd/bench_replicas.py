"""``syncd bench --fleet N --replicas R --postgres URL``: one daemon, then R, against a fleet whose APIs answer slowly.

When does a seller need a second replica? When the work is bound by the platforms' answer times, not by the CPU:
every call waits a round trip, and a second process makes a second set of calls at once. This bench measures it.
The sandbox serves N shops over the three platforms (``--orders`` in all), the two API suppliers and the two
drop-folder suppliers, and every API answer takes ``--latency`` seconds (0.25 s by default: a Chinese platform's
gateway seen from a small server). The sandbox's own generous rate limits stay on: what is measured is latency,
not a rate budget. The stages run at a busy deployment's cadence (:data:`INTERVALS`: pull every 5 s, the
stages after it every 2 s), not the demo's every second, and the shops' stock sync is off (it has a bench of its
own, ``syncd bench --stock``).

Each run gets a fresh schema in the ``--postgres`` database (dropped afterwards) and a fresh sandbox; the daemons
are separate ``syncd run`` processes, as a supervisor or ``docker compose up --scale syncd=R`` runs them: one
database, one shared data folder (the drop folders), each its own admin and callback port and instance name.
The wall time runs from the start of the daemons until every order is finished: stored, out of ``new`` /
``routed`` / ``placed`` and every parcel written back (or held for a person). The first run has one daemon, the
second R; the speed-up is the first wall time over the second.

Exactly once is checked from the simulators' own records, not the daemon's: no tracking number uploaded twice
to a storefront order, no order line created twice at 1688 or at the webhook supplier, no order line in two
batch files of a drop-folder supplier.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select, text

from syncd.bench_fleet import PLATFORMS, fleet_layout
from syncd.sandboxrun import SANDBOX_SUPPLIERS, copy_sandbox_config, supplier_dirs
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from syncd.store.models import AuditEntry, Order, Shipment

LATENCY = 0.25  # seconds per API answer by default
INTERVALS = {"pull": 5, "route": 2, "forward": 2, "collect": 2, "writeback": 2, "track": 60, "watch": 60,
             "stock": 600, "stock_due": 5}
LAST: dict[str, Any] = {}  # the figures of the last run (for --json)
TIMELINE_EVERY = 10  # seconds between two counts of the orders by state (where a run's wall time goes)


def schema_url(url: str, schema: str) -> str:
    """``url`` with ``schema`` first on the search path (each run its own tables in one database)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_fleet_config(config_dir: Path, shops: int) -> list[tuple[str, str, str]]:
    """The sandbox configuration with ``shops`` shop files (``shops/<id>.yaml``, each at its own simulator) in
    place of the three demo shops, and no parcel tracking (the bench ends at the write-back). Returns the
    layout (:func:`syncd.bench_fleet.fleet_layout`)."""
    copy_sandbox_config(config_dir)
    shop_dir = config_dir / "shops"
    base = {p: yaml.safe_load((shop_dir / f"{p}-demo.yaml").read_text(encoding="utf-8")) for p in PLATFORMS}
    for path in shop_dir.glob("*.y*ml"):
        path.unlink()
    for name in ("tracking.yaml", "tracking.yml"):
        (config_dir / name).unlink(missing_ok=True)
    # The stages' cadence of a busy deployment, not the demo's every second: each idle scope run costs a
    # transaction, and on two shared cores that overhead (paid once per replica) would be what is measured
    settings_file = config_dir / "syncd.yaml"
    settings = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
    settings["intervals"] = {**settings.get("intervals", {}), **INTERVALS}
    settings_file.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    layout = fleet_layout(shops)
    for sid, platform, key in layout:
        # no stock sync: the bench measures the order flow (the stock pass has its own: syncd bench --stock)
        data = {**base[platform], "base_url": f"${{SYNCD_SANDBOX_URL}}/{key}",
                "stock": {**(base[platform].get("stock") or {}), "enabled": False}}
        (shop_dir / f"{sid}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                                              encoding="utf-8")
    return layout


def exported_lines(data_dir: Path) -> dict[tuple[str, str, str], list[str]]:
    """(drop-folder supplier, order number, supplier SKU) → the batch files in its outbox that line appears in
    (cancellation files left out): what the supplier received, read from the files themselves."""
    from openpyxl import load_workbook

    seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for sid, fmt, _enc in SANDBOX_SUPPLIERS:
        outbox, _inbox = supplier_dirs(data_dir, sid)
        for path in sorted(p for p in outbox.glob(f"*.{fmt}") if not p.stem.endswith("-cancel")):
            if path.suffix == ".xlsx":
                wb = load_workbook(path, read_only=True)
                try:
                    rows = [[str(c) if c is not None else "" for c in r]
                            for r in wb.worksheets[0].iter_rows(values_only=True)]
                finally:
                    wb.close()
            else:
                with path.open(encoding="gb18030", newline="") as fh:
                    rows = list(csv.reader(fh))
            header, body = rows[0], rows[1:]
            order, sku = header.index("订单号"), header.index("商品编码")
            for r in body:
                seen[(sid, r[order], r[sku])].add(path.name)
    return {k: sorted(v) for k, v in seen.items()}


def twice_at_simulators(url: str, layout: list[tuple[str, str, str]], data_dir: Path) -> dict[str, Any]:
    """What the simulators recorded more than once: tracking numbers uploaded twice to one storefront order,
    order lines created twice at 1688 or at the webhook supplier, order lines in two drop-folder batches.
    Also what they hold in all (storefront orders, uploads, supplier orders, exported lines)."""
    import httpx

    uploads_twice: dict[str, int] = {}
    storefront_orders = uploads = 0
    with httpx.Client(timeout=60) as http:
        for sid, _platform, key in layout:
            st = http.get(f"{url}/{key}/_sandbox/state").json()
            storefront_orders += int(st.get("orders_total", 0))
            for oid, ships in (st.get("shipments") or {}).items():
                uploads += len(ships)
                for number, n in Counter(s["tracking_no"] for s in ships).items():
                    if n > 1:
                        uploads_twice[f"{sid}/{oid}/{number}"] = n
        alibaba = http.get(f"{url}/1688/_sandbox/state").json()
        webhook = http.get(f"{url}/webhook-supplier/_sandbox/state").json()
    exported = exported_lines(data_dir)
    return {
        "storefront_orders": storefront_orders, "uploads": uploads, "uploaded_twice": uploads_twice,
        "created_at_1688": int(alibaba.get("orders_total", 0)), "created_twice_at_1688": alibaba.get("duplicates", {}),
        "created_at_webhook": int(webhook.get("orders_total", 0)),
        "created_twice_at_webhook": webhook.get("duplicates", {}),
        "webhook_key_conflicts": int((webhook.get("creates") or {}).get("conflict", 0)),
        "exported_lines": len(exported),
        "exported_twice": {"/".join(k): v for k, v in exported.items() if len(v) > 1},
    }


def _finished(db: Database, expected: int) -> tuple[bool, dict[str, int]]:
    """Every order stored, none still open, every parcel written back (or set aside); and the states (with
    ``writing``: the parcels still to write back)."""
    with db.read() as s:
        states = dict(s.execute(select(Order.state, func.count()).group_by(Order.state)).all())
        # a parcel of an order held for a person (a refund asked for after it left) waits for that person
        writing = s.scalar(select(func.count()).select_from(Shipment).join(Order, Order.id == Shipment.order_id)
                           .where(Shipment.writeback_state.in_(["pending", "uploading"]),
                                  Order.state.not_in(["held", "cancelled", "skipped"]))) or 0
    done = (sum(states.values()) >= expected and not any(states.get(k) for k in ("new", "routed", "placed"))
            and writing == 0)
    return done, {**{str(k): int(v) for k, v in states.items()}, "writing": int(writing)}


def _start_daemon(root: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    # our own interpreter running our own module; nothing untrusted. The child keeps its own handle on the log.
    with (root / f"{name}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "syncd.cli", "run"], cwd=root, env={
            **env, "SYNCD_INSTANCE": name, "SYNCD_ADMIN_PORT": str(_free_port()),
            "SYNCD_CALLBACK_PORT": str(_free_port())}, stdout=log, stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc; -1 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0


def run_once(pg_url: str, shops: int, orders: int, replicas: int, latency: float,
             time_limit: float = 900) -> dict[str, Any]:
    """One run: a fresh schema and sandbox, ``replicas`` daemons, until every order is finished."""
    from syncd.bench import _start_sandbox

    per_shop = math.ceil(orders / shops)
    per_platform = math.ceil(shops / len(PLATFORMS))
    schema = f"bench_replicas_{uuid.uuid4().hex[:10]}"
    admin = open_database(pg_url)
    with admin.engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(pg_url, schema)
    try:
        with tempfile.TemporaryDirectory(prefix="syncd-replicas-") as tmp:
            root = Path(tmp)
            data_dir = root / "data"
            layout = write_fleet_config(root / "config", shops)
            sandbox, sandbox_url = _start_sandbox(per_shop, data_dir, False, PLATFORMS, (
                "--shops-per-platform", str(per_platform), "--latency", str(latency)))
            db = open_database(url)
            procs: list[subprocess.Popen[bytes]] = []
            try:
                upgrade(db)
                env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
                env.update(SYNCD_CONFIG_DIR=str(root / "config"), SYNCD_DATA_DIR=str(data_dir),
                           SYNCD_DATABASE_URL=url, SYNCD_SANDBOX_URL=sandbox_url, SYNCD_LOG_LEVEL="WARNING",
                           SYNCD_ADMIN_HOST="127.0.0.1", SYNCD_CALLBACK_HOST="127.0.0.1")
                expected = per_shop * shops
                t0 = time.monotonic()
                procs = [_start_daemon(root, env, f"replica-{i + 1}") for i in range(replicas)]
                done, states = False, dict[str, int]()
                timeline: list[dict[str, Any]] = []  # the orders by state every TIMELINE_EVERY seconds
                while not done and time.monotonic() - t0 < time_limit:
                    for p in procs:
                        if p.poll() is not None:
                            tail = (root / f"replica-{procs.index(p) + 1}.log").read_text(errors="replace")[-3000:]
                            raise RuntimeError(f"a daemon died (exit {p.returncode}): {tail}")
                    with contextlib.suppress(Exception):  # the tables are there; a busy moment is no answer
                        done, states = _finished(db, expected)
                        if time.monotonic() - t0 >= TIMELINE_EVERY * len(timeline):
                            timeline.append({"at": round(time.monotonic() - t0), **states})
                    if not done:
                        time.sleep(0.5)
                wall = time.monotonic() - t0
                cpu = [_cpu_seconds(p.pid) for p in procs]
                _stop(procs)
                twice = twice_at_simulators(sandbox_url, layout, data_dir)
                with db.read() as s:
                    actors = dict(s.execute(select(AuditEntry.actor, func.count())
                                            .where(AuditEntry.outcome == "ok").group_by(AuditEntry.actor)).all())
            finally:
                _stop(procs)
                db.dispose()
                sandbox.terminate()
                sandbox.wait(timeout=30)
    finally:
        with admin.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return {"replicas": replicas, "finished": done, "wall_seconds": round(wall, 1), "orders": expected,
            "orders_by_state": states, "daemon_cpu_seconds": [round(c, 1) for c in cpu],
            "audited_calls_by_replica": {str(k): int(v) for k, v in sorted(actors.items())}, **twice,
            "timeline": timeline}


def doubles(r: dict[str, Any]) -> int:
    """How many things a simulator recorded twice in the run ``r``."""
    return (len(r["uploaded_twice"]) + len(r["created_twice_at_1688"]) + len(r["created_twice_at_webhook"])
            + int(r["webhook_key_conflicts"]) + len(r["exported_twice"]))


def main(args: Any) -> int:
    if not args.postgres:
        print("syncd bench --replicas needs --postgres URL: replicas share a PostgreSQL database", file=sys.stderr)
        return 2
    shops, orders, replicas = int(args.fleet), int(args.orders), int(args.replicas)
    latency = LATENCY if args.latency is None else float(args.latency)
    print(f"syncd bench --fleet {shops} --replicas {replicas}: {orders} orders over {shops} shops, every API "
          f"answer {latency} s; one daemon, then {replicas} (PostgreSQL)", flush=True)
    one = run_once(args.postgres, shops, orders, 1, latency, args.time_limit or 900)
    print(f"1 daemon: {one['wall_seconds']} s (finished: {one['finished']})", flush=True)
    many = run_once(args.postgres, shops, orders, replicas, latency, args.time_limit or 900)
    print(f"{replicas} daemons: {many['wall_seconds']} s (finished: {many['finished']})", flush=True)
    speedup = round(one["wall_seconds"] / many["wall_seconds"], 2) if many["wall_seconds"] else 0.0
    result = {"shops": shops, "orders": one["orders"], "latency_seconds": latency, "replicas": replicas,
              "one_daemon": one, f"{replicas}_daemons": many, "speedup": speedup,
              "done_twice": doubles(one) + doubles(many)}
    LAST.clear()
    LAST.update(result)
    import json

    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"\n1 daemon: {one['wall_seconds']} s; {replicas} daemons: {many['wall_seconds']} s; speed-up {speedup}x "
          f"(aim: at least 1.7x); recorded twice by a simulator: {result['done_twice']} (aim: 0)")
    ok = one["finished"] and many["finished"] and result["done_twice"] == 0
    return 0 if ok else 1
