"""parse_inbox on .xlsx replies: text and numeric cells, sheet choice, damaged ids, corrupt workbooks."""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from syncd.domain import OutboxBatch, OutboxRow

from .conftest import SETTLED, inbox_file

HEADER = ["订单号", "快递公司", "快递单号"]
ORDER = "6923456789012345678"


def test_text_cells_are_read(adapter, write_xlsx):
    f = write_xlsx([HEADER, [ORDER, "极兔速递", "JT0001234567890"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.file_error is None and parsed.errors == []
    [row] = parsed.rows
    assert (row.row_no, row.order_no, row.carrier, row.tracking_nos) == (2, ORDER, "jtexpress", ["JT0001234567890"])


def test_numeric_cells_of_at_most_15_digits_are_read_as_digits(adapter, write_xlsx):
    f = write_xlsx([HEADER, [123456789012345, "中通", 75123456789012], [42, "中通", 75123456789013.0]])
    parsed = adapter.parse_inbox(f)
    assert parsed.errors == []
    assert [(r.order_no, r.tracking_nos) for r in parsed.rows] == [
        ("123456789012345", ["75123456789012"]), ("42", ["75123456789013"])]


def test_damaged_numeric_ids_are_rejected_and_good_rows_still_come_back(adapter, write_xlsx):
    f = write_xlsx([
        HEADER,
        [ORDER, "中通", "75123456789012"],                 # 2 good (text)
        [6923456789012345678, "中通", "75123456789013"],   # 3 19-digit order id stored as a number
        [1234.5, "中通", "75123456789014"],                # 4 order number with a fraction
        ["1004", "中通", 7512345678901234567],             # 5 tracking number stored as a long number
        ["1005", "中通", 751234.5],                       # 6 tracking number with a fraction
        ["1006", "中通", 75123456789016],                 # 7 good (numeric, 14 digits)
    ])
    parsed = adapter.parse_inbox(f)
    assert [r.row_no for r in parsed.rows] == [2, 7]
    got = {e.row_no: e.reason for e in parsed.errors}
    assert sorted(got) == [3, 4, 5, 6]
    assert "is stored as a number of more than 15 digits" in got[3] and got[3].startswith("order number")
    assert "stored as a number with a fraction" in got[4] and got[4].startswith("order number 1234.5")
    assert got[5].startswith("tracking number") and "more than 15 digits" in got[5]
    assert got[6].startswith("tracking number 751234.5")


def test_scientific_notation_text_in_xlsx_is_rejected(adapter, write_xlsx):
    f = write_xlsx([HEADER, ["4.41625E+17", "中通", "7.73061E+14"]])
    [error] = adapter.parse_inbox(f).errors
    assert "order number '4.41625E+17' is in scientific notation" in error.reason
    assert "tracking number '7.73061E+14' is in scientific notation" in error.reason


def test_first_sheet_with_a_header_is_used(adapter, write_xlsx):
    f = write_xlsx([["填写说明：请填快递单号"], ["不要改订单号"]], [HEADER, [ORDER, "申通", "773061234567890"]])
    [row] = adapter.parse_inbox(f).rows
    assert (row.order_no, row.carrier) == (ORDER, "shentong")


def test_header_below_blank_and_title_rows_keeps_sheet_row_numbers(adapter, write_xlsx):
    f = write_xlsx([[], ["发货回单"], [], HEADER, [ORDER, "EMS", "EA123456789CN"], [None, None, None],
                    ["2", "邮政", "9812345678901"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.errors == []
    assert [(r.row_no, r.carrier) for r in parsed.rows] == [(5, "ems"), (7, "youzhengguonei")]


def test_workbook_without_header_gives_file_error(adapter, write_xlsx):
    f = write_xlsx([["单号", "快递"], [ORDER, "中通"]], [["another", "sheet"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.rows == [] and parsed.errors == []
    assert parsed.file_error.startswith("no header row found")


def test_empty_workbook_gives_file_error(adapter, write_xlsx):
    assert adapter.parse_inbox(write_xlsx([])).file_error.startswith("no header row found")


def _drop(adapter, name: str, data: bytes):
    path = adapter.inbox_dir / name
    path.write_bytes(data)
    os.utime(path, (SETTLED, SETTLED))
    return inbox_file(path)


def _zip_with(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def _valid_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(HEADER)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize(("data", "message"), [
    (b"this is not a workbook at all", "not an .xlsx workbook (not a zip archive)"),
    (_valid_xlsx()[:300], "cannot read the workbook"),
    (_zip_with({"hello.txt": "hi"}), "cannot read the workbook"),
    (_zip_with({"[Content_Types].xml": "<not xml", "xl/workbook.xml": "<<<"}), "cannot read the workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old .xls (Excel 97-2003)"),
])
def test_corrupt_workbook_gives_file_error_without_raising(adapter, data, message):
    parsed = adapter.parse_inbox(_drop(adapter, "reply.xlsx", data))
    assert parsed.rows == [] and parsed.errors == []
    assert parsed.file_error.startswith(message)


def _with_dimension(data: bytes, ref: str) -> bytes:
    """The workbook with its first sheet's recorded used range replaced, as some writers get it wrong."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + ref.encode() + b'"', content)
            zout.writestr(item, content)
    return out.getvalue()


def test_sheet_with_a_wrong_recorded_used_range_is_read_completely(adapter, write_xlsx):
    f = write_xlsx([HEADER, [ORDER, "中通", "75123456789012"], ["2", "中通", "75123456789013"]])
    damaged = _with_dimension(Path(f.path).read_bytes(), "A1:A1")
    parsed = adapter.parse_inbox(_drop(adapter, "reply.xlsx", damaged))
    assert [(r.order_no, r.tracking_nos) for r in parsed.rows] == [
        (ORDER, ["75123456789012"]), ("2", ["75123456789013"])]


def test_outbox_sheet_filled_in_by_the_supplier_reads_back_with_the_same_order_ids(adapter):
    rows = [OutboxRow(order_no=order_no, sub_order_no="", receiver_name="张三", receiver_phone="13812345678",
                      province="", city="", district="", address="杭州市", supplier_sku="A1", title="杯",
                      spec="", quantity=1, remark="", shop="", paid_at=None)
            for order_no in (ORDER, "6923456789012345679")]
    name = adapter.write_batch(OutboxBatch(batch_id=1, supplier_id="acme", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                                           file_stem="acme-b1", rows=rows))
    wb = openpyxl.load_workbook(adapter.outbox_dir / name)
    ws = wb.active
    ws["J1"], ws["K1"] = "物流公司", "运单号"
    ws["J2"], ws["K2"] = "圆通速递", "YT7512345678901"
    ws["J3"], ws["K3"] = "圆通速递", "YT7512345678902"
    path = adapter.inbox_dir / "acme-b1 已发货.xlsx"
    wb.save(path)
    parsed = adapter.parse_inbox(inbox_file(path))
    assert parsed.errors == []
    assert [(r.order_no, r.carrier, r.tracking_nos) for r in parsed.rows] == [
        (ORDER, "yuantong", ["YT7512345678901"]), ("6923456789012345679", "yuantong", ["YT7512345678902"])]
