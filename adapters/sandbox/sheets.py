"""Reading and writing the spreadsheets a simulated supplier exchanges (reference §B.4, §B.5).

Reading: .xlsx through openpyxl; .csv decoded as strict UTF-8 (BOM skipped) first, then GB18030,
with Excel's protective wrappers (``="123"``, a leading apostrophe or tab) removed.
Writing: .xlsx with text-typed cells (optionally a numeric cell where a person would have typed a
number), or .csv in the requested encoding; always to a hidden temp name, then ``os.replace``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

ORDER_HEADERS = ("订单号", "订单编号", "外部订单号", "平台订单号", "客户订单号")
NAME_HEADERS = ("收件人", "收货人", "收件人姓名")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'\t").strip()


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes strictly, else GB18030."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def read_rows(path: Path) -> list[list[str]]:
    """Every row of the first sheet (or the CSV) as text cells."""
    if path.suffix.lower() == ".xlsx":
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            return [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    text = decode_csv(path.read_bytes())
    return [[_cell_text(v) for v in row] for row in csv.reader(io.StringIO(text))]


def read_table(path: Path, key_headers: Sequence[str] = ORDER_HEADERS) -> list[dict[str, str]]:
    """Rows as dicts keyed by header; the header row is the first (of 10) naming one of ``key_headers``."""
    rows = read_rows(path)
    for i, row in enumerate(rows[:10]):
        if any(cell in key_headers for cell in row):
            header = row
            return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False))
                    for r in rows[i + 1:] if any(c for c in r)]
    return []


def pick(row: dict[str, str], headers: Sequence[str]) -> str:
    """The value of the first of ``headers`` present in the row."""
    for h in headers:
        if h in row:
            return row[h]
    return ""


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[str | int]], fmt: str,
                encoding: str = "utf-8-sig") -> None:
    """Write atomically: a temp file named ``.<name>.part`` beside ``path``, then ``os.replace``."""
    tmp = path.with_name(f".{path.name}.part")
    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "发货单"
        ws.append(list(header))
        for r in rows:
            ws.append(list(r))
        for col in ws.iter_cols(min_row=1):
            for cell in col:
                if isinstance(cell.value, str):
                    cell.number_format = "@"  # text: Excel keeps long ids intact
        wb.save(tmp)
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        tmp.write_bytes(buf.getvalue().encode(encoding))
    else:
        raise ValueError(f"unknown reply format {fmt!r}")
    os.replace(tmp, path)
