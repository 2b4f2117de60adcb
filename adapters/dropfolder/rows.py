"""Reading a supplier's reply table: find the header, clean each row, accept or reject it. Pure functions.

A table is a list of rows (sheet row 1 first); a cell is a str (CSV, xlsx text) or the number, bool,
date or None openpyxl gives. Normalisation follows reference §B.3 and §B.5: ids that Excel damaged
(scientific notation, more than 15 digits stored as a number) are rejected, never "repaired".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from openpyxl.utils import get_column_letter

from syncd import carriers
from syncd.domain import ParsedInbox, RowError, TrackingRow
from syncd.sheets.decode import HEADER_SCAN_ROWS, SIMPLIFIED, cell_str, header_key
from syncd.sheets.limits import InboxLimitError, InboxLimits

ORDER_ALIASES = ("外部订单号", "平台订单号", "客户订单号", "店铺订单号", "订单号", "order_no", "order id", "订单编号")
"""Order-number headers, most specific first: in an ERP export 订单编号 is often the supplier's own id."""
SUB_ORDER_ALIASES = ("子订单号", "子订单ID", "子订单编号")
CARRIER_ALIASES = ("快递公司", "物流公司", "快递名称", "承运商", "快递", "carrier")
TRACKING_ALIASES = ("快递单号", "物流单号", "运单号", "运单号码", "快递单号码", "物流编号", "tracking", "tracking_no")

_SPLIT = re.compile(r"[,，;；/\s]+")
_TRACKING = re.compile(r"[A-Z0-9-]{6,32}")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?E[+-]?\d+", re.IGNORECASE)
_DECIMAL = re.compile(r"\d+\.\d+")
_FORMULA_TEXT = re.compile(r'=\s*"(.*)"', re.DOTALL)
_FORMULA_NUMBER = re.compile(r"=\s*([A-Za-z0-9-]+)")
_QUOTES = "\"'`“”‘’"
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number


def clean_id(text: str) -> str:
    """Strip what spreadsheets wrap around ids: spaces, full width, tab, ``'``, ``="..."``, quotes."""
    s = unicodedata.normalize("NFKC", text).strip()
    while True:
        before = s
        m = _FORMULA_TEXT.fullmatch(s) or _FORMULA_NUMBER.fullmatch(s)
        if m:
            s = m.group(1)
        s = s.strip().strip(_QUOTES).strip()
        if s == before:
            return s


@dataclass(frozen=True, slots=True)
class Header:
    """Where the header row is (0-based index into the table) and which column holds what."""

    index: int
    order: int
    tracking: int
    carrier: int | None
    sub_order: int | None
    names: tuple[str, ...]  # unique display names of every column, for RowError.raw


def find_column(keys: Sequence[str], aliases: Iterable[str]) -> int | None:
    """The column whose header key matches the first alias found (aliases in order of preference)."""
    for alias in aliases:
        key = header_key(alias)
        if key in keys:
            return keys.index(key)
    return None


def column_names(cells: Sequence[Any]) -> tuple[str, ...]:
    names: list[str] = []
    for i, cell in enumerate(cells):
        base = cell_str(cell).strip() or f"列{get_column_letter(i + 1)}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}({n})"
        names.append(name)
    return tuple(names)


def find_header(
    table: Sequence[Sequence[Any]],
    order_headers: Sequence[str] = (),
    sub_order_headers: Sequence[str] = (),
) -> Header | None:
    """The first row (of the first ten) holding an order-number header and a tracking-number header.

    ``order_headers`` / ``sub_order_headers``: the headers our own outbox used, tried before the aliases.
    """
    for index, cells in enumerate(table[:HEADER_SCAN_ROWS]):
        keys = [header_key(cell_str(c)) for c in cells]
        order = find_column(keys, (*order_headers, *ORDER_ALIASES))
        tracking = find_column(keys, TRACKING_ALIASES)
        if order is None or tracking is None:
            continue
        return Header(index=index, order=order, tracking=tracking, carrier=find_column(keys, CARRIER_ALIASES),
                      sub_order=find_column(keys, (*sub_order_headers, *SUB_ORDER_ALIASES)), names=column_names(cells))
    return None


def no_header_message() -> str:
    """The file error when no header row is found: says what was looked for."""
    return (f"no header row found in the first {HEADER_SCAN_ROWS} rows: expected an order-number column "
            f"({' / '.join(ORDER_ALIASES)}) and a tracking-number column ({' / '.join(TRACKING_ALIASES)})")


