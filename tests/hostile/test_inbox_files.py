"""Attacks through the drop folder's inbox: crafted spreadsheets, links, special files, log injection.

Each test drops a hostile file where a supplier would and checks that syncd reads it within bounded
memory, refuses it with a reason a person can act on (``rejected/<name>.reason.txt``), never follows a
link out of the folder, and goes on with the rest of the inbox.
"""

from __future__ import annotations

import logging
import os
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.adapters.dropfolder import create
from syncd.adapters.dropfolder import files as hostile_files
from syncd.adapters.dropfolder.adapter import DropFolderSupplier
from syncd.adapters.dropfolder.config import DropFolderConfig
from syncd.domain import InboxFile
from syncd.logs import TextFormatter
from syncd.registry import AdapterContext

from . import inbox_files as hostile

MB = 1024 * 1024
PEAK_BUDGET = 100 * MB
SETTLED_AGE = 3600


@pytest.fixture
def adapter(tmp_path: Path) -> DropFolderSupplier:
    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": "out", "inbox_dir": "in"})
    return create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]


def _settle(path: Path) -> None:
    import time

    old = time.time() - SETTLED_AGE
    os.utime(path, (old, old), follow_symlinks=False)


def _listed(adapter: DropFolderSupplier, name: str) -> InboxFile:
    from syncd import clock

    [file] = [f for f in adapter.list_inbox(clock.now()) if f.name == name]
    return file


def _read_and_finish(adapter: DropFolderSupplier, path: Path,
                     measure: bool = True) -> tuple[str | None, int, int, int, Path]:
    """Parse (measuring Python's peak memory unless told not to: tracing slows a scan of many small
    pieces tenfold) and finish one inbox file as collect does."""
    _settle(path)
    file = _listed(adapter, path.name)
    if measure:
        tracemalloc.start()
    try:
        parsed = adapter.parse_inbox(file)
        peak = tracemalloc.get_traced_memory()[1] if measure else 0
    finally:
        tracemalloc.stop()
    moved = Path(adapter.finish_inbox(file, parsed.errors, parsed.file_error))
    return parsed.file_error, len(parsed.rows), len(parsed.errors), peak, moved


def _assert_rejected(adapter: DropFolderSupplier, moved: Path, error: str | None, *words: str) -> None:
    assert error is not None
    for word in words:
        assert word in error
    assert moved.parent == adapter.inbox_dir / "rejected"
    reason = moved.with_name(moved.name + ".reason.txt").read_text(encoding="utf-8-sig")
    assert error in reason


def test_zip_bomb_xlsx_is_rejected_before_it_is_unpacked(adapter):
    path = hostile.zip_bomb_xlsx(adapter.inbox_dir / "回单.xlsx", unpacked_mb=120)
    assert path.stat().st_size < 2 * MB
    error, ok, bad, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "over the limits", "xl/worksheets/sheet1.xml", "unpacks to")
    assert (ok, bad) == (0, 0)
    assert peak < 10 * MB


def test_zip_bomb_under_the_size_limit_is_rejected_by_its_compression_ratio(adapter):
    path = hostile.zip_bomb_xlsx(adapter.inbox_dir / "r.xlsx", unpacked_mb=20)
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "compressed", "zip bomb")


def _lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite a member's uncompressed size in its local header and in the central directory."""
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    at = int.from_bytes(data[eocd + 16:eocd + 20], "little")
    while data[at:at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = (int.from_bytes(data[at + o:at + o + 2], "little") for o in (28, 30, 32))
        if data[at + 46:at + 46 + name_len] == member.encode():
            data[at + 24:at + 28] = declared.to_bytes(4, "little")
            local = int.from_bytes(data[at + 42:at + 46], "little")
            data[local + 22:local + 26] = declared.to_bytes(4, "little")
        at += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))


def test_member_whose_declared_size_lies_is_caught_by_the_capped_read(adapter):
    path = hostile.bad_rows_xlsx(adapter.inbox_dir / "r.xlsx", rows=3000)
    _lie_about_size(path, "xl/worksheets/sheet1.xml", 1000)
    error, ok, bad, _peak, moved = _read_and_finish(adapter, path)
    assert error is not None and error.startswith("cannot read the workbook")
    assert (ok, bad) == (0, 0)
    assert moved.parent.name == "rejected"


def test_giant_shared_string_is_rejected_by_its_declared_size(adapter):
    path = hostile.huge_shared_string_xlsx(adapter.inbox_dir / "r.xlsx", string_mb=64)
    error, *_rest, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "xl/sharedStrings.xml", "unpacks to")
    assert peak < 10 * MB


def test_shared_string_longer_than_a_cell_may_be_is_rejected_before_openpyxl_loads_it(adapter, monkeypatch):
    import openpyxl

    def never(*_a, **_k):
        raise AssertionError("openpyxl must not open a workbook over the limits")

    monkeypatch.setattr("syncd.sheets.decode.load_workbook", never)
    assert openpyxl  # the real loader is replaced above
    path = hostile.huge_shared_string_xlsx(adapter.inbox_dir / "r.xlsx", string_mb=2, varied=True)
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "xl/sharedStrings.xml", "text or cell of more than 2000 characters")


