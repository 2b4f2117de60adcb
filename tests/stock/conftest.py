"""The stock tests' sandbox world: the simulators in-process, the sandbox config, a migrated SQLite database and a
runtime built the way the daemon builds it, each shop's catalogue read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from syncd.adapters.sandbox.bundle import Sandbox, SupplierSpec
from syncd.runtime import Runtime, build_runtime
from syncd.sandboxrun import copy_sandbox_config, load_sandbox_config, supplier_dirs
from syncd.settings import Settings
from syncd.stock import catalog, engine
from syncd.stock.callbacks import stock_handler
from syncd.store.db import open_database
from syncd.store.migrate import upgrade


@dataclass
class World:
    sandbox: Sandbox
    rt: Runtime
    env: dict[str, str]  # what `syncd ...` commands need to find this world

    def shown(self, code: str) -> dict[str, int]:
        """Each storefront simulator's stock of this merchant code."""
        return {name: sim.products.stock_of(code) for name, sim in self.sandbox.storefronts.items()}

    def transport(self) -> httpx.Client:
        """An HTTP client whose requests land in the daemon's stock push handlers (no port needed)."""
        def route(request: httpx.Request) -> httpx.Response:
            path = urlsplit(str(request.url)).path
            supplier = path.split("/")[3]
            status, headers, body = stock_handler(self.rt, supplier)(path, {}, dict(request.headers),
                                                                     request.content)
            return httpx.Response(status, headers=headers, content=body)
        return httpx.Client(transport=httpx.MockTransport(route))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data = tmp_path / "var"
    spec = SupplierSpec("yiwu-goods", *supplier_dirs(data, "yiwu-goods"), "csv", "gb18030")
    sandbox = Sandbox(orders=0, seed=5, suppliers=[spec], fault_rate=0.0, push_interval=None, bot_interval=None,
                      release_after=None).start()
    config_dir = copy_sandbox_config(tmp_path / "config")
    settings = Settings(config_dir=config_dir, data_dir=data, database_url=f"sqlite:///{tmp_path / 'syncd.db'}")
    db = open_database(settings.db_url())
    upgrade(db)
    rt = build_runtime(settings, load_sandbox_config(config_dir, sandbox.url), db)
    assert sandbox.partners is not None
    sandbox.partners.stock_pushes_to("http://daemon.invalid")
    try:
        for shop_id, adapter in engine.stock_shops(rt).items():
            catalog.sync_shop(rt, shop_id, adapter)
        yield World(sandbox, rt, {"SYNCD_CONFIG_DIR": str(config_dir), "SYNCD_DATA_DIR": str(data),
                                  "SYNCD_DATABASE_URL": settings.db_url(), "SYNCD_SANDBOX_URL": sandbox.url})
    finally:
        rt.close()
        db.dispose()
        sandbox.stop()


