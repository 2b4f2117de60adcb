"""``stock:`` in shop and route files and ``stock_sync:`` in supplier files, checked like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config.loader import load_config
from syncd.errors import ConfigErrors
from syncd.sandboxrun import copy_sandbox_config


def _problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as err:
        load_config(directory, env={})
    return [f"{e.file}: {e.path}: {e.message}" for e in err.value.errors]


def test_the_sandbox_stock_settings_load(tmp_path: Path) -> None:
    config = load_config(copy_sandbox_config(tmp_path / "c"), env={})

    shop = config.shops["douyin-demo"].stock
    assert (shop.enabled, shop.buffer, shop.max, str(shop.min_margin)) == (True, 2, 500, "3")
    assert config.suppliers["hz-warehouse"].stock_sync.read is True
    assert config.global_.intervals.stock_due == 1


def test_a_bad_shop_stock_setting_names_its_file_and_key(tmp_path: Path) -> None:
    d = copy_sandbox_config(tmp_path / "c")
    shop = d / "shops" / "pdd-demo.yaml"
    shop.write_text(shop.read_text(encoding="utf-8").replace("buffer: 2", "buffer: -1\n  bufer_percent: 5"),
                    encoding="utf-8")

    problems = _problems(d)

    assert any(p.startswith("shops/pdd-demo.yaml: stock.buffer:") for p in problems), problems
    assert any(p.startswith("shops/pdd-demo.yaml: stock.bufer_percent:") for p in problems), problems


def test_a_route_stock_setting_is_checked(tmp_path: Path) -> None:
    d = copy_sandbox_config(tmp_path / "c")
    routes = d / "routes.yaml"
    routes.write_text(routes.read_text(encoding="utf-8").replace(
        "supplier_sku: YW-H010, multiplier: 1,", "supplier_sku: YW-H010, multiplier: 1, stock: {max: -3},"),
        encoding="utf-8")

    problems = _problems(d)

    assert any("stock.max" in p and p.startswith("routes.yaml") for p in problems), problems


def test_a_supplier_stock_sync_setting_is_checked(tmp_path: Path) -> None:
    d = copy_sandbox_config(tmp_path / "c")
    sup = d / "suppliers" / "yiwu-goods.yaml"
    sup.write_text(sup.read_text(encoding="utf-8") + "stock_sync: {stale_hours: 0}\n", encoding="utf-8")

    problems = _problems(d)

    assert any(p.startswith("suppliers/yiwu-goods.yaml: stock_sync.stale_hours:") for p in problems), problems
