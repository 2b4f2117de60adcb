"""Reading a spreadsheet as a stream of rows, within :class:`~syncd.sheets.limits.InboxLimits`: the one decoder of
the drop-folder inbox (suppliers' replies and stock files) and of the routes table (``routes.csv`` /
``routes.xlsx``), so both read what sellers' and suppliers' Excel, WPS and ERP exports write.

CSV is decoded line by line (each line capped) and tried in each encoding and delimiter until a header row
appears; an .xlsx is checked as a zip archive (:mod:`syncd.sheets.limits`) before openpyxl opens it read-only, and
its rows are streamed. The caller says what a header is (``found``) and what to do with the rows (``read``).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, BinaryIO, TypeVar

from openpyxl import load_workbook

from syncd.sheets.limits import (
    InboxLimitError,
    InboxLimits,
    capped_lines,
    check_central_directory,
    check_declared,
    check_members,
)

HEADER_SCAN_ROWS = 10
CSV_ENCODINGS = ("utf-8-sig", "gb18030", "big5")  # strict UTF-8 first: almost any bytes decode as GB18030
CSV_DELIMITERS = (",", "\t", ";")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
T = TypeVar("T")


# Traditional → simplified for the characters of the headers and carrier names above (Big5 files).
SIMPLIFIED = str.maketrans({
    "訂": "订", "單": "单", "號": "号", "編": "编", "碼": "码", "遞": "递", "運": "运", "戶": "户",
    "舖": "铺", "鋪": "铺", "順": "顺", "豐": "丰", "圓": "圆", "韻": "韵", "達": "达", "極": "极",
    "東": "东", "郵": "邮", "國": "国", "內": "内", "匯": "汇", "閃": "闪", "網": "网", "鳥": "鸟",
    "稱": "称", "寶": "宝", "際": "际", "動": "动",
})
_HEADER_NOTE = re.compile(r"[(（【\[][^)）】\]]*[)）】\]]")  # "快递单号(必填)"
_HEADER_NOISE = re.compile(r"[\s_\-*:：]+")
def header_key(text: str) -> str:
    """How headers compare: NFKC (full width), simplified, no spaces/underscores/marks, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(SIMPLIFIED)
    return _HEADER_NOISE.sub("", _HEADER_NOTE.sub("", text)).lower()


def cell_str(value: Any) -> str:
    """A cell as the text a person sees (raw values of an error report)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


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


__all__ = ["CSV_DELIMITERS", "CSV_ENCODINGS", "HEADER_SCAN_ROWS", "SIMPLIFIED", "HeaderFound", "cell_str",
           "check_xlsx", "decode_csv", "decode_xlsx", "header_key"]
