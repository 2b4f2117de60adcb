"""Writing a batch of supplier orders into one spreadsheet in the outbox folder, atomically.

Every value is written as text: in .xlsx every cell is a string cell formatted ``@``, so 18-19 digit
order ids survive a round trip through Excel (reference §B.5), and no cell is ever a formula. A CSV cell
that Excel would run as a formula is defused (:func:`csv_safe`). Receiver data never reaches a log line.
A cancellation batch has its own layout: 取消 at the start of the name and an 操作 column saying 取消.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from syncd.adapters.dropfolder.config import Column
from syncd.adapters.dropfolder.files import FILE_MODE, atomic_write
from syncd.clock import shanghai_text
from syncd.domain import OutboxBatch, OutboxRow
from syncd.sheets.cells import clean_text, csv_safe

log = logging.getLogger(__name__)

CSV_CODECS = {"utf-8-sig": "utf-8-sig", "gbk": "gb18030"}  # gb18030 is a superset of GBK: nothing fails

_PATH_SEPARATORS = re.compile(r"[/\\\x00]")
CANCEL_PREFIX = "取消-"
CANCEL_HEADER = "操作"
CANCEL_ACTION = "取消"
CANCEL_SHEET = "取消订单"


def cell_text(row: OutboxRow, field: str) -> str:
    """The text written for one field of one row: quantity as digits, paid_at in Shanghai time."""
    if field == "quantity":
        return str(row.quantity)
    if field == "paid_at":
        return shanghai_text(row.paid_at) if row.paid_at is not None else ""
    value = getattr(row, field)
    return clean_text("" if value is None else str(value))


def is_cancel(batch: OutboxBatch) -> bool:
    """Whether the batch tells the supplier NOT to ship these orders."""
    return getattr(batch, "kind", "orders") == "cancel"


def render(batch: OutboxBatch, columns: Sequence[Column]) -> list[list[str]]:
    """Header row then one row per OutboxRow, in batch order.

    A cancellation batch starts every row with an 操作 column saying 取消, so no one (and no import
    that reads every sheet) can take it for an order file.
    """
    table = [[clean_text(c.header) for c in columns]]
    table.extend([cell_text(row, c.field) for c in columns] for row in batch.rows)
    if is_cancel(batch):
        table = [[CANCEL_HEADER, *table[0]], *([CANCEL_ACTION, *values] for values in table[1:])]
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
    if is_cancel(batch) and not stem.startswith(CANCEL_PREFIX):
        stem = CANCEL_PREFIX + stem
    return f"{stem}.{fmt}"


def _write_xlsx(table: list[list[str]], out: BinaryIO, sheet: str = "订单") -> None:
    """The table as one sheet, every cell a text cell."""
    # Write-only mode streams rows to the file: memory stays flat however large the batch.
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
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


def write_batch(
    batch: OutboxBatch,
    outbox_dir: Path,
    columns: Sequence[Column],
    fmt: Literal["xlsx", "csv"] = "xlsx",
    encoding: Literal["utf-8-sig", "gbk"] = "utf-8-sig",
    file_prefix: str = "",
    mode: int = FILE_MODE,
) -> str:
    """Write the batch as ``{file_stem}.{fmt}`` in ``outbox_dir`` (replacing an earlier write), created with
    ``mode``; return the name. A cancellation batch is named ``取消-{file_stem}.{fmt}``."""
    name = file_name(batch, fmt, file_prefix)
    table = render(batch, columns)
    sheet = (CANCEL_SHEET,) if is_cancel(batch) else ()
    if fmt == "xlsx":
        atomic_write(outbox_dir / name, lambda out: _write_xlsx(table, out, *sheet), mode)
    else:
        atomic_write(outbox_dir / name, lambda out: _write_csv(table, out, encoding), mode)
    # DEBUG: the forward stage logs the file once, with its order count
    log.debug("supplier %s: wrote %s %s (%d rows) to %r", batch.supplier_id,
             "cancellation batch" if is_cancel(batch) else "batch", batch.batch_id, len(batch.rows), name)
    return name


__all__ = [
    "CANCEL_ACTION", "CANCEL_HEADER", "CANCEL_PREFIX", "atomic_write", "cell_text", "clean_text", "csv_safe",
    "file_name", "is_cancel", "render", "write_batch",
]
