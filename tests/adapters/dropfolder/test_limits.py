"""limits: the zip checks before openpyxl opens a workbook, and capped CSV lines."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from syncd.adapters.dropfolder.config import InboxLimits
from syncd.sheets.limits import (
    MB,
    InboxLimitError,
    capped_lines,
    check_central_directory,
    check_declared,
    check_members,
)

LIMITS = InboxLimits()


def archive(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def scan(members: dict[str, bytes], limits: InboxLimits = LIMITS) -> None:
    with zipfile.ZipFile(archive(members)) as zf:
        check_members(zf, limits)


def test_text_longer_than_a_cell_split_across_chunks_is_still_caught(monkeypatch):
    monkeypatch.setattr("syncd.sheets.limits.CHUNK", 1000)  # the run spans a dozen chunks
    text = b"<sst><si><t>" + b"x" * 10_000 + b"</t></si></sst>"
    with pytest.raises(InboxLimitError, match="more than 2000 characters"):
        scan({"xl/sharedStrings.xml": text})


def test_cell_within_the_limit_passes():
    scan({"xl/sharedStrings.xml": b"<sst><si><t>" + "长".encode() * 2000 + b"</t></si></sst>"})


@pytest.mark.parametrize("marker", [b"<!DOCTYPE x [", b"<!ENTITY a 'b'>"])
def test_xml_with_a_dtd_is_refused(marker):
    with pytest.raises(InboxLimitError, match="DTD"):
        scan({"xl/workbook.xml": b"<?xml version='1.0'?>" + marker + b"<workbook/>"})


def test_rows_counted_across_chunks(monkeypatch):
    monkeypatch.setattr("syncd.sheets.limits.CHUNK", 64)
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(1, 102))
    with pytest.raises(InboxLimitError, match="more than 100 rows"):
        scan({"xl/worksheets/sheet1.xml": b"<worksheet><sheetData>" + rows + b"</sheetData></worksheet>"},
             InboxLimits(max_rows=100))


def test_namespaced_rows_are_counted_too():
    rows = b"".join(b'<x:row r="%d"/>' % i for i in range(1, 12))
    with pytest.raises(InboxLimitError, match="more than 10 rows"):
        scan({"xl/worksheets/sheet1.xml": b"<x:worksheet><x:sheetData>" + rows + b"</x:sheetData></x:worksheet>"},
             InboxLimits(max_rows=10, max_cells=1000))


def test_declared_size_over_the_part_limit_is_refused_before_reading():
    info = zipfile.ZipInfo("xl/styles.xml")
    info.file_size, info.compress_size = 9 * MB, 9 * MB
    with pytest.raises(InboxLimitError, match="unpacks to 9 MB, over the limit of 8 MB"):
        check_declared([info], LIMITS)


def test_small_members_are_not_judged_by_their_ratio():
    info = zipfile.ZipInfo("xl/workbook.xml")
    info.file_size, info.compress_size = 500_000, 10
    check_declared([info], LIMITS)


def test_encrypted_member_is_refused():
    info = zipfile.ZipInfo("xl/workbook.xml")
    info.flag_bits |= 0x1
    with pytest.raises(InboxLimitError, match="encrypted"):
        check_declared([info], LIMITS)


def _with_entries(data: bytes, entries: int) -> bytes:
    at = data.rfind(b"PK\x05\x06")
    head = data[:at + 8]
    return head + struct.pack("<HH", entries, entries) + data[at + 12:]


@pytest.mark.parametrize(("entries", "message"), [(0xFFFF, "ZIP64"), (20_000, "20000 parts")])
def test_table_of_contents_too_large_to_read_is_refused(entries, message):
    data = _with_entries(archive({"a.xml": b"<a/>"}).getvalue(), entries)
    with pytest.raises(InboxLimitError, match=message):
        check_central_directory(io.BytesIO(data), len(data))


def test_archive_without_table_of_contents_is_a_damaged_file():
    data = archive({"a.xml": b"<a/>"}).getvalue()[:-22]
    with pytest.raises(zipfile.BadZipFile):
        check_central_directory(io.BytesIO(data), len(data))


def test_capped_lines_keeps_line_ends_and_refuses_a_longer_line():
    text = io.StringIO("a,b\r\nc,d\n" + "x" * 11 + "\n", newline="")
    lines = capped_lines(text, 10)
    assert [next(lines), next(lines)] == ["a,b\r\n", "c,d\n"]
    with pytest.raises(InboxLimitError, match="line 3 is longer than 10 characters"):
        next(lines)


def test_elements_outside_rows_do_not_count_as_cells_of_a_row():
    merges = b"".join(b'<mergeCell ref="A%d:B%d"/>' % (i, i) for i in range(1, 2000))
    cols = b"".join(b'<col min="%d" max="%d" width="9"/>' % (i, i) for i in range(1, 500))
    sheet = (b"<worksheet><cols>" + cols + b"</cols><sheetData><row r=\"1\"><c r=\"A1\"><v>1</v></c></row>"
             b"<row r=\"2\"/></sheetData><mergeCells>" + merges + b"</mergeCells></worksheet>")
    scan({"xl/worksheets/sheet1.xml": sheet})


def test_cells_of_one_row_are_counted_across_chunks(monkeypatch):
    monkeypatch.setattr("syncd.sheets.limits.CHUNK", 50)
    cells = b"".join(b'<c r="A1"><v>%d</v></c>' % i for i in range(200))
    with pytest.raises(InboxLimitError, match="more than 64 cells"):
        scan({"xl/worksheets/sheet1.xml": b'<worksheet><sheetData><row r="1">' + cells + b"</row></sheetData>"
                                           b"</worksheet>"})


@pytest.mark.parametrize("part", ["xl/styles.xml", "xl/charts/chart1.xml"])
def test_elements_are_counted_in_every_part_openpyxl_may_read_whole(part):
    scan({part: b"<root>" + b"<xf/>" * 19_000 + b"</root>"})
    with pytest.raises(InboxLimitError, match="more than 20000 elements"):
        scan({part: b"<root>" + b"<xf/>" * 20_001 + b"</root>"})
