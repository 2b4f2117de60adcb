"""``routes.csv`` / ``routes.xlsx``: the routes table the way sellers keep it.

Sellers export it from their ERP or keep it in Excel: an .xlsx, or a CSV in UTF-8 or GBK/GB18030, with
Chinese or English headers (``商家编码, 供应商, 规格编码, 数量倍数, 成本`` or ``sku, supplier, supplier_sku,
multiplier, cost``). The file is decoded by the same reader the drop-folder inbox uses (:mod:`syncd.sheets`:
encodings, delimiters, zip-bomb and size limits); this module only knows the columns.

A wrong header is one message for the file, not one per row; row errors stop being listed after
:data:`MAX_ROW_ERRORS` (the rest are counted), so a wrong 2,000-row file reads in a screenful.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from syncd.config.layout import suggest
from syncd.errors import ConfigError
from syncd.sheets.decode import cell_str, decode_csv, decode_xlsx, header_key
from syncd.sheets.limits import InboxLimitError, InboxLimits

COLUMNS: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "商家编码", "商家SKU编码", "商家sku", "商品编码", "SKU编码", "商家货号"),
    "supplier": ("supplier", "供应商", "供应商ID", "供应商编号", "供货商"),
    "supplier_sku": ("supplier_sku", "规格编码", "供应商编码", "供应商SKU", "供应商规格编码", "供应商货号", "货号"),
    "multiplier": ("multiplier", "数量倍数", "倍数", "每件数量"),
    "cost": ("cost", "成本", "成本价", "采购价", "进价"),
    "shipping_fee": ("shipping_fee", "运费", "邮费"),
    "fallback_supplier": ("fallback_supplier", "备用供应商"),
    "fallback_sku": ("fallback_sku", "备用规格编码", "备用供应商编码"),
}
"""Route field → the headers accepted for it (compared without case, spaces, marks or notes in brackets)."""
NOTE_COLUMNS = ("商品名称", "商品标题", "宝贝名称", "规格名称", "颜色分类", "名称", "备注", "说明",
                "name", "title", "note", "notes", "comment")
"""Descriptive columns sellers keep beside the codes: read past. Any other unknown column is an error, since a
misspelt 数量倍数 ignored would ship the wrong quantity."""
REQUIRED = ("sku", "supplier", "supplier_sku")
MAX_ROW_ERRORS = 20
MAX_ROUTE_ROWS = 200_000


def _limits() -> InboxLimits:
    return InboxLimits(max_file_mb=50, max_unpacked_mb=200, max_part_mb=100, max_rows=MAX_ROUTE_ROWS,
                       max_columns=64, max_cells=MAX_ROUTE_ROWS * 16, max_error_rows=MAX_ROW_ERRORS)


def _lookup() -> dict[str, str]:
    return {header_key(alias): field for field, aliases in COLUMNS.items() for alias in aliases}


def _header_fields(cells: Sequence[Any]) -> list[str | None]:
    lookup = _lookup()
    return [lookup.get(header_key(cell_str(c))) for c in cells]


def _is_header(cells: Sequence[Any]) -> bool:
    fields = _header_fields(cells)
    return "sku" in fields and "supplier" in fields


def _found(head: Sequence[Sequence[Any]]) -> bool:
    return any(_is_header(cells) for cells in head)


def _no_header(rel: str) -> str:
    wanted = "; ".join(f"{f}: {' / '.join(COLUMNS[f][:3])}" for f in REQUIRED)
    return (f"no header row found in the first 10 rows: expected the columns {wanted} "
            f"(optional: multiplier / 数量倍数, cost / 成本); check the file is the routes table")


def _header_problems(cells: Sequence[Any], rel: str) -> list[ConfigError]:
    """Unknown, repeated and missing columns: one message each, for the whole file."""
    errors: list[ConfigError] = []
    fields = _header_fields(cells)
    known = [a for aliases in COLUMNS.values() for a in aliases]
    notes = {header_key(n) for n in NOTE_COLUMNS}
    for i, (cell, f) in enumerate(zip(cells, fields, strict=True)):
        text = cell_str(cell).strip()
        if f is None and text and header_key(text) not in notes:
            hint = suggest(text, known) or (f"; name it as one of {', '.join(a for a in known if a.isascii())} "
                                             "or a note column (商品名称, 备注…)")
            errors.append(ConfigError(rel, f"header column {i + 1}", f"unknown column {text!r}{hint}"))
        elif f is not None and fields.index(f) != i:
            errors.append(ConfigError(rel, f"header column {i + 1}", f"{text!r} repeats the column for {f}"))
    missing = [f for f in ("supplier_sku",) if f not in fields]  # sku and supplier are there: the header was found
    errors.extend(ConfigError(rel, "header", f"missing column {f} ({' / '.join(COLUMNS[f][:3])})") for f in missing)
    return errors


class _Table:
    """Consumes the decoded rows: finds the header, checks it once, turns each later row into a mapping."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.rows: list[tuple[str, dict[str, Any] | str]] = []
        self.errors: list[ConfigError] = []  # of the whole file (the header): no row is used then

    def __call__(self, rows: Iterator[Sequence[Any]]) -> _Table:
        self.rows, self.errors = [], []  # the decoder may start again in another encoding
        fields: list[str | None] | None = None
        for n, cells in enumerate(rows, start=1):
            if n > MAX_ROUTE_ROWS:
                self.errors.append(ConfigError(self.rel, "", f"more than {MAX_ROUTE_ROWS} rows: split the table"))
                self.rows.clear()
                return self
            if fields is None:
                if _is_header(cells):
                    self.errors = _header_problems(cells, self.rel)
                    if self.errors:
                        return self  # every row would fail the same way: the header is the one message
                    fields = _header_fields(cells)
                continue
            values = [cell_str(c).strip() for c in cells]
            if not any(values):
                continue
            if len(values) > len(fields) and any(values[len(fields):]):
                self.rows.append((f"line {n}", "more cells than header columns"))
                continue
            self.rows.append((f"line {n}", {f: v for f, v in zip(fields, values, strict=False) if f and v}))
        return self


def read_route_table(path: Path, errors: list[ConfigError]) -> list[tuple[str, dict[str, Any] | str]]:
    """(``line N``, the row's route fields as text, or why the row cannot be read) of ``routes.csv`` or
    ``routes.xlsx``; problems of the whole file go to ``errors`` (and then no rows are returned)."""
    rel, limits = path.name, _limits()
    table = _Table(rel)
    try:
        size = path.stat().st_size
        if size > limits.max_file_mb * 1024 * 1024:
            errors.append(ConfigError(rel, "", f"file is larger than {limits.max_file_mb:.0f} MB: split the table"))
            return []
        with path.open("rb") as f:
            if path.suffix == ".xlsx":
                out = decode_xlsx(f, size, limits, _found, table, _no_header(rel))
            else:
                out = decode_csv(f, limits, _found, table, _no_header(rel))
    except InboxLimitError as err:
        errors.append(ConfigError(rel, "", str(err)))
        return []
    except OSError as err:
        errors.append(ConfigError(rel, "", f"cannot read the file: {err.strerror or type(err).__name__}"))
        return []
    if isinstance(out, str):
        errors.append(ConfigError(rel, "", out))
        return []
    errors.extend(table.errors)
    return [] if table.errors else table.rows
