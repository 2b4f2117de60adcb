"""Stock files (库存表) in the inbox: told from replies by their headers, any encoding the inbox reads, xlsx,
yuan prices to fen, bad rows named and the rest kept, huge files bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncd.adapters.dropfolder import DropFolderSupplier
from syncd.adapters.dropfolder.config import InboxLimits
from syncd.adapters.dropfolder.inbox import LIMIT_PREFIX
from syncd.adapters.dropfolder.stockfile import parse_stock_stream, price_cell, quantity_cell
from syncd.domain import InboxFile
from syncd.sheets.limits import InboxLimitError
from syncd.stockmodel import SupplierStock

WriteCsv = Callable[..., InboxFile]
STOCK = [["商家编码", "商品名称", "可售数量", "供货价"],
         ["TEE-RED-M", "纯棉T恤 红 M", "35", "19.90"],
         ["SOCK-5P", "袜子五双", "0", "￥8.5"],
         ["CAP-BLK", "帽子", "120", ""]]
EXPECTED = [SupplierStock("TEE-RED-M", 35, 1990), SupplierStock("SOCK-5P", 0, 850),
            SupplierStock("CAP-BLK", 120, None)]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_a_stock_csv_in_any_encoding_is_read_as_stock(adapter: DropFolderSupplier, write_csv: WriteCsv,
                                                      encoding: str) -> None:
    parsed = adapter.parse_inbox(write_csv(STOCK, name="库存表.csv", encoding=encoding))

    assert parsed.file_error is None
    assert parsed.kind == "stock" and parsed.rows == []
    assert parsed.stock == EXPECTED and parsed.errors == []


def test_a_stock_xlsx_with_numbers_is_read(adapter: DropFolderSupplier, write_xlsx: Callable[..., InboxFile]) -> None:
    sheet = [["库存表 2026-11-22"], ["SKU", "Stock", "Price"], ["6901234567890", 35, 19.9], ["B-2", 7.0, 12]]

    parsed = adapter.parse_inbox(write_xlsx(sheet, name="stock.xlsx"))

    assert parsed.kind == "stock"
    assert parsed.stock == [SupplierStock("6901234567890", 35, 1990), SupplierStock("B-2", 7, 1200)]


@pytest.mark.parametrize(("headers", "kind"), [
    (["规格编码", "库存"], "stock"), (["商品编码", "可用库存", "单价"], "stock"), (["sku_code", "qty"], "stock"),
    (["货号", "数量", "价格"], "stock"), (["商家编码（必填）", "库存数量"], "stock"),
    # an order sheet or reply carries 商家编码 and 数量 too: with an order number it is never a stock file
    (["订单号", "商家编码", "数量"], None), (["订单号", "快递公司", "快递单号"], "tracking"),
    (["订单号", "商家编码", "数量", "快递公司", "快递单号"], "tracking"),
])
def test_the_headers_tell_a_stock_file_from_a_reply(adapter: DropFolderSupplier, write_csv: WriteCsv,
                                                    headers: list[str], kind: str | None) -> None:
    parsed = adapter.parse_inbox(write_csv([headers, ["A1", "5", "SF1234567890"][:len(headers)]]))

    if kind is None:
        assert parsed.file_error is not None and "stock file" in parsed.file_error
    else:
        assert parsed.file_error is None and parsed.kind == kind


def test_a_reply_file_still_reads_as_tracking(adapter: DropFolderSupplier, write_csv: WriteCsv) -> None:
    reply = [["订单号", "快递公司", "快递单号"], ["D100", "中通快递", "75312345678901"]]

    parsed = adapter.parse_inbox(write_csv(reply))

    assert parsed.kind == "tracking" and parsed.stock == [] and [r.order_no for r in parsed.rows] == ["D100"]


def test_bad_rows_are_named_and_the_rest_is_kept(adapter: DropFolderSupplier, write_csv: WriteCsv) -> None:
    rows = [["商家编码", "库存", "供货价"],
            ["OK-1", "5", "1.00"],
            ["", "3", ""],
            ["NEG", "-2", ""],
            ["FRAC", "2.5", ""],
            ["WORD", "有货", ""],
            ["FORM", "=B2*2", ""],
            ["PRICE", "4", "十元"],
            ["=SUM(A1:A3)", "4", ""],
            ["7.73061E+14", "4", ""],
            ["OK-1", "9", ""],
            [],
            ["OK-2", "1,200", "=C2"]]

    parsed = adapter.parse_inbox(write_csv(rows))

    assert parsed.stock == [SupplierStock("OK-1", 5, 100)]
    reasons = {e.row_no: e.reason for e in parsed.errors}
    assert reasons[3] == "empty SKU"
    assert reasons[4] == "quantity -2 is negative"
    assert reasons[5] == "quantity '2.5' is not a whole number"
    assert reasons[6] == "quantity '有货' is not a whole number"
    assert reasons[7].startswith("quantity '=B2*2' is a formula")
    assert reasons[8] == "price '十元' is not a number of yuan"
    assert reasons[9].startswith("SKU '=SUM(A1:A3)' is a formula")
    assert "scientific notation" in reasons[10]
    assert reasons[11] == "SKU OK-1 is given twice (first at row 2): the first row counts"
    assert reasons[13].startswith("price '=C2' is a formula")
    assert parsed.errors[0].raw == {"商家编码": "", "库存": "3", "供货价": ""}
    assert 12 not in reasons  # an empty row is no error


def test_a_huge_stock_file_stops_at_the_row_limit(make_adapter: Callable[..., DropFolderSupplier],
                                                 write_csv: WriteCsv) -> None:
    adapter = make_adapter(limits={"max_rows": 1000})
    rows = [["SKU", "库存"], *([f"S{i}", "1"] for i in range(5000))]

    parsed = adapter.parse_inbox(write_csv(rows))

    assert parsed.file_error is not None and parsed.file_error.startswith(LIMIT_PREFIX)
    assert "more than 1000 rows" in parsed.file_error
    assert parsed.stock == []


def test_too_many_bad_rows_give_up_on_the_file() -> None:
    rows: list[list[Any]] = [["SKU", "库存"], *([f"S{i}", "x"] for i in range(50))]

    with pytest.raises(InboxLimitError, match="more than 10 rows are wrong"):
        parse_stock_stream(rows, InboxLimits(max_error_rows=10))


@pytest.mark.parametrize(("value", "fen"), [
    ("19.90", 1990), ("¥8.5", 850), ("￥ 1,234.5", 123450), ("12.50元", 1250), (19.9, 1990), (12, 1200),
    ("0.005", 1), ("RMB 3", 300), (None, None), ("", None)])
def test_price_cells_are_yuan_to_fen(value: Any, fen: int | None) -> None:
    assert price_cell(value) == (fen, None)


@pytest.mark.parametrize(("value", "units"), [("35", 35), (35, 35), (35.0, 35), ("35.0", 35), ("1,200", 1200),
                                              ("３５", 35)])
def test_quantity_cells_are_whole_units(value: Any, units: int) -> None:
    assert quantity_cell(value) == (units, None)


@pytest.mark.parametrize("value", [True, "1e3", "NaN", "inf", 10**9, "-0.5"])
def test_quantity_cells_refuse_what_is_no_count(value: Any) -> None:
    assert quantity_cell(value)[0] is None and quantity_cell(value)[1]


@pytest.mark.parametrize("value", ["-1", "NaN", "Infinity", "1e30", True])
def test_price_cells_refuse_what_is_no_price(value: Any) -> None:
    assert price_cell(value)[0] is None and price_cell(value)[1]
