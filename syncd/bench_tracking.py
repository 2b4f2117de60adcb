"""``syncd bench --tracking N``: the track and watch stages over N active parcels (issue 5).

Setup (not measured): a fresh database (SQLite in a temp dir, or a new schema on the given PostgreSQL),
migrated, with N orders already shipped — one supplier order and one uploaded parcel each, spread over the
carriers the Kuaidi100 simulator knows — and the Kuaidi100 and robot simulators in their own process (their CPU
is not the daemon's). The real Kuaidi100 adapter polls the simulator; alerts go to one WeCom robot.

Measured, in this process (CPU of every thread, wall, SQL statements through the Database's counter, HTTP calls
through ``rt.stats``):

a. track passes, repeated until no parcel is due: every parcel queried once (the simulator confirms it);
b. one watch pass (the stage: facts → rules → alerts → delivery) over all N parcels with their history;
c. a second watch pass, nothing changed (the steady state);
d. peak RSS.

The clock is the real one: the simulator's scripted histories are relative to the moment it first sees a number
(a stalled parcel's last scan is 60 h old at once), and the parcels were handed over 30 h before the run, so a
pass finds parcels without a pickup scan, stalled, refused and in trouble — about a fifth of them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Table, func, insert, select, text

from syncd import clock, registry
from syncd.alerts.config import AlertsConfig
from syncd.carriers import display_name
from syncd.config.loader import Config
from syncd.config.models import GlobalConfig
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.stages import track, watch
from syncd.stages.runner import StageReport
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from syncd.store.models import Alert, Notification, Order, Shipment, SupplierOrder, TrackingEvent

SHOP = "bench-shop"
SUPPLIER = "bench-supplier"
CHANNEL = "ops"
SEED = 5
CHUNK = 5000  # rows per executemany during setup
QUERIES_PER_SECOND = 100.0  # the highest calls_per_second Kuaidi100Config accepts (its default is 10)
# (carrier, number prefix, weight): the mix of a Chinese dropshipper, with some SF parcels (they need a phone)
CARRIER_MIX = (("zhongtong", "7531", 30), ("yuantong", "YT", 20), ("yunda", "4312", 15), ("shentong", "7730", 10),
               ("jtexpress", "JT", 10), ("shunfeng", "SF", 10), ("ems", "1170", 5))
PROVINCES = ("广东", "浙江", "江苏", "上海", "北京", "四川", "湖北", "山东", "福建", "新疆")
HANDED_OVER_HOURS_AGO = 30
SIM_READY = "kuaidi100 simulator listening on "


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# ---- the simulators' process -----------------------------------------------------------------------------


def serve_simulators(seed: int) -> int:
    """The child process: Kuaidi100 and the robots on 127.0.0.1, until SIGTERM or stdin closes."""
    # imported by name: the core never imports a concrete adapter (the sandbox is one)
    server_mod: Any = importlib.import_module("syncd.adapters.sandbox.httpserver")
    k100: Any = importlib.import_module("syncd.adapters.sandbox.kuaidi100_sim")
    partners: Any = importlib.import_module("syncd.adapters.sandbox.partners")
    robots: Any = importlib.import_module("syncd.adapters.sandbox.robots")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = server_mod.SandboxServer(port=0)
    server.mount(k100.PREFIX, k100.Kuaidi100Simulator(
        k100.SANDBOX_KUAIDI100_CUSTOMER, k100.SANDBOX_KUAIDI100_KEY, k100.SANDBOX_KUAIDI100_SALT, seed=seed,
        weights=partners.TRACK_WEIGHTS))
    server.mount(robots.PREFIX, robots.RobotSimulator())
    server.start()
    try:
        print(f"{SIM_READY}{server.url}", flush=True)
        threading.Thread(target=_stop_at_eof, args=(stop,), daemon=True).start()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _stop_at_eof(stop: threading.Event) -> None:
    """The parent closing our stdin (or dying) stops us too."""
    sys.stdin.read()
    stop.set()


@contextmanager
def _simulators(seed: int) -> Iterator[str]:
    """Start the simulators' process; yield its base URL; stop it."""
    cmd = [sys.executable, "-m", "syncd.bench_tracking", "--serve-simulators", "--seed", str(seed)]
    # our own interpreter running our own module with arguments built here: nothing untrusted
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith(SIM_READY):
            raise RuntimeError(f"the Kuaidi100 simulator did not start: {line!r}")
        yield line[len(SIM_READY):]
    finally:
        proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        proc.stdout.close()


