"""Bounds checked before a spreadsheet is parsed (a supplier's reply, the routes table): the zip structure of an
.xlsx, and CSV line lengths.

A supplier's file is outside input: a 1.2 MB .xlsx can unpack to gigabytes (a zip bomb), one shared
string can be 1.5 GB, one row can hold millions of cells. Everything here reads in fixed-size chunks, so
checking costs a few MB of memory whatever the file holds, and openpyxl is only given an archive that
passed. Each failed check raises :class:`InboxLimitError` with words a supplier can act on.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO, TextIO

from pydantic import Field

from syncd.config.models import StrictModel

MB = 1024 * 1024
CHUNK = 1 << 20
MAX_MEMBERS = 10_000
MAX_CENTRAL_DIRECTORY = 2 * MB  # bytes; about 20,000 entries: ZipFile() reads it whole
RATIO_FROM = MB  # members smaller than this uncompressed are not judged by their ratio
PART_ELEMENTS = 20_000  # elements of a part openpyxl makes objects of (styles: ~1 KB each); Excel's stay far below
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)
_STRINGS = re.compile(r"xl/sharedStrings\.xml", re.IGNORECASE)
_XML = (".xml", ".rels", ".vml")
_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])")
_ROW_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row\s*>")
_STRING_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_DTD = (b"<!DOCTYPE", b"<!ENTITY")


class InboxLimits(StrictModel):
    """Bounds on one reply file, checked before and while it is read; a file over one is rejected.

    The defaults keep the memory of reading any single file under 100 MB (tests/hostile measure it).
    """

    max_file_mb: Annotated[float, Field(gt=0, le=200)] = 20
    """Size of the file as dropped."""
    max_unpacked_mb: Annotated[float, Field(gt=0, le=1000)] = 100
    """.xlsx: all members of the zip archive together, uncompressed."""
    max_part_mb: Annotated[float, Field(gt=0, le=200)] = 8
    """.xlsx: each member other than a worksheet (shared strings, styles…), uncompressed; read whole."""
    max_ratio: Annotated[float, Field(ge=10, le=10_000)] = 200
    """.xlsx: uncompressed / compressed size of a member (a zip bomb compresses 1000× and more)."""
    max_rows: Annotated[int, Field(ge=1, le=1_000_000)] = 20_000
    """Rows of the sheet read, empty ones included."""
    max_columns: Annotated[int, Field(ge=3, le=1000)] = 64
    """Cells of one row (header row included)."""
    max_cells: Annotated[int, Field(ge=1000, le=50_000_000)] = 400_000
    """Cells kept from the whole file (rows × columns of the header); what reading costs grows with it."""
    max_cell_chars: Annotated[int, Field(ge=64, le=100_000)] = 2000
    """Characters of one cell."""
    max_error_rows: Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Rejected rows: beyond this the file is wrong as a whole (wrong columns, wrong file), not row by row."""


class InboxLimitError(ValueError):
    """A reply file over one of the supplier's :class:`InboxLimits`; the message says which and why."""


def _mb(n: float) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def check_central_directory(f: BinaryIO, size: int) -> None:
    """The archive's table of contents is small enough to be read (checked before ``zipfile`` reads it).

    BadZipFile when there is none (a damaged or cut-off file)."""
    tail_size = min(size, _EOCD_SIZE + 65_535)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        raise zipfile.BadZipFile("no table of contents at the end of the archive (damaged or cut off)")
    entries, cd_size = struct.unpack("<10xHI6x", tail[at:at + _EOCD_SIZE])[0:2]
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        raise InboxLimitError("the workbook is a ZIP64 archive (over 4 GB or 65,535 parts): too large for a reply")
    if entries > MAX_MEMBERS or cd_size > MAX_CENTRAL_DIRECTORY:
        raise InboxLimitError(f"the workbook has {entries} parts; a reply has at most {MAX_MEMBERS}")