def _numeric_id(value: int | float, what: str) -> tuple[str, str | None]:
    """An id stored as a number in xlsx: exact up to 15 digits, damaged beyond or with a fraction."""
    if isinstance(value, float) and not value.is_integer():
        return str(value), (f"{what} {value!r} is stored as a number with a fraction: Excel damaged it, "
                            "re-type it as text")
    digits = str(abs(int(value)))
    if len(digits) > EXCEL_DIGITS:
        return digits, (f"{what} {digits} is stored as a number of more than {EXCEL_DIGITS} digits: "
                        "Excel lost its last digits, re-type it as text")
    return digits, None


def _damage(text: str, what: str) -> str | None:
    if _SCIENTIFIC.fullmatch(text):
        return f"{what} '{text}' is in scientific notation: Excel damaged it, re-type it as text"
    if _DECIMAL.fullmatch(text):
        return f"{what} '{text}' has a decimal point: it was stored as a number, re-type it as text"
    return None


def id_cell(value: Any, what: str) -> tuple[str, str | None]:
    """(cleaned id, reason to reject or None) for an order or sub-order number cell."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _numeric_id(value, what)
    text = clean_id(cell_str(value))
    return text, _damage(text, what)


def _tracking_cell(value: Any) -> tuple[list[str], list[str]]:
    """(tracking numbers, reasons) of a tracking cell, which may hold several numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, reason = _numeric_id(value, "tracking number")
        return ([], [reason]) if reason else ([number], [])
    numbers: list[str] = []
    reasons: list[str] = []
    for piece in _SPLIT.split(clean_id(cell_str(value)).upper()):
        piece = clean_id(piece)
        if not piece:
            continue
        damage = _damage(piece, "tracking number")
        if damage:
            reasons.append(damage)
        elif not _TRACKING.fullmatch(piece):
            reasons.append(f"tracking number '{piece}' is not 6-32 letters, digits or '-'")
        elif piece not in numbers:
            numbers.append(piece)
    if not numbers and not reasons:
        reasons.append("empty tracking number")
    return numbers, reasons


def _carrier(value: Any, has_column: bool) -> tuple[str, str, str | None]:
    """(code, text as written, reason or None)."""
    text = cell_str(value).strip().strip(_QUOTES).strip()  # kept as written, for people
    if not text:
        if not has_column:
            return "", "", f"empty carrier (the file has no carrier column: {' / '.join(CARRIER_ALIASES)})"
        return "", "", "empty carrier"
    code = carriers.normalize(text) or carriers.normalize(text.translate(SIMPLIFIED))
    if code is None:
        return "", text, f"unknown carrier '{text}'"
    return code, text, None


def row_cells(cells: Sequence[Any], names: tuple[str, ...]) -> tuple[list[Any], dict[str, str]] | None:
    """(the row padded to the header's width, its cells as text by column name); None for an empty row."""
    width = len(names)
    padded = [*cells[:width], *([None] * (width - len(cells)))]
    if all(not cell_str(c).strip() for c in padded):
        return None
    return padded, {name: cell_str(c) for name, c in zip(names, padded, strict=True)}


def parse_row(row_no: int, cells: Sequence[Any], header: Header) -> TrackingRow | RowError | None:
    """One data row → an accepted row, a rejected row, or None when the row is empty."""
    got = row_cells(cells, header.names)
    if got is None:
        return None
    padded, raw = got
    reasons: list[str] = []

    order_no, reason = id_cell(padded[header.order], "order number")
    if reason:
        reasons.append(reason)
    elif not order_no:
        reasons.append("empty order number")
    sub_order_no = ""
    if header.sub_order is not None:
        sub_order_no, reason = id_cell(padded[header.sub_order], "sub-order number")
        if reason:
            reasons.append(reason)
    tracking_nos, tracking_reasons = _tracking_cell(padded[header.tracking])
    reasons.extend(tracking_reasons)
    code, carrier_text, reason = _carrier(
        padded[header.carrier] if header.carrier is not None else None, header.carrier is not None
    )
    if reason:
        reasons.append(reason)

    if reasons:
        return RowError(row_no=row_no, reason="; ".join(reasons), raw=raw)
    return TrackingRow(row_no=row_no, order_no=order_no, sub_order_no=sub_order_no, carrier=code,
                       carrier_text=carrier_text, tracking_nos=tracking_nos, raw=raw)


