"""Drive the real ``syncd run`` process against the sandbox simulators, and check the invariants."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError

from syncd import clock
from syncd.adapters.sandbox.bundle import Sandbox, SupplierSpec
from syncd.alerts.names import PARCEL_RULES
from syncd.bench_replicas import exported_lines
from syncd.sandboxrun import SANDBOX_SUPPLIERS, copy_sandbox_config, supplier_dirs
from syncd.store.db import Database, open_database
from syncd.store.models import Alert, AuditEntry, Lease, Order, Shipment, StageRun, SupplierOrder

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    tmp: Path
    db_url: str
    orders: int = 80
    fault_rate: float = 0.03
    sandbox: Sandbox = field(init=False)
    config_dir: Path = field(init=False)
    data_dir: Path = field(init=False)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.tmp / "data"
        self.config_dir = copy_sandbox_config(self.tmp / "config")
        specs = [SupplierSpec(sid, *supplier_dirs(self.data_dir, sid), fmt, enc) for sid, fmt, enc in SANDBOX_SUPPLIERS]
        self.sandbox = Sandbox(
            orders=self.orders,
            seed=11,
            suppliers=specs,
            reply_delay=0.3,
            fault_rate=self.fault_rate,
            bad_row_rate=0.0,
            release_after=None,
            bot_interval=0.2,
        )
        self.sandbox.start()

    @property
    def total(self) -> int:
        """Orders across every sandbox shop."""
        return self.orders * len(self.sandbox.storefronts)

    def env(self, instance: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.update(
            SYNCD_CONFIG_DIR=str(self.config_dir),
            SYNCD_DATA_DIR=str(self.data_dir),
            SYNCD_DATABASE_URL=self.db_url,
            SYNCD_SANDBOX_URL=self.sandbox.url,
            SYNCD_LOG_LEVEL="WARNING",
            SYNCD_INSTANCE=instance,
            SYNCD_ADMIN_HOST="127.0.0.1",
            SYNCD_ADMIN_PORT=str(self.port(instance)),
            SYNCD_CALLBACK_HOST="127.0.0.1",
            SYNCD_CALLBACK_PORT=str(self.port(f"{instance}-callback")),
            PYTHONPATH=str(ROOT),
        )
        return env

    def port(self, instance: str) -> int:
        """The admin port of one daemon, or its callback port as ``<instance>-callback`` (a free port picked
        once per name)."""
        if instance not in self.ports:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.ports[instance] = sock.getsockname()[1]
        return self.ports[instance]

    def start(self, instance: str = "d1") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "run"],
            cwd=self.tmp,
            env=self.env(instance),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def db(self) -> Database:
        return open_database(self.db_url)

    def wait_settled(self, procs: list[subprocess.Popen[bytes]], timeout: float = 90) -> dict[str, int]:
        """Poll until every order is shipped, held or cancelled (bounded); the daemons must stay alive."""
        deadline = time.monotonic() + timeout
        states: dict[str, int] = {}
        db = self.db()
        try:
            while time.monotonic() < deadline:
                for p in procs:
                    assert p.poll() is None, f"daemon died: {p.stderr.read().decode()[-3000:] if p.stderr else ''}"
                try:
                    with db.begin() as s:
                        states = dict(s.execute(select(Order.state, func.count()).group_by(Order.state)).all())
                except DBAPIError:
                    states = {}  # the daemon has not created its tables yet
                total = sum(states.values())
                if total >= self.total and not any(states.get(k) for k in ("new", "routed", "placed")):
                    return states
                with contextlib.suppress(subprocess.TimeoutExpired):
                    procs[0].wait(timeout=0.5)  # paces the polling; the daemon is expected to keep running
        finally:
            db.dispose()
        raise AssertionError(f"not settled after {timeout}s: {states}; still open: {self.unsettled()}")

    def wait_listening(self, proc: subprocess.Popen[bytes], instance: str = "d1", timeout: float = 60) -> None:
        """Poll (bounded) until the daemon's listener answers /healthz: it holds its database and runs."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port(instance)}/healthz"
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"daemon died: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)  # paces the polling
        raise AssertionError(f"the daemon did not answer {url} within {timeout}s")

    def unsettled(self) -> dict[str, int]:
        """Supplier orders of unsettled orders, by (supplier, state): where the flow stopped."""
        db = self.db()
        try:
            with db.begin() as s:
                rows = s.execute(select(SupplierOrder.supplier_id, SupplierOrder.state, func.count())
                                 .join(Order, Order.id == SupplierOrder.order_id)
                                 .where(Order.state.in_(["new", "routed", "placed"]))
                                 .group_by(SupplierOrder.supplier_id, SupplierOrder.state)).all()
        finally:
            db.dispose()
        return {f"{sup}:{st}": int(n) for sup, st, n in rows}

    def stop(self, proc: subprocess.Popen[bytes]) -> float:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        return time.monotonic() - started

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
        self.sandbox.stop()

    # ---- invariants --------------------------------------------------------------------------------------

    def exported(self) -> dict[tuple[str, str, str], list[str]]:
        """(supplier, order number, supplier SKU) → the outbox files that line appears in. An order may come
        back in a later batch only with other lines (a fallback supplier taking a line another one lacked)."""
        return exported_lines(self.data_dir)

    def check_invariants(self) -> dict[str, Any]:
        exported = self.exported()
        twice = {k: v for k, v in exported.items() if len(v) != 1}
        assert not twice, f"orders exported in more than one batch: {twice}"
        everything = self.sandbox.state()
        states = {f"{p}-demo": everything[p] for p in self.sandbox.storefronts}
        partners = everything["partners"]
        assert not partners["1688"]["duplicates"], f"orders created twice at 1688: {partners['1688']['duplicates']}"
        assert not partners["webhook"]["creates"].get("conflict"), "one Idempotency-Key sent with two bodies"
        dup_uploads = {
            (shop, oid): c
            for shop, st in states.items()
            for oid, ships in st["shipments"].items()
            if (c := Counter(s["tracking_no"] for s in ships)) and max(c.values()) > 1
        }
        assert not dup_uploads, f"tracking numbers uploaded twice: {dup_uploads}"
        db = self.db()
        try:
            with db.begin() as s:
                stored = s.scalar(select(func.count()).select_from(Order))
                ours = set(
                    s.execute(
                        select(Order.shop_id, Order.platform_order_id, Shipment.tracking_no)
                        .join(Shipment, Shipment.order_id == Order.id)
                        .where(Shipment.writeback_state == "uploaded")
                    ).all()
                )
                every_parcel = {(shop, oid, no): (ws, order_state) for shop, oid, no, ws, order_state in s.execute(
                    select(Order.shop_id, Order.platform_order_id, Shipment.tracking_no, Shipment.writeback_state,
                           Order.state).join(Shipment, Shipment.order_id == Order.id))}
                actors = Counter(a for (a,) in s.execute(select(AuditEntry.actor).where(AuditEntry.outcome == "ok")))
                shipped = s.scalar(select(func.count()).select_from(Order).where(Order.state == "shipped"))
                # (order, supplier) → its normal supplier orders still standing (a fallback cancels the first)
                api_orders = Counter(s.execute(
                    select(SupplierOrder.order_id, SupplierOrder.supplier_id)
                    .where(SupplierOrder.kind == "normal", SupplierOrder.state != "cancelled")).all())
                placed_at_api = {oid for (oid,) in s.execute(
                    select(Order.platform_order_id).join(SupplierOrder, SupplierOrder.order_id == Order.id)
                    .where(SupplierOrder.supplier_ref.is_not(None)))}
                api_keys = {k for (k,) in s.execute(select(SupplierOrder.idempotency_key)
                                                    .where(SupplierOrder.supplier_id == "ali-factory",
                                                           SupplierOrder.supplier_ref.is_not(None)))}
        finally:
            db.dispose()
        on_platform = {
            (shop, oid, sh["tracking_no"])
            for shop, st in states.items()
            for oid, ships in st["shipments"].items()
            for sh in ships
        }
        assert stored == sum(st["orders_total"] for st in states.values()), "a storefront order is missing"
        ours_set = {tuple(r) for r in ours}
        assert ours_set == on_platform, ("uploaded shipments differ from what the storefronts recorded: only ours "
                                         f"{sorted(ours_set - on_platform)}, only theirs "
                                         f"{[(k, every_parcel.get(k)) for k in sorted(on_platform - ours_set)]}")
        twice_api = {k: n for k, n in api_orders.items() if n > 1}
        assert not twice_api, f"more than one supplier order per (order, supplier): {twice_api}"
        assert len(api_keys) == partners["1688"]["orders_total"], "1688 holds an order syncd does not know of"
        sent = {order_no for (_sid, order_no, _sku) in exported} | placed_at_api
        assert {oid for _, oid, _ in on_platform} <= sent, "a parcel was uploaded for an order never sent out"
        return {"exported": len(exported), "uploads": len(on_platform), "shipped": shipped, "actors": actors,
                "api_placed": len(placed_at_api)}

    def parcel_alerts(self) -> tuple[set[int], set[int], int]:
        """(shipments with an open parcel alert, shipments whose scripted history is trouble that shows at once,
        shipments not tracked yet). 1688 parcels follow 1688's own trace, not Kuaidi100: their trouble is a parcel
        the 1688 simulator scripts as never picked up (sent 14–30 h before the number arrived, no scan ever)."""
        partners = self.sandbox.partners
        assert partners is not None
        kuaidi100, alibaba = partners.kuaidi100, partners.alibaba
        db = self.db()
        try:
            with db.begin() as s:
                rows = s.execute(select(Shipment.id, Shipment.tracking_no, Shipment.last_checked_at,
                                        SupplierOrder.supplier_id)
                                 .join(SupplierOrder, SupplierOrder.id == Shipment.supplier_order_id)
                                 .where(Shipment.writeback_state == "uploaded")).all()
                alerted = {int(subject.split(":", 1)[1]) for (subject,) in s.execute(
                    select(Alert.subject).where(Alert.open.is_(True), Alert.rule.in_(sorted(PARCEL_RULES))))}
        finally:
            db.dispose()
        troubled = {sid for sid, number, _, supplier in rows
                    if (alibaba.never_picked_up(number) if supplier == "ali-factory"
                        else kuaidi100.scenario(number) in ("problem", "stalled", "refused"))}
        return alerted, troubled, sum(1 for *_, checked, _ in rows if checked is None)

    def plant_dead_leases(self, holder: str) -> list[str]:
        """Lease rows of every pull, forward and collect scope and of watch, held by ``holder`` for 15 more
        minutes: what a daemon killed in the middle of each leaves behind. Returns the names."""
        db = self.db()
        try:
            with db.begin() as s:
                scopes = s.execute(select(StageRun.stage, StageRun.scope)
                                   .where(StageRun.stage.in_(["pull", "forward", "collect"]))).all()
                names = sorted({f"{stage}:{scope}" for stage, scope in scopes} | {"watch"})
                s.execute(delete(Lease))
                until = clock.now() + timedelta(minutes=15)
                s.execute(insert(Lease), [{"name": n, "holder": holder, "expires_at": until} for n in names])
            return names
        finally:
            db.dispose()

    def skipped_runs(self) -> dict[tuple[str, str], str]:
        """Scopes whose latest run was skipped because another holder had the lease, with the reason."""
        db = self.db()
        try:
            with db.begin() as s:
                rows = s.execute(select(StageRun.stage, StageRun.scope, StageRun.last_skip_reason)
                                 .where(StageRun.last_skipped_at.is_not(None))).all()
            return {(stage, scope): reason or "" for stage, scope, reason in rows}
        finally:
            db.dispose()

    def last_success(self, stage: str) -> Any:
        """When the stage last succeeded (any scope), or None."""
        db = self.db()
        try:
            with db.begin() as s:
                return s.scalar(select(func.max(StageRun.last_success_at)).where(StageRun.stage == stage))
        finally:
            db.dispose()