def _member_cap(info: zipfile.ZipInfo, limits: InboxLimits) -> int:
    if _SHEET.fullmatch(info.filename):
        return int(limits.max_unpacked_mb * MB)
    if info.filename.lower().endswith(_XML):
        return int(limits.max_part_mb * MB)  # read whole by openpyxl: shared strings, styles, workbook
    return int(limits.max_unpacked_mb * MB)  # pictures and the like: never parsed in read-only mode


def check_declared(infos: list[zipfile.ZipInfo], limits: InboxLimits) -> None:
    """Declared sizes and compression ratios of every member, before anything is decompressed."""
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise InboxLimitError("the workbook is encrypted: save it again without a password")
        cap = _member_cap(info, limits)
        if info.file_size > cap:
            raise InboxLimitError(f"part {info.filename!r} of the workbook unpacks to {_mb(info.file_size)}, "
                                  f"over the limit of {_mb(cap)}")
        if info.file_size >= RATIO_FROM and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise InboxLimitError(f"part {info.filename!r} of the workbook is compressed {ratio:.0f} to 1 "
                                  f"(limit {limits.max_ratio:.0f}): a zip bomb, not a spreadsheet")
        total += info.file_size
    if total > limits.max_unpacked_mb * MB:
        raise InboxLimitError(f"the workbook unpacks to {_mb(total)}, over the limit of "
                              f"{_mb(limits.max_unpacked_mb * MB)}")


def _opened(xml: bytes) -> int:
    """Elements that start in ``xml`` (whole tags only)."""
    return xml.count(b"<") - xml.count(b"</") - xml.count(b"<?") - xml.count(b"<!")


class _RowCounter:
    """Rows of a worksheet, elements inside its current row and in the whole sheet, across chunks.

    openpyxl builds a row whole before yielding it and, for a sheet without a ``<dimension>``, keeps an
    (emptied) element per row while it looks for one: both grow with what is counted here. What lies
    outside rows (column widths, merged cells, hyperlinks) counts only toward the whole sheet.
    """

    def __init__(self, name: str, limits: InboxLimits) -> None:
        self.name = name
        self.max_rows = limits.max_rows
        self.max_columns = limits.max_columns
        self.max_row_elements = limits.max_columns * 4 + 64  # a cell is <c>, <v>, maybe <f> or <is><t>
        self.max_elements = limits.max_cells * 4 + limits.max_rows * 2 + 10_000
        self.rows = 0
        self.in_row = False
        self.row_elements = 0
        self.elements = 0

    def feed(self, body: bytes) -> None:
        """Count one more piece of the sheet (whole tags only)."""
        for i, seg in enumerate(_ROW_START.split(body)):
            if i:  # a <row> starts here; <row .../> is an empty one
                self.rows += 1
                if self.rows > self.max_rows:
                    raise InboxLimitError(f"{self.name!r} has more than {self.max_rows} rows; split the file")
                close = seg.find(b">")
                self.in_row = not (close > 0 and seg[close - 1:close] == b"/")
                self.row_elements = 0
                self.elements += 1
            self.elements += _opened(seg)
            if self.in_row:
                end = _ROW_END.search(seg)
                self.row_elements += _opened(seg if end is None else seg[:end.start()])
                self.in_row = end is None
                if self.row_elements > self.max_row_elements:
                    raise InboxLimitError(f"a row of {self.name!r} has more than {self.max_columns} cells; a reply "
                                          "needs a few columns (order number, carrier, tracking number)")
        if self.elements > self.max_elements:
            raise InboxLimitError(f"{self.name!r} has more than {self.max_elements} elements; split the file")


