"""write_batch: file names, text cells, encodings, atomic replacement, no receiver data in logs."""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
from datetime import UTC, datetime

import openpyxl
import pytest

from syncd.adapters.dropfolder import files, outbox
from syncd.domain import OutboxBatch, OutboxRow

ORDER_19 = "6923456789012345678"
PHONE = "13812345678"
NAME = "张小凡"
STREET = "浙江省杭州市西湖区文三路 100 号 3 单元"


def row(order_no: str = ORDER_19, **kw) -> OutboxRow:
    values = {"sub_order_no": order_no + "1", "receiver_name": NAME, "receiver_phone": PHONE,
              "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": STREET,
              "supplier_sku": "0012345", "title": "保温杯 500ml", "spec": "白色", "quantity": 2,
              "remark": "", "shop": "旗舰店", "paid_at": datetime(2026, 11, 22, 16, 30, 5, tzinfo=UTC)}
    values.update(kw)
    return OutboxRow(order_no=order_no, **values)


def batch(*rows: OutboxRow) -> OutboxBatch:
    return OutboxBatch(batch_id=42, supplier_id="acme", created_at=datetime(2026, 11, 22, tzinfo=UTC),
                       file_stem="acme-20261122-170000-b000042", rows=list(rows) or [row()])


def sheet_values(path):
    wb = openpyxl.load_workbook(path)
    return wb, wb.worksheets[0]


def test_xlsx_file_name_is_stem_plus_extension(adapter):
    assert adapter.write_batch(batch()) == "acme-20261122-170000-b000042.xlsx"
    assert (adapter.outbox_dir / "acme-20261122-170000-b000042.xlsx").is_file()


def test_xlsx_19_digit_order_id_round_trips_as_a_text_cell(adapter):
    name = adapter.write_batch(batch())
    _, ws = sheet_values(adapter.outbox_dir / name)
    cell = ws["A2"]
    assert cell.value == ORDER_19
    assert cell.data_type == "s"
    assert cell.number_format == "@"


def test_xlsx_every_cell_is_text_and_quantity_is_digits(adapter):
    name = adapter.write_batch(batch())
    _, ws = sheet_values(adapter.outbox_dir / name)
    for cells in ws.iter_rows():
        for cell in cells:
            assert cell.number_format == "@"
            assert cell.value is None or cell.data_type == "s"
    assert ws["H2"].value == "2"
    assert ws["E2"].value == "0012345"  # leading zeros kept


def test_xlsx_header_row_follows_columns_and_rows_keep_batch_order(make_adapter):
    adapter = make_adapter(columns=["订单号", "数量", {"header": "付款时间", "field": "paid_at"},
                                    {"header": "店铺", "field": "shop"}])
    name = adapter.write_batch(batch(row("3"), row("1", quantity=10), row("2", paid_at=None)))
    _, ws = sheet_values(adapter.outbox_dir / name)
    assert [[c.value for c in r] for r in ws.iter_rows()] == [
        ["订单号", "数量", "付款时间", "店铺"],
        ["3", "2", "2026-11-23 00:30:05", "旗舰店"],  # paid_at in Asia/Shanghai
        ["1", "10", "2026-11-23 00:30:05", "旗舰店"],
        ["2", "2", None, "旗舰店"],
    ]
    assert ws["A1"].font.bold


def test_xlsx_value_starting_with_equals_is_text_not_a_formula(adapter):
    name = adapter.write_batch(batch(row(remark='=HYPERLINK("http://x","点我")')))
    _, ws = sheet_values(adapter.outbox_dir / name)
    assert ws["I2"].value == '=HYPERLINK("http://x","点我")'
    assert ws["I2"].data_type == "s"


def test_xlsx_control_characters_in_text_are_dropped_instead_of_failing(adapter):
    name = adapter.write_batch(batch(row(remark="请\x0b尽快\x00发货")))
    _, ws = sheet_values(adapter.outbox_dir / name)
    assert ws["I2"].value == "请尽快发货"


def test_csv_utf8_sig_starts_with_the_bom_and_holds_the_rows(make_adapter):
    adapter = make_adapter(format="csv")
    name = adapter.write_batch(batch())
    assert name == "acme-20261122-170000-b000042.csv"
    data = (adapter.outbox_dir / name).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["订单号", "收件人", "电话", "地址", "商品编码", "商品名称", "规格", "数量", "备注"]
    assert rows[1] == [ORDER_19, NAME, PHONE, STREET, "0012345", "保温杯 500ml", "白色", "2", ""]


