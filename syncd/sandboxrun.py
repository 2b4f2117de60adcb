"""Run the daemon against the built-in sandbox (shared by ``syncd demo``, ``syncd bench`` and e2e tests)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from syncd.config.loader import Config, load_config
from syncd.store.db import Database
from syncd.store.models import Hold, Order, Shipment, SupplierOrder

# (supplier id, reply format, encoding) as configured in config/sandbox/suppliers/
SANDBOX_SUPPLIERS = (("yiwu-goods", "xlsx", "utf-8-sig"), ("gz-apparel", "csv", "gb18030"))


def sandbox_config_dir() -> Path:
    """The sandbox configuration shipped with syncd, whatever the working directory.

    Installed, it is package data (``syncd/sandbox_config``); in the repository that name is a link to
    ``config/sandbox``, the one copy. A checkout without links (Windows' default) has a small text file there
    instead, and the source tree's ``config/sandbox`` is read."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sandbox_config", here.parent / "config" / "sandbox"):
        if (candidate / "syncd.yaml").is_file() and (candidate / "shops").is_dir():
            return candidate
    raise FileNotFoundError(f"the sandbox configuration is missing from {here / 'sandbox_config'}: "
                            "reinstall syncd (pip install --force-reinstall syncd)")


def copy_sandbox_config(dest: Path) -> Path:
    shutil.copytree(sandbox_config_dir(), dest, dirs_exist_ok=True)
    return dest


def load_sandbox_config(config_dir: Path, sandbox_url: str) -> Config:
    return load_config(config_dir, env={"SYNCD_SANDBOX_URL": sandbox_url})


def supplier_dirs(data_dir: Path, supplier_id: str) -> tuple[Path, Path]:
    base = data_dir / "suppliers" / supplier_id
    return base / "outbox", base / "inbox"


@dataclass
class Progress:
    total: int
    new: int
    routed: int
    placed: int
    shipped: int
    held: int
    cancelled: int
    tracking: int
    uploaded: int

    @property
    def settled(self) -> int:
        """Orders that reached an end for now: shipped, held for a person, cancelled or skipped."""
        return self.total - self.new - self.routed - self.placed


def progress(db: Database) -> Progress:
    with db.read() as s:
        states = {st: n for st, n in s.execute(select(Order.state, func.count()).group_by(Order.state))}
        tracking = s.scalar(select(func.count()).select_from(Shipment)) or 0
        uploaded = s.scalar(select(func.count()).select_from(Shipment)
                            .where(Shipment.writeback_state == "uploaded")) or 0
    return Progress(sum(states.values()), states.get("new", 0), states.get("routed", 0), states.get("placed", 0),
                    states.get("shipped", 0), states.get("held", 0),
                    states.get("cancelled", 0) + states.get("skipped", 0), tracking, uploaded)


def progress_by_shop(db: Database) -> dict[str, int]:
    with db.read() as s:
        q = select(Order.shop_id, func.count()).group_by(Order.shop_id).order_by(Order.shop_id)
        return dict(s.execute(q).all())


def unsettled(db: Database) -> int:
    """Orders still on their way (new, routed, at a supplier): an index range, cheap at any size."""
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Order)
                            .where(Order.state.in_(["new", "routed", "placed"]))) or 0)


def total_orders(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.max(Order.id))) or 0)


def hold_summary(db: Database) -> list[tuple[str, int, str]]:
    with db.read() as s:
        rows = s.execute(select(Hold.reason, func.count(), func.min(Hold.detail))
                         .where(Hold.released_at.is_(None)).group_by(Hold.reason).order_by(Hold.reason)).all()
    return [(r, n, d) for r, n, d in rows]


def api_supplier_summary(db: Database, suppliers: list[str]) -> dict[str, dict[str, int]]:
    """Per API supplier: its supplier orders per state (placed, shipped, cancelled...), reships counted apart."""
    out: dict[str, dict[str, int]] = {sid: {} for sid in suppliers}
    if not suppliers:
        return out
    with db.read() as s:
        rows = s.execute(select(SupplierOrder.supplier_id, SupplierOrder.state, func.count())
                         .where(SupplierOrder.supplier_id.in_(suppliers))
                         .group_by(SupplierOrder.supplier_id, SupplierOrder.state)).all()
    for sid, state, n in rows:
        out[sid][str(state)] = int(n)
    return out
