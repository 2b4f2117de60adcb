"""Reading a reply file as a stream of rows, within the supplier's :class:`InboxLimits`.

CSV is decoded line by line (each line capped) and tried in each encoding and delimiter until a header
row appears; an .xlsx is checked as a zip archive (:mod:`limits`) before openpyxl opens it read-only,
and its rows are streamed. Either returns a :class:`ParsedInbox` (a file error as ``file_error``) or
raises :class:`InboxLimitError`.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, BinaryIO, TypeVar

from openpyxl import load_workbook

from syncd.adapters.dropfolder.config import InboxLimits
from syncd.adapters.dropfolder.limits import (
    InboxLimitError,
    capped_lines,
    check_central_directory,
    check_declared,
    check_members,
)
from syncd.adapters.dropfolder.rows import HEADER_SCAN_ROWS, find_header, no_header_message, parse_stream
from syncd.adapters.dropfolder.stockfile import find_stock_header, no_stock_header_message, parse_stock_stream
from syncd.domain import ParsedInbox

CSV_ENCODINGS = ("utf-8-sig", "gb18030", "big5")  # strict UTF-8 first: almost any bytes decode as GB18030
CSV_DELIMITERS = (",", "\t", ";")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
T = TypeVar("T")


def _error(message: str) -> ParsedInbox:
    return ParsedInbox(rows=[], errors=[], file_error=message)


HeaderFound = Callable[[Sequence[Sequence[Any]]], bool]
"""Whether the first rows of a table (up to HEADER_SCAN_ROWS) hold the header row the reader looks for."""


def decode_csv(f: BinaryIO, limits: InboxLimits, found: HeaderFound, read: Callable[[Iterator[Sequence[Any]]], T],
               no_header: str) -> T | str:
    """``read(rows)`` of a CSV file, in the first encoding and delimiter whose first rows ``found`` a header;
    else the error text (``no_header`` when the text decodes but no header appears). Shared by the inbox
    and the routes table (syncd/config), so both read what sellers' and suppliers' Excel and WPS write."""
    f.seek(0)
    # Excel's "Unicode text" is UTF-16 with a BOM; nothing else starts with these bytes.
    encodings = ("utf-16",) if f.read(2).startswith(_UTF16_BOMS) else CSV_ENCODINGS
    max_line = limits.max_columns * (limits.max_cell_chars + 3)
    decoded = False
    csv_error: str | None = None
    for encoding in encodings:
        for delimiter in CSV_DELIMITERS:
            f.seek(0)
            text = io.TextIOWrapper(f, encoding=encoding, newline="")
            try:
                reader = csv.reader(capped_lines(text, max_line), delimiter=delimiter)
                head = list(islice(reader, HEADER_SCAN_ROWS))
                if not found(head):
                    decoded = True
                    continue
                return read(chain(head, reader))
            except UnicodeDecodeError:
                break  # another encoding; a later row of a file may be what fails to decode
            except csv.Error as err:
                decoded = True
                csv_error = str(err)
            finally:
                text.detach()  # the caller owns the binary file
        else:
            decoded = True
    if not decoded:
        return "cannot decode the file as UTF-8, UTF-16, GB18030 or Big5 text"
    if csv_error is not None:
        return f"not a readable CSV file: {csv_error}"
    return no_header


class _Either:
    """Finds a reply header, else a stock-file header, and reads the rows as what it found."""

    def __init__(self, order_headers: Sequence[str], sub_order_headers: Sequence[str], limits: InboxLimits) -> None:
        self._order, self._sub, self._limits = order_headers, sub_order_headers, limits
        self.kind = ""

    def found(self, head: Sequence[Sequence[Any]]) -> bool:
        if find_header(head, self._order, self._sub) is not None:
            self.kind = "tracking"
        elif find_stock_header(head) is not None:
            self.kind = "stock"
        else:
            return False
        return True

    def read(self, rows: Iterator[Sequence[Any]]) -> ParsedInbox:
        if self.kind == "stock":
            return parse_stock_stream(rows, self._limits)
        return parse_stream(rows, self._order, self._sub, self._limits)


def no_header_either() -> str:
    """The file error when neither a reply header nor a stock header is found."""
    return f"{no_header_message()}; or, for {no_stock_header_message()}"


def parse_csv(f: BinaryIO, order_headers: Sequence[str], sub_order_headers: Sequence[str],
              limits: InboxLimits) -> ParsedInbox:
    """Rows of a CSV file (a reply or a stock file), trying each encoding and delimiter until a header appears."""
    either = _Either(order_headers, sub_order_headers, limits)
    out = decode_csv(f, limits, either.found, either.read, no_header_either())
    return _error(out) if isinstance(out, str) else out


def check_xlsx(f: BinaryIO, size: int, limits: InboxLimits) -> str | None:
    """Raise InboxLimitError for an archive over the limits; a damaged archive's error text; else None."""
    try:
        check_central_directory(f, size)
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            check_declared(zf.infolist(), limits)
            check_members(zf, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, ValueError,
            OSError) as err:
        if isinstance(err, InboxLimitError):
            raise
        return (f"cannot read the workbook as a zip archive ({type(err).__name__}); open it in Excel and save it "
                "again as .xlsx")
    return None


def decode_xlsx(f: BinaryIO, size: int, limits: InboxLimits, found: HeaderFound,
                read: Callable[[Iterator[Sequence[Any]]], T], no_header: str) -> T | str:
    """``read(rows)`` of the first sheet whose first rows ``found`` a header, streamed from openpyxl in
    read-only mode after the archive passed the limits; else the error text. Raises InboxLimitError."""
    damaged = check_xlsx(f, size, limits)
    if damaged:
        return damaged
    f.seek(0)
    try:
        with warnings.catch_warnings():
            # Files from WPS and older Excel make openpyxl warn (no default style, extensions…).
            warnings.simplefilter("ignore")
            wb = load_workbook(f, read_only=True, data_only=True)
            try:
                for ws in wb.worksheets:
                    ws.reset_dimensions()  # some writers record a wrong used range
                    rows = ws.iter_rows(values_only=True)
                    head = list(islice(rows, HEADER_SCAN_ROWS))
                    if found(head):
                        return read(chain(head, rows))
            finally:
                wb.close()
    except InboxLimitError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged workbook can make openpyxl raise almost anything
        return f"cannot read the workbook ({type(err).__name__}); open it in Excel and save it again as .xlsx"
    return no_header


def parse_xlsx(f: BinaryIO, size: int, order_headers: Sequence[str], sub_order_headers: Sequence[str],
               limits: InboxLimits) -> ParsedInbox:
    """Rows of the first sheet that has a header row (a reply or a stock file), streamed read-only."""
    either = _Either(order_headers, sub_order_headers, limits)
    out = decode_xlsx(f, size, limits, either.found, either.read, no_header_either())
    return _error(out) if isinstance(out, str) else out


__all__ = ["CSV_DELIMITERS", "CSV_ENCODINGS", "HeaderFound", "check_xlsx", "decode_csv", "decode_xlsx", "parse_csv",
           "parse_xlsx"]
