"""A runtime over a real database, real drop-folder suppliers and a fake storefront."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from syncd.adapters.dropfolder import PLUGIN as DROPFOLDER
from syncd.adapters.dropfolder import DropFolderConfig
from syncd.config.loader import Config
from syncd.config.models import GlobalConfig, Route, ShopConfigBase
from syncd.daemon import run_stage
from syncd.http import CallStats
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from syncd.runtime import Runtime
from syncd.settings import Settings
from syncd.stages.runner import StageReport
from syncd.store.db import Database
from syncd.store.models import Order
from tests.fakes import FakeStorefront, FakeTokenStore

SHOP = "shop1"


@dataclass
class Harness:
    rt: Runtime
    shop: FakeStorefront
    data_dir: Path

    def stage(self, name: str) -> StageReport:
        return run_stage(self.rt, name)

    def cycle(self) -> list[StageReport]:
        return [self.stage(n) for n in ("pull", "route", "forward", "collect", "writeback")]

    def outbox(self, supplier: str) -> Path:
        return self.data_dir / "suppliers" / supplier / "outbox"

    def inbox(self, supplier: str) -> Path:
        return self.data_dir / "suppliers" / supplier / "inbox"

    def exported_rows(self, supplier: str) -> list[dict[str, str]]:
        """Every row of every outbox file of the supplier (xlsx), with the file name."""
        rows = []
        for path in sorted(self.outbox(supplier).glob("*.xlsx")):
            wb = load_workbook(path, read_only=True)
            try:
                it = wb.worksheets[0].iter_rows(values_only=True)
                header = [str(h) for h in next(it)]
                rows += [
                    {
                        **dict(zip(header, (str(v) if v is not None else "" for v in r), strict=False)),
                        "_file": path.name,
                    }
                    for r in it
                ]
            finally:
                wb.close()
        return rows

    def reply(self, supplier: str, name: str, rows: list[tuple[str, ...]], *, age: float = 60,
              header: tuple[str, ...] = ("订单号", "快递公司", "快递单号")) -> Path:
        """Drop a supplier reply CSV that finished writing ``age`` seconds ago."""
        path = self.inbox(supplier) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        st = path.stat()
        os.utime(path, (st.st_atime - age, st.st_mtime - age))
        return path


def build(
    db: Database,
    tmp_path: Path,
    *,
    routes: dict[str, tuple[str, str, int]] | None = None,
    cool_off: float = 0,
    suppliers: tuple[str, ...] = ("acme", "beta"),
) -> Harness:
    routes = (
        routes
        if routes is not None
        else {"SKU-A": ("acme", "A-1", 1), "SKU-B": ("beta", "B-1", 1), "SKU-2P": ("acme", "A-2", 2)}
    )
    data_dir = tmp_path / "data"
    settings = Settings(config_dir=tmp_path / "config", data_dir=data_dir)
    shop_cfg = ShopConfigBase(
        id=SHOP,
        platform="fake",
        base_url="http://127.0.0.1:9",
        pull={"lag_seconds": 0, "overlap_minutes": 5, "window_minutes": 60, "first_lookback_hours": 24},
    )
    sup_cfgs = {
        sid: DropFolderConfig(
            id=sid,
            kind="file",
            outbox_dir=f"suppliers/{sid}/outbox",
            inbox_dir=f"suppliers/{sid}/inbox",
            schedule={"interval_minutes": 0.0001},
            settle_seconds=0,
        )
        for sid in suppliers
    }
    config = Config(
        tmp_path / "config",
        GlobalConfig(route={"cool_off_minutes": cool_off}),
        {SHOP: shop_cfg},
        dict(sup_cfgs),
        {sku: Route(sku=sku, supplier=s, supplier_sku=ss, multiplier=m) for sku, (s, ss, m) in routes.items()},
    )
    http = httpx.Client()
    ctx = AdapterContext(http=http, tokens=FakeTokenStore(), data_dir=data_dir, retry=RetryPolicy(sleep=lambda _: None))
    fake = FakeStorefront()
    rt = Runtime(
        settings,
        config,
        db,
        http,
        CallStats(),
        RetryPolicy(sleep=lambda _: None),
        "test-holder",
        storefronts={SHOP: fake},
        suppliers={sid: DROPFOLDER.factory(c, ctx) for sid, c in sup_cfgs.items()},
    )
    return Harness(rt, fake, data_dir)


def order_row(db: Database, pid: str) -> Order:
    """The stored order with this platform order id, detached (its attributes stay readable)."""
    with db.begin() as s:
        o = s.scalars(select(Order).where(Order.platform_order_id == pid)).one()
        s.expunge(o)
        return o