def test_styles_part_of_tens_of_thousands_of_formats_is_rejected_before_openpyxl_loads_it(adapter):
    path = hostile.many_styles_xlsx(adapter.inbox_dir / "r.xlsx", styles=30_000)
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "xl/styles.xml", "more than 20000 elements")


def test_shared_strings_of_hundreds_of_thousands_of_tiny_texts_are_rejected(adapter):
    path = hostile.tiny_strings_xlsx(adapter.inbox_dir / "r.xlsx", strings_mb=5)
    error, *_rest, moved = _read_and_finish(adapter, path, measure=False)
    _assert_rejected(adapter, moved, error, "more than 200000 different texts")


def test_row_of_thousands_of_cells_is_rejected_before_openpyxl_builds_it(adapter):
    path = hostile.wide_row_xlsx(adapter.inbox_dir / "r.xlsx", cells=5000)
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "more than 64 cells")


def test_sheet_of_more_rows_than_the_limit_is_rejected_while_scanning(adapter):
    path = hostile.dense_sheet_xlsx(adapter.inbox_dir / "r.xlsx", unpacked_mb=8)
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "more than 20000 rows")


def test_49_mb_csv_is_rejected_by_size_without_being_read(adapter):
    path = hostile.huge_csv(adapter.inbox_dir / "reply.csv", size_mb=49)
    error, ok, bad, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "over the limit of 20 MB")
    assert (ok, bad) == (0, 0)
    assert peak < 2 * MB


def test_sparse_file_of_30_gb_is_rejected_without_being_read(adapter, monkeypatch):
    path = adapter.inbox_dir / "reply.csv"
    with open(path, "wb") as f:
        f.write("订单号,快递公司,快递单号\n".encode())
    os.truncate(path, 30 * 1024 * MB)
    reads = []
    real = hostile_files.hash_stream
    monkeypatch.setattr(hostile_files, "hash_stream", lambda f: reads.append(1) or real(f))
    monkeypatch.setattr("syncd.adapters.dropfolder.inbox.hash_stream", lambda f: reads.append(1) or real(f))
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "over the limit of 20 MB")
    assert reads == []


def test_49_mb_csv_of_bad_rows_streams_and_stops_at_the_error_row_limit(tmp_path):
    """With the size limit raised above the file, reading streams: memory stays flat (was 2.7 GB and
    4.7 million error rows)."""
    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": "out",
                                              "inbox_dir": "in", "limits": {"max_file_mb": 64}})
    adapter = create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]
    path = hostile.huge_csv(adapter.inbox_dir / "reply.csv", size_mb=49)
    error, _ok, _bad, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "more than 1000 rows are wrong", "row 2")
    assert peak < PEAK_BUDGET


def test_49_mb_csv_of_valid_rows_stops_at_the_row_limit(tmp_path):
    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": "out",
                                              "inbox_dir": "in", "limits": {"max_file_mb": 64}})
    adapter = create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]
    path = hostile.valid_csv(adapter.inbox_dir / "reply.csv", size_mb=49)
    error, _ok, _bad, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "more than 20000 rows")
    assert peak < PEAK_BUDGET


def test_one_line_csv_is_rejected_at_the_line_limit(tmp_path):
    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": "out",
                                              "inbox_dir": "in", "limits": {"max_file_mb": 64}})
    adapter = create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]
    path = hostile.one_line_csv(adapter.inbox_dir / "reply.csv", size_mb=20)
    error, *_rest, peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "line 2 is longer than")
    assert peak < 10 * MB


def test_xlsx_with_thousands_of_bad_rows_is_rejected_as_a_whole(adapter):
    path = hostile.bad_rows_xlsx(adapter.inbox_dir / "r.xlsx", rows=3000)
    error, ok, bad, _peak, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "more than 1000 rows are wrong", "unknown carrier")
    assert (ok, bad) == (0, 0)


def test_garbage_bytes_named_xlsx_are_rejected_without_raising(adapter):
    path = adapter.inbox_dir / "reply.xlsx"
    path.write_bytes(b"PK\x03\x04" + os.urandom(4000))
    error, *_rest, moved = _read_and_finish(adapter, path)
    _assert_rejected(adapter, moved, error, "cannot read the workbook")


def test_rows_at_the_default_limits_are_all_read_within_the_memory_budget(adapter):
    path = hostile.rows_at_limit_csv(adapter.inbox_dir / "r.csv", rows=6000, columns=64)
    error, ok, bad, peak, moved = _read_and_finish(adapter, path)
    assert (error, ok, bad) == (None, 6000, 0)
    assert moved.parent.name == "processed"
    assert peak < PEAK_BUDGET


def test_workbook_at_every_default_limit_at_once_is_read_in_under_100_mb_of_process_memory(tmp_path):
    """Measured as a container sees it: the peak RSS of a fresh process, interpreter and imports included."""
    path = hostile.everything_at_limit_xlsx(tmp_path / "回单.xlsx")
    result = hostile.measure_in_child(path)
    assert result["error"] is None and result["rows"] + result["rejected"] == 6000
    assert result["maxrss_mb"] < 100


