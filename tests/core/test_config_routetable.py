"""routes.csv / routes.xlsx as sellers keep them: Excel, GBK, Chinese headers; a wrong file is a few lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook

from syncd.config.loader import load_config
from syncd.config.routetable import MAX_ROW_ERRORS
from syncd.errors import ConfigErrors

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "sandbox"
ENV = {"SYNCD_SANDBOX_URL": "http://127.0.0.1:1"}
ZH_HEADER = "商家编码,供应商,规格编码,数量倍数,成本"


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(SANDBOX, d)
    (d / "routes.yaml").unlink()
    return d


def _errors(d: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_config(d, env=ENV)
    return [str(e) for e in exc.value.errors]


def test_routes_csv_given_gbk_with_chinese_headers_loads_every_route(cfg_dir: Path):
    text = f"{ZH_HEADER}\r\n袜子-两双装,yiwu-goods,袜-2001,2,6.5\r\nTEE-RED-M,gz-apparel,A-1001,1,\r\n"
    (cfg_dir / "routes.csv").write_bytes(text.encode("gbk"))
    routes = load_config(cfg_dir, env=ENV).routes
    assert routes["袜子-两双装"].supplier_sku == "袜-2001" and routes["袜子-两双装"].multiplier == 2
    assert routes["袜子-两双装"].cost == 6.5 and routes["TEE-RED-M"].cost is None


def test_routes_csv_given_a_title_row_above_the_header_and_tabs_finds_the_header(cfg_dir: Path):
    text = "路由表 2026-12\n\n商家编码\t供应商\t规格编码\nSKU1\tyiwu-goods\tY1\n"
    (cfg_dir / "routes.csv").write_bytes(text.encode("gb18030"))
    assert load_config(cfg_dir, env=ENV).routes["SKU1"].supplier == "yiwu-goods"


def test_routes_xlsx_given_numbers_in_cells_reads_them_as_the_codes_shown(cfg_dir: Path):
    wb = Workbook()
    ws = wb.active
    ws.append(["商家编码", "供应商", "规格编码（必填）", "数量倍数", "成本价"])
    ws.append([100234, "yiwu-goods", 5566, 3, 12.5])
    ws.append([None, None, None, None, None])
    ws.append(["MUG", "gz-apparel", "M-1", None, None])
    wb.save(cfg_dir / "routes.xlsx")
    routes = load_config(cfg_dir, env=ENV).routes
    assert routes["100234"].supplier_sku == "5566" and routes["100234"].multiplier == 3
    assert routes["MUG"].multiplier == 1 and set(routes) == {"100234", "MUG"}


def test_routes_csv_given_a_misspelt_header_column_is_one_message_for_the_file(cfg_dir: Path):
    lines = ["sku,supplier,suplier_sku,multiplier"] + [f"S{i},yiwu-goods,Y{i},1" for i in range(2000)]
    (cfg_dir / "routes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _errors(cfg_dir) == [
        "routes.csv: header column 3: unknown column 'suplier_sku'; did you mean 'supplier_sku'?",
        "routes.csv: header: missing column supplier_sku (supplier_sku / 规格编码 / 供应商编码)",
    ]


def test_routes_csv_given_no_header_row_says_which_columns_it_looked_for(cfg_dir: Path):
    (cfg_dir / "routes.csv").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    [err] = _errors(cfg_dir)
    assert err.startswith("routes.csv: (top): no header row found in the first 10 rows") and "商家编码" in err


def test_routes_csv_given_many_bad_rows_lists_the_first_ones_and_counts_the_rest(cfg_dir: Path):
    lines = ["sku,supplier,supplier_sku,multiplier"] + [f"S{i},yiwu-goods,Y{i},zero" for i in range(2000)]
    (cfg_dir / "routes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert len(errs) == MAX_ROW_ERRORS + 1
    assert errs[0].startswith("routes.csv: line 2.multiplier: ")
    assert errs[-1].startswith(f"routes.csv: (top): {2000 - MAX_ROW_ERRORS} more rows with errors not listed")


def test_routes_csv_given_a_row_longer_than_the_header_refuses_that_row(cfg_dir: Path):
    (cfg_dir / "routes.csv").write_text("sku,supplier,supplier_sku\nA,yiwu-goods,Y,extra\nB,yiwu-goods,Z\n",
                                        encoding="utf-8")
    assert _errors(cfg_dir) == ["routes.csv: line 2: more cells than header columns"]


def test_routes_xlsx_given_a_file_that_is_not_a_workbook_is_one_message(cfg_dir: Path):
    (cfg_dir / "routes.xlsx").write_bytes(b"sku,supplier\n")
    [err] = _errors(cfg_dir)
    assert err.startswith("routes.xlsx: (top): cannot read the workbook as a zip archive")


def test_routes_given_one_sku_in_the_yaml_and_the_table_names_both_places(cfg_dir: Path):
    (cfg_dir / "routes.yaml").write_text("routes:\n  - {sku: A, supplier: yiwu-goods, supplier_sku: X}\n",
                                         encoding="utf-8")
    (cfg_dir / "routes.csv").write_text("商家编码,供应商,规格编码\nA,yiwu-goods,X\n", encoding="utf-8")
    assert _errors(cfg_dir) == ["routes.csv: line 2: SKU 'A' is routed twice (first in routes.yaml routes[0])"]


def test_routes_csv_given_note_columns_reads_past_them_but_refuses_an_unknown_column(cfg_dir: Path):
    (cfg_dir / "routes.csv").write_text("商品名称,商家编码,供应商,规格编码,备注\n红色T恤,A,yiwu-goods,X,新品\n",
                                        encoding="utf-8")
    assert load_config(cfg_dir, env=ENV).routes["A"].supplier_sku == "X"
    (cfg_dir / "routes.csv").write_text("商家编码,供应商,规格编码,数量倍率\nA,yiwu-goods,X,2\n", encoding="utf-8")
    [err] = _errors(cfg_dir)
    assert err.startswith("routes.csv: header column 4: unknown column '数量倍率'")