def check_members(zf: zipfile.ZipFile, limits: InboxLimits) -> None:
    """Decompress every member through a capped stream: actual sizes (whatever the directory declares),
    CRCs, and what openpyxl would have to hold at once."""
    total = 0
    total_cap = int(limits.max_unpacked_mb * MB)
    for info in zf.infolist():
        if info.is_dir():
            continue
        cap = _member_cap(info, limits)
        is_xml = info.filename.lower().endswith(_XML)
        scan = _Scanner(info.filename, limits) if is_xml else None
        size = 0
        with zf.open(info) as member:
            for chunk in iter(lambda m=member: m.read(CHUNK), b""):  # type: ignore[misc]
                size += len(chunk)
                total += len(chunk)
                if size > cap or total > total_cap:
                    raise InboxLimitError(f"part {info.filename!r} of the workbook unpacks to more than "
                                          f"{_mb(min(cap, total_cap))}")
                if scan is not None:
                    scan.feed(chunk)


class _Scanner:
    """Streams one XML member and bounds what openpyxl would hold at once.

    - the longest text or tag (a cell, a shared string): text cannot contain ``<``, so the longest run of
      bytes without one bounds every text node and every tag;
    - in a worksheet, rows and the elements of one row (:class:`_RowCounter`);
    - in the shared strings, their number (openpyxl keeps them all); in any other part, its elements
      (openpyxl makes an object of each style, or of each point of a chartsheet's chart);
    - no DTD (entity expansion).
    """

    def __init__(self, name: str, limits: InboxLimits) -> None:
        self.name = name
        self.max_chars = limits.max_cell_chars
        self.max_run = limits.max_cell_chars * 4 + 1024  # UTF-8 bytes of the longest cell, plus its tag
        self.rows = _RowCounter(name, limits) if _SHEET.fullmatch(name) else None
        self.is_strings = bool(_STRINGS.fullmatch(name))
        # Every other part may be read whole: styles, workbook, theme, and a chartsheet's charts (openpyxl
        # reads those even in read-only mode), each element an object.
        self.count_elements = self.rows is None and not self.is_strings
        self.max_strings = limits.max_cells // 2  # openpyxl keeps each as a str: ~60 bytes even when tiny
        self.elements = 0
        self.run = 0
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        """Check one more chunk of the member."""
        pieces = chunk.split(b"<")
        first = self.run + len(pieces[0])
        longest = max(first, max(map(len, pieces[1:]), default=0))
        self.run = first if len(pieces) == 1 else len(pieces[-1])
        if longest > self.max_run:
            raise InboxLimitError(f"part {self.name!r} of the workbook holds a text or cell of more than "
                                  f"{self.max_chars} characters")
        # Markers are counted in whole tags: a tag cut by the chunk's end waits for the next chunk.
        body = self.pending + chunk
        cut = body.rfind(b"<")
        if cut >= 0 and b">" not in body[cut:]:
            body, self.pending = body[:cut], body[cut:]
        else:
            self.pending = b""
        if any(d in body for d in _DTD):
            raise InboxLimitError(f"part {self.name!r} of the workbook declares a DTD; Excel never writes one")
        if self.rows is not None:
            self.rows.feed(body)
        elif self.is_strings:
            self.elements += len(_STRING_START.findall(body))
            if self.elements > self.max_strings:
                raise InboxLimitError(f"the workbook has more than {self.max_strings} different texts; save the "
                                      "sheet alone as a new .xlsx")
        elif self.count_elements:
            self.elements += _opened(body)
            if self.elements > PART_ELEMENTS:
                raise InboxLimitError(f"part {self.name!r} of the workbook has more than {PART_ELEMENTS} "
                                      "elements; save the sheet alone as a new .xlsx")


def capped_lines(text: TextIO, max_chars: int) -> Iterator[str]:
    """The lines of ``text`` (line ends kept, as ``csv`` wants them); InboxLimitError on a longer line."""
    line_no = 0
    while True:
        line = text.readline(max_chars + 1)
        if not line:
            return
        line_no += 1
        if len(line) > max_chars:
            raise InboxLimitError(f"line {line_no} is longer than {max_chars} characters")
        yield line


__all__ = ["InboxLimitError", "capped_lines", "check_central_directory", "check_declared", "check_members"]