def test_a_rejected_file_does_not_stop_the_rest_of_the_inbox(adapter):
    hostile.zip_bomb_xlsx(adapter.inbox_dir / "a-bomb.xlsx", unpacked_mb=120)
    good = adapter.inbox_dir / "b-good.csv"
    good.write_text("订单号,快递公司,快递单号\n6900000000000000001,中通,73100000000001\n", encoding="utf-8")
    for p in adapter.inbox_dir.iterdir():
        _settle(p)
    from syncd import clock

    results = {}
    for file in adapter.list_inbox(clock.now()):
        parsed = adapter.parse_inbox(file)
        results[file.name] = (parsed.file_error is None, len(parsed.rows))
        adapter.finish_inbox(file, parsed.errors, parsed.file_error)
    assert results == {"a-bomb.xlsx": (False, 0), "b-good.csv": (True, 1)}
    assert not [p for p in adapter.inbox_dir.iterdir() if p.is_file()]


# ---- links and special files ----------------------------------------------------------------------


def test_symlink_to_a_file_outside_is_never_read_and_moved_aside_as_a_link(adapter, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("订单号,快递公司,快递单号\n6900000000000000001,张三 13800138000,北京市\n", encoding="utf-8")
    link = adapter.inbox_dir / "reply.csv"
    link.symlink_to(secret)
    error, ok, bad, _peak, moved = _read_and_finish(adapter, link)
    assert error is not None and "symbolic link" in error
    assert (ok, bad) == (0, 0)
    assert moved.is_symlink() and moved.parent.name == "rejected"
    assert secret.read_text(encoding="utf-8").startswith("订单号")  # untouched, still there
    written = "".join(p.read_text(encoding="utf-8-sig") for p in moved.parent.iterdir() if not p.is_symlink())
    assert "13800138000" not in written and "张三" not in written


def test_fifo_in_the_inbox_is_rejected_without_blocking(adapter):
    fifo = adapter.inbox_dir / "reply.csv"
    os.mkfifo(fifo)
    error, *_rest, moved = _read_and_finish(adapter, fifo)
    assert error is not None and "fifo" in error
    assert moved.parent.name == "rejected"


def test_processed_folder_replaced_by_a_link_is_refused(adapter, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (adapter.inbox_dir / "processed").symlink_to(outside)
    path = adapter.inbox_dir / "r.csv"
    path.write_text("订单号,快递公司,快递单号\n6900000000000000001,中通,73100000000001\n", encoding="utf-8")
    _settle(path)
    file = _listed(adapter, "r.csv")
    parsed = adapter.parse_inbox(file)
    with pytest.raises(OSError, match="symbolic link"):
        adapter.finish_inbox(file, parsed.errors, parsed.file_error)
    assert list(outside.iterdir()) == []
    assert path.exists()


# ---- log injection ----------------------------------------------------------------------------------


def test_file_name_with_a_newline_cannot_forge_log_lines(adapter, caplog):
    name = "x.csv\n2026-12-06 03:00:00,000 ERROR   syncd.collect: forged.csv"
    path = adapter.inbox_dir / name
    path.write_text("订单号,快递公司,快递单号\n6900000000000000001,中通,73100000000001\n", encoding="utf-8")
    with caplog.at_level(logging.DEBUG):
        _read_and_finish(adapter, path)
    rendered = [TextFormatter().format(r) for r in caplog.records]
    assert rendered and all("\n" not in line for line in rendered)
    assert any("\\n2026-12-06" in line for line in rendered)
    raw = [r.getMessage() for r in caplog.records]
    assert all("\n" not in m for m in raw)  # quoted with %r at the source too




# ---- through the collect stage: the alert, and the rest of the inbox --------------------------------


def test_collect_given_a_zip_bomb_rejects_it_with_an_alert_and_imports_the_next_file(db, tmp_path):
    from sqlalchemy import select

    from syncd import clock
    from syncd.store.models import Alert, InboxFileRecord, Shipment
    from tests.fakes import make_order
    from tests.stages.harness import build

    h = build(db, tmp_path)
    h.shop.put(make_order("1301", clock.now() - timedelta(minutes=5)))
    h.cycle()
    inbox = h.inbox("acme")
    hostile.zip_bomb_xlsx(inbox / "a-回单.xlsx", unpacked_mb=120)
    _settle(inbox / "a-回单.xlsx")
    h.reply("acme", "b.csv", [("1301", "中通", "ZT1301")], age=3000)
    assert h.stage("collect").ok
    assert h.stage("watch").ok
    with db.begin() as s:
        assert list(s.scalars(select(Shipment.tracking_no))) == ["ZT1301"]
        record = s.scalars(select(InboxFileRecord).where(InboxFileRecord.file_name == "a-回单.xlsx")).one()
        assert "over the limits" in (record.file_error or "")
        [alert] = s.scalars(select(Alert).where(Alert.rule == "supplier_file_rejected", Alert.open.is_(True)))
        assert "a-回单.xlsx" in alert.title
    assert (inbox / "rejected" / "a-回单.xlsx.reason.txt").is_file()
    assert not (inbox / "a-回单.xlsx").exists()