def check_cells(row_no: int, cells: Sequence[Any], limits: InboxLimits) -> None:
    """InboxLimitError when a row has more filled columns or a longer cell than the limits allow."""
    for col, cell in enumerate(cells):
        if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
            raise InboxLimitError(f"row {row_no}, column {get_column_letter(col + 1)}: a cell of {len(cell)} "
                                  f"characters (limit {limits.max_cell_chars})")
        if col >= limits.max_columns and cell is not None and cell != "":
            raise InboxLimitError(f"row {row_no} has more than {limits.max_columns} columns")


class TableHeader(Protocol):
    """What the streaming reader needs of a header: its row and its column names."""

    @property
    def index(self) -> int: ...

    @property
    def names(self) -> tuple[str, ...]: ...


H = TypeVar("H", bound=TableHeader)
R = TypeVar("R")


def stream_table(
    rows: Iterable[Sequence[Any]],
    limits: InboxLimits,
    find: Callable[[Sequence[Sequence[Any]]], H | None],
    parse: Callable[[int, Sequence[Any], H], R | RowError | None],
) -> tuple[H | None, list[R], list[RowError]]:
    """Rows (sheet row 1 first), consumed one at a time → (header, accepted, rejected); (None, [], []) when ``find``
    sees no header in the first ten rows. Only parsed rows are kept, so memory follows what is accepted, not the
    file. Shared by reply files and stock files.

    Raises :class:`InboxLimitError` past ``limits`` (rows, columns, cell size, rejected rows).
    """
    it = iter(rows)
    head: list[Sequence[Any]] = []
    for cells in it:
        check_cells(len(head) + 1, cells, limits)
        head.append(cells)
        if len(head) == HEADER_SCAN_ROWS:
            break
    header = find(head)
    accepted: list[R] = []
    errors: list[RowError] = []
    if header is None:
        return None, accepted, errors
    width = len(header.names)
    kept = [0]

    def take(row_no: int, cells: Sequence[Any]) -> None:
        result = parse(row_no, cells, header)
        if result is not None:
            kept[0] += width
            if kept[0] > limits.max_cells:
                raise InboxLimitError(f"more than {limits.max_cells} cells ({width} columns up to row {row_no}); "
                                      "split the file or leave out columns")
        if isinstance(result, RowError):
            errors.append(result)
            if len(errors) > limits.max_error_rows:
                raise InboxLimitError(f"more than {limits.max_error_rows} rows are wrong (the first at row "
                                      f"{errors[0].row_no}: {errors[0].reason}); check the columns "
                                      "and send the file again")
        elif result is not None:
            accepted.append(result)

    for index in range(header.index + 1, len(head)):
        take(index + 1, head[index])
    row_no = len(head)
    for cells in it:
        row_no += 1
        if row_no > limits.max_rows:
            raise InboxLimitError(f"more than {limits.max_rows} rows; split the file")
        check_cells(row_no, cells, limits)
        take(row_no, cells)
    return header, accepted, errors


def parse_stream(
    rows: Iterable[Sequence[Any]],
    order_headers: Sequence[str] = (),
    sub_order_headers: Sequence[str] = (),
    limits: InboxLimits | None = None,
) -> ParsedInbox:
    """Rows of a reply file (sheet row 1 first) → accepted and rejected rows, or a file error when no header is
    found. Raises :class:`InboxLimitError` past ``limits``."""
    header, accepted, errors = stream_table(rows, limits or InboxLimits(),
                                            lambda head: find_header(head, order_headers, sub_order_headers),
                                            parse_row)
    if header is None:
        return ParsedInbox(rows=[], errors=[], file_error=no_header_message())
    return ParsedInbox(rows=accepted, errors=errors)


def parse_table(
    table: Sequence[Sequence[Any]],
    order_headers: Sequence[str] = (),
    sub_order_headers: Sequence[str] = (),
) -> ParsedInbox:
    """A whole table (row 1 first) → accepted rows and rejected rows, or a file error when it has no header."""
    return parse_stream(table, order_headers, sub_order_headers)


__all__ = [
    "CARRIER_ALIASES", "ORDER_ALIASES", "SUB_ORDER_ALIASES", "TRACKING_ALIASES", "Header",
    "TableHeader", "cell_str", "check_cells", "clean_id", "column_names", "find_column", "find_header", "header_key",
    "id_cell", "no_header_message", "parse_row", "parse_stream", "parse_table", "row_cells", "stream_table",
]
