"""Shadow mode and ``syncd once --dry-run`` against the sandbox simulators, through the command line: nothing
reaches a storefront's ship API, a supplier's API or a drop folder; the dry run leaves the database file as it
was; a shop switched to live sends each order once."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from syncd import cli
from syncd.adapters.sandbox.bundle import Sandbox, SupplierSpec
from syncd.sandboxrun import SANDBOX_SUPPLIERS, copy_sandbox_config, supplier_dirs
from syncd.store.db import open_database
from syncd.store.models import Order, SupplierOrder

ORDERS = 12  # per sandbox shop


class World:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.data_dir = tmp / "data"
        self.config_dir = copy_sandbox_config(tmp / "config")
        specs = [SupplierSpec(sid, *supplier_dirs(self.data_dir, sid), fmt, enc) for sid, fmt, enc in SANDBOX_SUPPLIERS]
        self.sandbox = Sandbox(orders=ORDERS, seed=7, suppliers=specs, fault_rate=0.0, bad_row_rate=0.0,
                               release_after=None, bot_interval=None)
        self.sandbox.start()
        monkeypatch.setenv("SYNCD_CONFIG_DIR", str(self.config_dir))
        monkeypatch.setenv("SYNCD_DATA_DIR", str(self.data_dir))
        monkeypatch.setenv("SYNCD_SANDBOX_URL", self.sandbox.url)
        monkeypatch.setenv("SYNCD_LOG_LEVEL", "WARNING")

    @property
    def db_file(self) -> Path:
        return self.data_dir / "syncd.db"

    def mode(self, mode: str) -> None:
        for path in (self.config_dir / "shops").glob("*.yaml"):
            text = re.sub(r"^mode: \w+\n", "", path.read_text(encoding="utf-8"), flags=re.M)
            path.write_text(text + f"mode: {mode}\n", encoding="utf-8")

    def writes(self) -> dict[str, Any]:
        """Every change the daemon could have made outside: ship calls per storefront, orders created at the API
        suppliers, files in the drop folders."""
        state = self.sandbox.state()
        files = sorted(p.name for sid, _, _ in SANDBOX_SUPPLIERS
                       for p in supplier_dirs(self.data_dir, sid)[0].glob("*") if p.is_file())
        return {"ship_calls": {name: state[name]["ship_calls"] for name in self.sandbox.storefronts},
                "1688_orders": state["partners"]["1688"]["orders_total"] if "orders_total" in
                state["partners"]["1688"] else sum(state["partners"]["1688"]["orders"].values()),
                "webhook_orders": state["partners"]["webhook"]["orders_total"],
                "outbox_files": files}

    def nothing_written(self) -> dict[str, Any]:
        return {"ship_calls": {name: {} for name in self.sandbox.storefronts}, "1688_orders": 0,
                "webhook_orders": 0, "outbox_files": []}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(tmp_path, monkeypatch)
    try:
        yield w
    finally:
        w.sandbox.stop()


def _counts(db_file: Path) -> tuple[dict[str, int], int]:
    db = open_database(f"sqlite:///{db_file}")
    try:
        with db.read() as s:
            holds = dict(s.execute(select(Order.hold_reason, func.count()).group_by(Order.hold_reason)).all())
            sos = s.scalar(select(func.count()).select_from(SupplierOrder)) or 0
        return {str(k): int(v) for k, v in holds.items()}, int(sos)
    finally:
        db.dispose()


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shadow_shops_given_the_sandbox_send_nothing_then_live_sends_each_order_once(world: World, capsys):
    world.mode("shadow")
    assert cli.main(["check-config"]) == 0
    assert cli.main(["once"]) in (cli.EXIT_OK, cli.EXIT_STAGE_FAILED)
    assert cli.main(["once"]) in (cli.EXIT_OK, cli.EXIT_STAGE_FAILED)
    assert world.writes() == world.nothing_written()
    holds, sos = _counts(world.db_file)
    assert holds.get("shadow", 0) > 0 and sos == 0
    capsys.readouterr()
    assert cli.main(["shadow", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len({(r["shop"], r["order"]) for r in plan["to_suppliers"]}) == holds["shadow"]
    assert {r["supplier"] for r in plan["to_suppliers"]} >= {"gz-apparel", "ali-factory"}

    world.mode("live")
    for _ in range(3):
        cli.main(["once"])
    holds_after, sos_after = _counts(world.db_file)
    assert "shadow" not in holds_after and sos_after > 0
    db = open_database(f"sqlite:///{world.db_file}")
    try:
        with db.read() as s:
            keys = list(s.scalars(select(SupplierOrder.idempotency_key)))
            at_1688 = s.scalar(select(func.count()).select_from(SupplierOrder).where(
                SupplierOrder.supplier_id == "ali-factory", SupplierOrder.state != "pending")) or 0
    finally:
        db.dispose()
    assert len(keys) == len(set(keys))
    assert world.writes()["1688_orders"] == at_1688  # each supplier order created once at 1688


def test_dry_run_given_a_database_leaves_its_file_byte_identical_and_sends_nothing(world: World, capsys):
    world.mode("shadow")
    assert cli.main(["once"]) in (cli.EXIT_OK, cli.EXIT_STAGE_FAILED)  # the shops' tokens are stored
    world.mode("live")
    before = _tree(world.data_dir)
    assert "syncd.db" in before
    capsys.readouterr()
    assert cli.main(["once", "--dry-run"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    after = _tree(world.data_dir)
    # the first run closed its connections (its write-ahead log folded into the file and removed: before, a
    # collector closing them during the dry run changed the file under it); not a byte of the database changed,
    # no file came or went
    assert "syncd.db-wal" not in before and "syncd.db-shm" not in before
    assert after == before
    assert world.writes() == world.nothing_written()
    assert "Would be sent to suppliers" in out and "gz-apparel" in out
    assert re.search(r"^pull\s+\d+ done\s+ok", out, flags=re.M)


def test_dry_run_given_no_database_yet_creates_none_and_no_token(world: World, capsys):
    assert cli.main(["once", "--dry-run"]) == cli.EXIT_STAGE_FAILED
    out = capsys.readouterr().out
    assert "neither creates nor refreshes platform tokens" in out
    assert not world.db_file.exists()
    assert all(not state["tokens"]["issued"] for name, state in world.sandbox.state().items()
               if name == "douyin")
    assert world.writes() == world.nothing_written()


def test_dry_run_given_postgres_refuses_with_its_own_exit_code(world: World, monkeypatch, capsys):
    monkeypatch.setenv("SYNCD_DATABASE_URL", "postgresql+psycopg://syncd:secret@127.0.0.1:1/syncd")
    assert cli.main(["once", "--dry-run"]) == cli.EXIT_DRY_RUN_REFUSED
    err = capsys.readouterr().err
    assert "SQLite" in err and "mode: shadow" in err and "secret" not in err
    assert world.writes() == world.nothing_written()