def test_csv_gbk_is_written_as_gb18030_without_bom_and_never_fails(make_adapter):
    adapter = make_adapter(format="csv", encoding="gbk")
    name = adapter.write_batch(batch(row(receiver_name="𠮷田", remark="emoji 😀")))  # not in GBK
    data = (adapter.outbox_dir / name).read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    text = data.decode("gb18030")
    assert "订单号,收件人" in text and "𠮷田" in text and "emoji 😀" in text
    assert "订单号".encode("gbk") in data  # what Excel on Chinese Windows reads


def test_csv_quotes_cells_with_delimiters_quotes_and_newlines(make_adapter):
    adapter = make_adapter(format="csv")
    remark = '别放"发票",\n周末不收'
    name = adapter.write_batch(batch(row(remark=remark)))
    rows = list(csv.reader(io.StringIO((adapter.outbox_dir / name).read_text("utf-8-sig"), newline="")))
    assert rows[1][8] == remark


def test_csv_cell_that_excel_would_run_as_a_formula_gets_an_apostrophe(make_adapter):
    adapter = make_adapter(format="csv")
    name = adapter.write_batch(batch(row(remark="=1+cmd|' /C calc'!A0", receiver_phone="+86 138 1234 5678")))
    rows = list(csv.reader(io.StringIO((adapter.outbox_dir / name).read_text("utf-8-sig"), newline="")))
    assert rows[1][8] == "'=1+cmd|' /C calc'!A0"
    assert rows[1][2] == "+86 138 1234 5678"


def test_rewriting_the_same_batch_replaces_the_file_under_the_same_name(adapter):
    first = adapter.write_batch(batch(row("1")))
    second = adapter.write_batch(batch(row("2")))
    assert first == second
    assert sorted(p.name for p in adapter.outbox_dir.iterdir()) == [first]
    _, ws = sheet_values(adapter.outbox_dir / second)
    assert ws["A2"].value == "2"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_write_leaves_no_temporary_file(make_adapter, fmt):
    adapter = make_adapter(format=fmt)
    adapter.write_batch(batch())
    assert [p.name for p in adapter.outbox_dir.iterdir()] == [f"acme-20261122-170000-b000042.{fmt}"]


def test_write_failing_midway_keeps_the_previous_file_and_removes_the_temporary(adapter, monkeypatch):
    name = adapter.write_batch(batch(row("1")))
    before = (adapter.outbox_dir / name).read_bytes()

    def broken(table, out):
        out.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(outbox, "_write_xlsx", broken)
    with pytest.raises(OSError, match="disk full"):
        adapter.write_batch(batch(row("2")))
    assert [p.name for p in adapter.outbox_dir.iterdir()] == [name]
    assert (adapter.outbox_dir / name).read_bytes() == before


def test_temporary_file_name_is_hidden_and_not_a_finished_file(adapter, monkeypatch):
    seen = []
    real = outbox._write_xlsx

    def spy(table, out):
        seen.append(out.name)
        real(table, out)

    monkeypatch.setattr(outbox, "_write_xlsx", spy)
    adapter.write_batch(batch())
    tmp_name = seen[0].rsplit("/", 1)[-1]
    assert tmp_name == ".acme-20261122-170000-b000042.xlsx.tmp"


@pytest.mark.parametrize("stem", ["../escape", "a/b", ".hidden", ""])
def test_file_stem_that_is_not_a_plain_name_is_refused(adapter, stem):
    bad = batch()
    bad.file_stem = stem
    with pytest.raises(ValueError, match="not a plain file name"):
        adapter.write_batch(bad)


def test_write_batch_logs_no_receiver_data(make_adapter, caplog):
    caplog.set_level(logging.DEBUG)
    for fmt in ("xlsx", "csv"):
        make_adapter(format=fmt).write_batch(batch())
    assert "batch 42" in caplog.text
    for secret in (NAME, PHONE, STREET, PHONE[-4:]):
        assert secret not in caplog.text


def test_write_fsyncs_the_temporary_file_before_renaming_it(adapter, monkeypatch):
    events = []
    real_fsync, real_replace = files.os.fsync, files.os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    adapter.write_batch(batch())
    assert events[:2] == ["fsync", "replace"]


