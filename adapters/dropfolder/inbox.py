"""The inbox folder: which reply files are ready, reading one into a table, moving it out when done.

Bad input never raises: an unreadable file comes back as ``ParsedInbox(file_error=...)`` and is moved
to ``rejected/`` with the reason in ``<file>.errors.csv`` (reference §B.4 for encodings).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import warnings
from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import load_workbook

from adapters.dropfolder.outbox import atomic_write, clean_text, csv_safe
from adapters.dropfolder.rows import HEADER_SCAN_ROWS, find_header, no_header_message, parse_table
from syncd import clock
from syncd.domain import InboxFile, ParsedInbox, RowError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx")
PARTIAL_SUFFIXES = (".tmp", ".part", ".crdownload")
CSV_ENCODINGS = ("utf-8-sig", "gb18030", "big5")  # strict UTF-8 first: almost any bytes decode as GB18030
CSV_DELIMITERS = (",", "\t", ";")
MAX_BYTES = 50 * 1024 * 1024
PROCESSED = "processed"
REJECTED = "rejected"

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (BIFF), also a password-protected .xlsx
_MOVED_PREFIX = r"\d{8}T\d{6}Z(?:-\d+)?-"

Table = list[list[Any]]


# ---- listing ---------------------------------------------------------------------------------------


def is_candidate(name: str) -> bool:
    """A name that may be a finished reply file: .csv/.xlsx, not hidden, not a lock or partial file."""
    lower = name.lower()
    if name.startswith((".", "~$")) or lower.endswith(PARTIAL_SUFFIXES):
        return False
    return lower.endswith(SUFFIXES)


def sha256_of(path: Path) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file's content."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def list_inbox(inbox_dir: Path, now: datetime, settle_seconds: float) -> list[InboxFile]:
    """Reply files directly in ``inbox_dir`` that are complete: not modified in the last ``settle_seconds``."""
    ready_before = clock.ensure_utc(now).timestamp() - settle_seconds
    found: list[tuple[float, str, InboxFile]] = []
    with os.scandir(inbox_dir) as entries:
        for entry in entries:
            if not is_candidate(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
                if stat.st_size == 0 or stat.st_mtime > ready_before:
                    continue  # empty or still being written: look again next time
                sha, size = sha256_of(Path(entry.path))
            except FileNotFoundError:
                continue  # moved away meanwhile (another replica, a person)
            except OSError as err:
                log.warning("inbox file %s cannot be read: %s", entry.name, err.strerror or err)
                continue
            found.append((stat.st_mtime, entry.name,
                          InboxFile(name=entry.name, path=entry.path, sha256=sha, size=size)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in found]


# ---- reading -----------------------------------------------------------------------------------------


def _csv_table(data: bytes, order_headers: Sequence[str], sub_order_headers: Sequence[str]) -> Table | str:
    """The rows of a CSV file, trying each encoding and delimiter until a header row appears; or an error."""
    decoded = False
    csv_error: str | None = None
    # Excel's "Unicode text" is UTF-16 with a BOM; nothing else starts with these bytes.
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else CSV_ENCODINGS
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        decoded = True
        for delimiter in CSV_DELIMITERS:
            try:
                reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
                head = list(islice(reader, HEADER_SCAN_ROWS))
                if find_header(head, order_headers, sub_order_headers) is None:
                    continue
                return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
            except csv.Error as err:
                csv_error = str(err)
    if not decoded:
        return "cannot decode the file as UTF-8, UTF-16, GB18030 or Big5 text"
    if csv_error is not None:
        return f"not a readable CSV file: {csv_error}"
    return no_header_message()


def _xlsx_table(data: bytes, order_headers: Sequence[str], sub_order_headers: Sequence[str]) -> Table | str:
    """The rows of the first sheet that has a header row; or an error."""
    try:
        with warnings.catch_warnings():
            # Files from WPS and older Excel make openpyxl warn (no default style, extensions…).
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                for ws in wb.worksheets:
                    ws.reset_dimensions()  # some writers record a wrong used range; read every row
                    rows = ws.iter_rows(values_only=True)
                    head = [list(r) for r in islice(rows, HEADER_SCAN_ROWS)]
                    if find_header(head, order_headers, sub_order_headers) is not None:
                        return head + [list(r) for r in rows]
            finally:
                wb.close()
    except Exception as err:  # noqa: BLE001 - a damaged workbook can make openpyxl raise almost anything
        return f"cannot read the workbook ({type(err).__name__}); open it in Excel and save it again as .xlsx"
    return no_header_message()


def parse_inbox(
    file: InboxFile, order_headers: Sequence[str] = (), sub_order_headers: Sequence[str] = ()
) -> ParsedInbox:
    """Read one reply file into accepted and rejected rows; never raises for bad content.

    The content decides the reader (a zip is a workbook whatever its suffix says).
    ``order_headers``/``sub_order_headers``: headers our outbox used, recognised besides the aliases.
    """
    path = Path(file.path)
    try:
        if path.stat().st_size > MAX_BYTES:
            return _file_error(f"file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
    except OSError as err:
        return _file_error(f"cannot read the file: {err.strerror or err}")
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        return _file_error("file is empty")
    if hashlib.sha256(data).hexdigest() != file.sha256:
        return _file_error("file changed after it was listed; it will be read again")

    table: Table | str
    if data.startswith(_ZIP_MAGIC):
        table = _xlsx_table(data, order_headers, sub_order_headers)
    elif data.startswith(_OLE_MAGIC):
        table = "old .xls (Excel 97-2003) or password-protected workbook: save it as .xlsx without a password"
    elif path.suffix.lower() == ".xlsx":
        table = "not an .xlsx workbook (not a zip archive): the file is damaged or misnamed"
    else:
        table = _csv_table(data, order_headers, sub_order_headers)
    if isinstance(table, str):
        return _file_error(table)
    return parse_table(table, order_headers, sub_order_headers)


def _file_error(message: str) -> ParsedInbox:
    return ParsedInbox(rows=[], errors=[], file_error=message)


# ---- finishing ---------------------------------------------------------------------------------------


def _moved_copy(inbox_dir: Path, file: InboxFile, first: str) -> Path | None:
    """Where an earlier call already moved this file (same content), newest first."""
    pattern = re.compile(_MOVED_PREFIX + re.escape(file.name))
    for sub in (first, REJECTED if first == PROCESSED else PROCESSED):
        folder = inbox_dir / sub
        if not folder.is_dir():
            continue
        names = sorted((n for n in os.listdir(folder) if pattern.fullmatch(n)), reverse=True)
        for name in [*names, file.name]:
            candidate = folder / name
            try:
                if candidate.stat().st_size == file.size and sha256_of(candidate)[0] == file.sha256:
                    return candidate
            except OSError:
                continue
    return None


def _free_name(folder: Path, name: str, moved_at: datetime) -> Path:
    stamp = clock.ensure_utc(moved_at).strftime("%Y%m%dT%H%M%SZ")
    candidate = folder / f"{stamp}-{name}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stamp}-{n}-{name}"
    return candidate


def write_errors_csv(path: Path, errors: Sequence[RowError], file_error: str | None) -> None:
    """``行号, 原因`` then the original columns of each rejected row; UTF-8 with BOM for Excel."""
    columns: list[str] = []
    for error in errors:
        columns.extend(k for k in error.raw if k not in columns)
    table: list[list[str]] = [["行号", "原因", *columns]]
    if file_error:
        table.append(["", file_error])
    for error in errors:
        table.append([str(error.row_no), error.reason, *(error.raw.get(k, "") for k in columns)])

    def write(out: BinaryIO) -> None:
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        try:
            csv.writer(text).writerows([csv_safe(clean_text(v)) for v in row] for row in table)
            text.flush()
        finally:
            text.detach()

    atomic_write(path, write)


def finish_inbox(
    inbox_dir: Path,
    file: InboxFile,
    errors: Sequence[RowError],
    file_error: str | None,
    moved_at: datetime | None = None,
) -> str:
    """Move the file to ``processed/`` (``rejected/`` on a file error) and write ``<name>.errors.csv``.

    A name already taken there gets a UTC timestamp prefix. Calling again after a crash finds the
    moved copy by its content and finishes the job. A file whose content changed since it was read
    is left in the inbox (it will be listed and read again) and its own path is returned.
    """
    src = Path(file.path)
    sub = REJECTED if file_error else PROCESSED
    folder = inbox_dir / sub
    folder.mkdir(parents=True, exist_ok=True)
    try:
        current_sha: str | None = sha256_of(src)[0]
    except FileNotFoundError:
        current_sha = None
    if current_sha is not None and current_sha != file.sha256:
        log.warning("inbox file %s changed after it was read; left in the inbox to be read again", file.name)
        return str(src)
    dest: Path | None = None
    if current_sha is not None:
        dest = folder / file.name
        if dest.exists():
            dest = _free_name(folder, file.name, moved_at or clock.now())
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            dest = None  # another worker moved it in the meantime
    if dest is None:
        dest = _moved_copy(inbox_dir, file, sub)
        if dest is None:
            log.warning("inbox file %s is gone and no moved copy was found; nothing to move", file.name)
            return str(folder / file.name)
    if errors or file_error:
        write_errors_csv(dest.with_name(dest.name + ".errors.csv"), errors, file_error)
    log.info("inbox file %s moved to %s/%s (%d rejected rows%s)", file.name, dest.parent.name, dest.name, len(errors),
             ", file rejected" if file_error else "")
    return str(dest)


__all__ = ["finish_inbox", "is_candidate", "list_inbox", "parse_inbox", "sha256_of", "write_errors_csv"]
