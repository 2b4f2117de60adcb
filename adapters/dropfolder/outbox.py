"""Writing a batch of supplier orders into one spreadsheet in the outbox folder, atomically.

Every value is written as text: in .xlsx every cell is a string cell formatted ``@``, so 18-19 digit
order ids survive a round trip through Excel (reference §B.5). Receiver data never reaches a log line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from adapters.dropfolder.config import Column
from syncd.clock import shanghai_text
from syncd.domain import OutboxBatch, OutboxRow

log = logging.getLogger(__name__)

CSV_CODECS = {"utf-8-sig": "utf-8-sig", "gbk": "gb18030"}  # gb18030 is a superset of GBK: nothing fails

# A cell starting with one of these is run as a formula when Excel opens a CSV (CSV injection);
# buyer notes are buyer-controlled. Plain numbers and phone numbers ("+86 138...") are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+-]?\d[\d\s()-]*")
_PATH_SEPARATORS = re.compile(r"[/\\\x00]")


def clean_text(value: str) -> str:
    """Text that any spreadsheet writer accepts: no XML-illegal control characters, no lone surrogates."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value.encode("utf-8", "replace").decode("utf-8")


def csv_safe(value: str) -> str:
    """Defuse a CSV cell Excel would evaluate as a formula by prefixing an apostrophe."""
    if value.startswith(_FORMULA_START) and not _NUMBER_LIKE.fullmatch(value):
        return "'" + value
    return value


def cell_text(row: OutboxRow, field: str) -> str:
    """The text written for one field of one row: quantity as digits, paid_at in Shanghai time."""
    if field == "quantity":
        return str(row.quantity)
    if field == "paid_at":
        return shanghai_text(row.paid_at) if row.paid_at is not None else ""
    value = getattr(row, field)
    return clean_text("" if value is None else str(value))


def render(batch: OutboxBatch, columns: Sequence[Column]) -> list[list[str]]:
    """Header row then one row per OutboxRow, in batch order."""
    table = [[clean_text(c.header) for c in columns]]
    table.extend([cell_text(row, c.field) for c in columns] for row in batch.rows)
    return table


def file_name(batch: OutboxBatch, fmt: Literal["xlsx", "csv"], file_prefix: str = "") -> str:
    """``{file_stem}.{fmt}``; the stem must be a plain file name.

    With a ``file_prefix``, a stem that starts with the supplier id (``acme-20261122-...``) starts with
    the prefix instead (``ACME订单-20261122-...``); the name stays the same for the same batch.
    """
    stem = batch.file_stem
    if file_prefix and not stem.startswith(file_prefix) and stem.startswith(batch.supplier_id):
        stem = file_prefix + stem[len(batch.supplier_id):]
    if not stem or stem.startswith(".") or _PATH_SEPARATORS.search(stem) or stem != stem.strip():
        raise ValueError(f"batch {batch.batch_id}: file_stem {stem!r} is not a plain file name")
    return f"{stem}.{fmt}"


def _write_xlsx(table: list[list[str]], out: BinaryIO) -> None:
    # Write-only mode streams rows to the file: memory stays flat however large the batch.
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("订单")
    bold = Font(bold=True)
    widths = [0] * (len(table[0]) if table else 0)
    for values in table:  # CJK characters are about two columns wide
        for c, value in enumerate(values):
            widths[c] = max(widths[c], sum(2 if ord(ch) > 0x2E7F else 1 for ch in value))
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    for r, values in enumerate(table):
        cells = []
        for value in values:
            cell = WriteOnlyCell(ws, value=value or None)
            if value:
                cell.data_type = "s"  # never a number, never a formula (a value may start with "=")
            cell.number_format = "@"
            if r == 0:
                cell.font = bold
            cells.append(cell)
        ws.append(cells)
    wb.save(out)


def _write_csv(table: list[list[str]], out: BinaryIO, encoding: str) -> None:
    text = io.TextIOWrapper(out, encoding=CSV_CODECS[encoding], newline="", write_through=True)
    try:
        writer = csv.writer(text)  # QUOTE_MINIMAL, "\r\n": what Excel writes and reads
        writer.writerows([csv_safe(v) for v in values] for values in table)
        text.flush()
    finally:
        text.detach()  # the caller owns (and fsyncs, and closes) the binary file


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through a hidden temporary file in the same folder, fsync it, then rename it over."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a folder be opened.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_batch(
    batch: OutboxBatch,
    outbox_dir: Path,
    columns: Sequence[Column],
    fmt: Literal["xlsx", "csv"] = "xlsx",
    encoding: Literal["utf-8-sig", "gbk"] = "utf-8-sig",
    file_prefix: str = "",
) -> str:
    """Write the batch as ``{file_stem}.{fmt}`` in ``outbox_dir`` (replacing an earlier write); return the name."""
    name = file_name(batch, fmt, file_prefix)
    table = render(batch, columns)
    if fmt == "xlsx":
        atomic_write(outbox_dir / name, lambda out: _write_xlsx(table, out))
    else:
        atomic_write(outbox_dir / name, lambda out: _write_csv(table, out, encoding))
    log.info("supplier %s: wrote batch %s (%d rows) to %s", batch.supplier_id, batch.batch_id,
             len(batch.rows), name)
    return name


__all__ = ["atomic_write", "cell_text", "clean_text", "csv_safe", "file_name", "render", "write_batch"]