def test_file_prefix_replaces_the_supplier_id_at_the_start_of_the_name(make_adapter):
    adapter = make_adapter(file_prefix="ACME订单")
    assert adapter.write_batch(batch()) == "ACME订单-20261122-170000-b000042.xlsx"
    assert adapter.write_batch(batch()) == "ACME订单-20261122-170000-b000042.xlsx"


@pytest.mark.parametrize("value", [
    " =1+cmd|' /C calc'!A0",  # leading space
    "  @SUM(A1)",
    "\u200b=HYPERLINK(\"http://x\")",  # zero-width space
    "\ufeff+cmd",  # BOM
    "\u00ad-1+2",  # soft hyphen
    "＝1+1",  # full-width equals
    "＋cmd|' /C calc'!A0",
    "－1+cmd",
    "＠SUM(A1)",
    "﹦1+1",  # small form
    "\u3000=1+1",  # ideographic space
    "\t=1+1",
    "\r=1+1",
])
def test_csv_formula_hidden_behind_spaces_invisible_or_full_width_signs_gets_an_apostrophe(value):
    assert outbox.csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["+86 138 1234 5678", " +86 138 1234 5678", "-12", "＋86 138", "北京 = 首都", ""])
def test_csv_numbers_phones_and_plain_text_stay_as_they_are(value):
    assert outbox.csv_safe(value) == value


@pytest.mark.parametrize("remark", ["＝HYPERLINK(\"http://x\")", " =1+1", "\u200b@SUM(A1)"])
def test_xlsx_cells_are_text_whatever_sign_they_start_with(adapter, remark):
    name = adapter.write_batch(batch(row(remark=remark)))
    _, ws = sheet_values(adapter.outbox_dir / name)
    assert ws["I2"].value == remark
    assert ws["I2"].data_type == "s"


def cancel_batch(*rows: OutboxRow) -> OutboxBatch:
    b = batch(*rows)
    return OutboxBatch(b.batch_id, b.supplier_id, b.created_at, b.file_stem + "-cancel", b.rows, kind="cancel")


def test_cancellation_batch_starts_with_取消_and_marks_every_row_取消(adapter):
    name = adapter.write_batch(cancel_batch(row("1", remark="取消订单，请勿发货"), row("2")))
    assert name == "取消-acme-20261122-170000-b000042-cancel.xlsx"
    _wb, ws = sheet_values(adapter.outbox_dir / name)
    assert ws.title == "取消订单"
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert values[0][:2] == ["操作", "订单号"]
    assert [v[0] for v in values[1:]] == ["取消", "取消"]
    assert [v[1] for v in values[1:]] == ["1", "2"]


def test_cancellation_csv_has_the_操作_column_too(make_adapter):
    adapter = make_adapter(format="csv", file_prefix="ACME订单")
    name = adapter.write_batch(cancel_batch(row("1")))
    assert name.startswith("取消-ACME订单-")
    rows = list(csv.reader(io.StringIO((adapter.outbox_dir / name).read_text("utf-8-sig"), newline="")))
    assert rows[0][0] == "操作" and rows[1][:2] == ["取消", "1"]


def test_order_batch_has_no_操作_column(adapter):
    name = adapter.write_batch(batch(row("1")))
    assert not name.startswith("取消")
    _, ws = sheet_values(adapter.outbox_dir / name)
    assert ws["A1"].value == "订单号"


def test_batch_file_is_created_0600_whatever_the_umask(adapter):
    old = os.umask(0o022)
    try:
        name = adapter.write_batch(batch())
    finally:
        os.umask(old)
    assert stat.S_IMODE((adapter.outbox_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(adapter.outbox_dir.stat().st_mode) == 0o700


def test_shared_folder_modes_come_from_the_config(make_adapter):
    old = os.umask(0o077)
    try:
        adapter = make_adapter(file_mode="0640", dir_mode=0o750)
        name = adapter.write_batch(batch())
    finally:
        os.umask(old)
    assert stat.S_IMODE((adapter.outbox_dir / name).stat().st_mode) == 0o640
    assert stat.S_IMODE(adapter.outbox_dir.stat().st_mode) == 0o750


def test_link_planted_at_the_temporary_name_is_replaced_not_followed(adapter, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (adapter.outbox_dir / ".acme-20261122-170000-b000042.xlsx.tmp").symlink_to(victim)
    name = adapter.write_batch(batch())
    assert victim.read_text() == "keep me"
    assert (adapter.outbox_dir / name).is_file() and not (adapter.outbox_dir / name).is_symlink()