def _simulator_state(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/kuaidi100/_sandbox/state", timeout=30)
    r.raise_for_status()
    state: dict[str, Any] = r.json()
    return state


# ---- database and config ---------------------------------------------------------------------------------


@contextmanager
def _database(db_url: str | None, tmp: Path) -> Iterator[Database]:
    """A fresh, migrated database: SQLite in ``tmp``, or a new schema on ``db_url`` (dropped afterwards)."""
    if not db_url:
        db = open_database(f"sqlite:///{tmp / 'syncd.db'}")
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"  # hex only: safe inside the quoted identifier
    admin = open_database(db_url)
    try:
        with admin.engine.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in db_url else "?"
        db = open_database(f"{db_url}{sep}options=-csearch_path%3D{schema}")
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
    finally:
        with admin.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _config(root: Path, url: str, parcels: int) -> Config:
    """Kuaidi100 in poll mode against the simulator, one file supplier, one WeCom robot; no shop to pull."""
    registry.load_builtin()
    k100: Any = importlib.import_module("syncd.adapters.sandbox.kuaidi100_sim")
    robots: Any = importlib.import_module("syncd.adapters.sandbox.robots")
    tracking = registry.TRACKING["kuaidi100"].config_model.model_validate(
        {"provider": "kuaidi100", "customer": k100.SANDBOX_KUAIDI100_CUSTOMER, "key": k100.SANDBOX_KUAIDI100_KEY,
         "salt": k100.SANDBOX_KUAIDI100_SALT, "base_url": f"{url}/kuaidi100", "mode": "poll",
         "daily_query_budget": max(1, parcels * 2), "calls_per_second": QUERIES_PER_SECOND})
    channel = {"id": CHANNEL, "kind": "wecom", "base_url": f"{url}/robots/wecom", "key": robots.ROBOT_TOKENS["wecom"]}
    # no daily summary: it runs once a day and is not what a pass costs
    alerts = AlertsConfig.model_validate({"channels": [channel], "daily_digest_at": None})
    supplier = registry.SUPPLIERS["file"].config_model.model_validate(
        {"id": SUPPLIER, "kind": "file", "outbox_dir": "suppliers/bench/outbox", "inbox_dir": "suppliers/bench/inbox",
         "ship_within_hours": 48})
    return Config(root / "config", GlobalConfig(), {}, {SUPPLIER: supplier}, {}, alerts,
                  {CHANNEL: registry.SINKS["wecom"].config_model.model_validate(channel)}, tracking)


def _carrier(i: int) -> tuple[str, str]:
    total = sum(w for _, _, w in CARRIER_MIX)
    slot = (i * 7919) % total  # a fixed spread, interleaved rather than in blocks
    for code, prefix, weight in CARRIER_MIX:
        if slot < weight:
            return code, prefix
        slot -= weight
    return CARRIER_MIX[0][0], CARRIER_MIX[0][1]


def _rows(i: int, now: datetime) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Order, supplier order and parcel number ``i`` (ids i + 1), shipped and written back."""
    n = i + 1
    handed = now - timedelta(hours=HANDED_OVER_HOURS_AGO)
    paid = handed - timedelta(hours=6)
    carrier, prefix = _carrier(i)
    order = {"id": n, "shop_id": SHOP, "platform_order_id": f"69{n:017d}", "platform_status": "3",
             "status": "shipped", "ready_to_ship": True, "refund_state": "none", "payment_mode": "prepaid",
             "paid_at": paid, "ship_by": paid + timedelta(hours=48), "platform_created_at": paid,
             "platform_updated_at": handed, "receiver": {"phone_masked": f"138****{n % 10000:04d}"},
             "shipped_tracking": [], "raw": {}, "state": "shipped", "first_seen_at": paid, "updated_at": handed}
    so = {"id": n, "order_id": n, "supplier_id": SUPPLIER, "idempotency_key": f"bench-{n}", "lines": [],
          "state": "shipped", "placed_at": paid, "shipped_at": handed, "created_at": paid, "updated_at": handed}
    parcel = {"id": n, "order_id": n, "supplier_order_id": n, "carrier": carrier, "carrier_text": display_name(carrier),
              "tracking_no": f"{prefix}{SEED}{n:011d}", "writeback_state": "uploaded", "uploaded_at": handed,
              "handed_over_at": handed, "created_at": handed, "logistics_state": "none", "track_final": False,
              "province": PROVINCES[n % len(PROVINCES)]}
    return order, so, parcel


def seed_parcels(db: Database, parcels: int, now: datetime) -> None:
    """Bulk-insert ``parcels`` shipped orders with one uploaded, never tracked parcel each."""
    for start in range(0, parcels, CHUNK):
        rows = [_rows(i, now) for i in range(start, min(parcels, start + CHUNK))]
        with db.begin() as s:  # core tables: the ORM's bulk path costs more than the database here
            for model, part in ((Order, 0), (SupplierOrder, 1), (Shipment, 2)):
                s.execute(insert(cast(Table, model.__table__)), [r[part] for r in rows])
    if not db.is_sqlite:  # explicit ids leave the sequences behind
        with db.begin() as s:
            for table in ("orders", "supplier_orders", "shipments"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :n)"),
                          {"n": max(parcels, 1)})


# ---- measuring -------------------------------------------------------------------------------------------


@dataclass
class Measured:
    """What one measured step cost in this process."""

    wall: float
    cpu: float
    statements: int
    http: dict[str, int]

    def per(self, n: int) -> dict[str, float]:
        """CPU milliseconds and statements per parcel."""
        n = max(n, 1)
        return {"cpu_ms_per_parcel": round(self.cpu * 1000 / n, 4),
                "db_statements_per_parcel": round(self.statements / n, 6)}


def _measure(rt: Runtime, fn: Callable[[], None]) -> Measured:
    calls0 = dict(rt.stats.calls)
    s0, cpu0, t0 = rt.db.statements.count, _cpu(), time.monotonic()
    fn()
    wall, cpu, statements = time.monotonic() - t0, _cpu() - cpu0, rt.db.statements.count - s0
    http = {f"{system} {api}": n - calls0.get((system, api), 0) for (system, api), n in sorted(rt.stats.calls.items())
            if n - calls0.get((system, api), 0)}
    return Measured(wall, cpu, statements, http)


def _count(db: Database, stmt: Any) -> int:
    with db.read() as s:
        return int(s.scalar(stmt) or 0)


def _track_until_done(rt: Runtime, parcels: int, time_limit: float) -> tuple[int, int, list[str]]:
    """Track passes until one finds nothing due; returns (passes, parcels checked, failures). Bounded twice:
    by passes (every pass but the last checks a full batch) and by time."""
    max_passes = math.ceil(parcels / track.BATCH) + 20
    deadline = time.monotonic() + time_limit
    passes = checked = 0
    failures: list[str] = []
    while passes < max_passes and time.monotonic() < deadline:
        report = StageReport("track")
        track.run(rt, report)
        passes += 1
        checked += report.work
        failures += [f"{scope}: {err}" for scope, err in report.failures]
        if report.work == 0 or len(failures) > 20:
            break
    return passes, checked, failures


def _watch_pass(rt: Runtime, parcels: int) -> dict[str, Any]:
    """One watch stage run (lease, facts → rules → alerts, delivery), measured."""
    alerts = select(func.count()).select_from(Alert)
    queued = select(func.count()).select_from(Notification)
    sent = queued.where(Notification.sent_at.is_not(None))
    before = [_count(rt.db, q) for q in (alerts, queued, sent)]
    report = StageReport("watch")
    m = _measure(rt, lambda: watch.run(rt, report))
    after = [_count(rt.db, q) for q in (alerts, queued, sent)]
    return {"wall_seconds": round(m.wall, 3), "cpu_seconds": round(m.cpu, 3), "db_statements": m.statements,
            **m.per(parcels), "alerts_opened": after[0] - before[0], "notifications_queued": after[1] - before[1],
            "notifications_sent": after[2] - before[2], "notifications_waiting": after[1] - after[2],
            "http_calls": m.http, "failures": [f"{scope}: {err}" for scope, err in report.failures]}


def run_tracking_bench(parcels: int, db_url: str | None = None, *, seed: int = SEED,
                       time_limit: float = 7200) -> dict[str, Any]:
    """Measure track and watch over ``parcels`` active parcels; returns the figures (see the module doc)."""
    if parcels < 1:
        raise ValueError("parcels: expected at least 1")
    with tempfile.TemporaryDirectory(prefix="syncd-bench-tracking-") as tmp, _simulators(seed) as url, \
            _database(db_url, Path(tmp)) as db:
        root = Path(tmp)
        config = _config(root, url, parcels)
        settings = Settings(config_dir=root / "config", data_dir=root / "data")
        t0 = time.monotonic()
        seed_parcels(db, parcels, clock.now())
        setup_seconds = time.monotonic() - t0
        rss_setup = _peak_rss_mb()
        rt = build_runtime(settings, config, db)
        try:
            waited0 = rt.limiter.waited
            passes: list[tuple[int, int, list[str]]] = []
            mt = _measure(rt, lambda: passes.append(_track_until_done(rt, parcels, time_limit)))
            n_passes, checked, track_failures = passes[0]
            waited = rt.limiter.waited - waited0
            rss_track = _peak_rss_mb()
            sim = _simulator_state(url)
            checked_rows = _count(db, select(func.count()).select_from(Shipment)
                                  .where(Shipment.last_checked_at.is_not(None)))
            events = _count(db, select(func.count()).select_from(TrackingEvent))
            states = _logistics_states(db)
            first = _watch_pass(rt, parcels)
            second = _watch_pass(rt, parcels)
            rss_end = _peak_rss_mb()
            open_by_rule = _open_alerts(db)
        finally:
            rt.close()
    queries = mt.http.get("kuaidi100 query", 0)
    return {
        "parcels": parcels,
        "database": "postgresql" if db_url else "sqlite",
        "setup_seconds": round(setup_seconds, 1),
        "track": {
            "passes": n_passes, "batch": track.BATCH, "parcels_checked": checked, "shipments_checked": checked_rows,
            "queries": queries, "queries_per_parcel": round(queries / parcels, 4),
            "simulator_queries": int(sim.get("calls", {}).get("query", 0)),
            "simulator_numbers": int(sim.get("numbers", 0)), "scenarios": sim.get("scenarios", {}),
            "tracking_events": events, "logistics_states": states,
            "wall_seconds": round(mt.wall, 1), "rate_budget_wait_seconds": round(waited, 1),
            "budget_calls_per_second": QUERIES_PER_SECOND, "cpu_seconds": round(mt.cpu, 2),
            "db_statements": mt.statements, **mt.per(parcels), "http_calls": mt.http, "failures": track_failures},
        "watch_first": first,
        "watch_steady": second,
        "open_alerts": open_by_rule,
        "peak_rss_mb": {"after_setup": round(rss_setup, 1), "after_track": round(rss_track, 1),
                        "end": round(rss_end, 1)},
    }


def _logistics_states(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {str(state): int(n) for state, n in s.execute(
            select(Shipment.logistics_state, func.count()).group_by(Shipment.logistics_state)
            .order_by(Shipment.logistics_state))}


def _open_alerts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return {str(rule): int(n) for rule, n in s.execute(
            select(Alert.rule, func.count()).where(Alert.open.is_(True)).group_by(Alert.rule).order_by(Alert.rule))}


# ---- output ----------------------------------------------------------------------------------------------


def format_table(r: dict[str, Any]) -> str:
    """The figures as a table a person reads."""
    t, w1, w2 = r["track"], r["watch_first"], r["watch_steady"]
    rows = [(name, work, f"{x['wall_seconds']:.1f}", f"{x['cpu_seconds']:.1f}", f"{x['cpu_ms_per_parcel']:.3g}",
             str(x["db_statements"]), f"{x['db_statements_per_parcel']:.3g}", queries)
            for name, work, x, queries in (
                ("track, every parcel once", f"{t['passes']} passes", t, f"{t['queries_per_parcel']:g}"),
                ("watch, first pass", f"{w1['alerts_opened']} alerts opened", w1, "-"),
                ("watch, steady pass", f"{w2['alerts_opened']} alerts opened", w2, "-"))]
    head = ("stage", "work", "wall s", "CPU s", "CPU ms/parcel", "statements", "statements/parcel", "queries/parcel")
    widths = [max(len(x[i]) for x in (head, *rows)) for i in range(len(head))]
    line = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [f"syncd bench --tracking: {r['parcels']} active parcels on {r['database']}, Kuaidi100 and robot "
           "simulators in their own process", "", line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*row) for row in rows]
    rss = r["peak_rss_mb"]
    out += ["",
            f"track: {t['queries']} queries for {r['parcels']} parcels ({t['simulator_numbers']} numbers seen by the "
            f"simulator, {t['tracking_events']} events stored); {t['rate_budget_wait_seconds']} s of the "
            f"{t['wall_seconds']} s waiting for the {t['budget_calls_per_second']:g}/s query budget",
            f"watch: first pass queued {w1['notifications_queued']} notifications and sent "
            f"{w1['notifications_sent']} of them in {w1['http_calls'].get('alerts wecom', 0)} robot messages; "
            f"{w2['notifications_waiting']} wait for the channel's per-minute limit",
            f"open alerts: {', '.join(f'{k} {v}' for k, v in r['open_alerts'].items()) or 'none'}",
            f"peak RSS: {rss['end']} MB (after setup {rss['after_setup']} MB, after track {rss['after_track']} MB)"]
    failures = [*t["failures"], *w1["failures"], *w2["failures"]]
    if failures:
        out += ["", f"FAILURES ({len(failures)}):", *(f"  {f}" for f in failures[:10])]
    return "\n".join(out)


def complete(r: dict[str, Any]) -> bool:
    """Every parcel queried exactly once and no stage failed."""
    t = r["track"]
    return (t["queries"] == r["parcels"] == t["simulator_queries"] == t["simulator_numbers"]
            and t["shipments_checked"] == r["parcels"]
            and not (t["failures"] or r["watch_first"]["failures"] or r["watch_steady"]["failures"]))


def main(args: argparse.Namespace) -> int:
    """``syncd bench --tracking N [--postgres URL]``: print the table (JSON with ``--json``); 1 if incomplete."""
    parcels = int(args.tracking)
    if parcels < 1:
        raise SystemExit(f"syncd bench: --tracking takes a number of parcels of at least 1; found {parcels}")
    db_url = getattr(args, "postgres", None) or None
    print(f"syncd bench --tracking: seeding {parcels} parcels, then track and watch "
          f"({'PostgreSQL' if db_url else 'SQLite'}); the track passes take about {parcels / QUERIES_PER_SECOND:.0f} s "
          "at the query budget", file=sys.stderr, flush=True)
    r = run_tracking_bench(parcels, db_url)
    print(json.dumps(r, ensure_ascii=False, indent=2) if getattr(args, "json", False) else format_table(r))
    return 0 if complete(r) else 1


def _cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m syncd.bench_tracking",
                                description="the track and watch stages over N active parcels")
    p.add_argument("--tracking", type=int, default=1000, metavar="N", help="active parcels")
    p.add_argument("--postgres", metavar="URL", help="benchmark on this PostgreSQL database instead of SQLite")
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve-simulators", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_simulators:
        return serve_simulators(args.seed)
    return main(args)


if __name__ == "__main__":
    sys.exit(_cli())
