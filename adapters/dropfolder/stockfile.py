"""A supplier's stock file (库存表) dropped in the inbox: SKU, quantity, optional price. Pure functions.

Told from a tracking reply by its headers: a SKU column (商家编码 / 规格编码 / SKU …) and a quantity column
(库存 / 数量 / 可售数量 …), and **no** order-number column — a reply or an order sheet carries 商家编码 and 数量
too, and its order quantities must never be read as stock. Prices are yuan as people type them (``12.5``,
``¥12.50``, ``12.50元``) and become fen with Decimal. Rows are checked like reply rows: ids that Excel damaged
are refused, a formula left as text is refused, a bad row is an error naming the row and why and the rest goes
on; a SKU given twice keeps its first row and refuses the later one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from syncd.adapters.dropfolder.config import InboxLimits
from syncd.adapters.dropfolder.rows import (
    ORDER_ALIASES,
    column_names,
    find_column,
    id_cell,
    row_cells,
    stream_table,
)
from syncd.domain import ParsedInbox, RowError
from syncd.sheets.decode import HEADER_SCAN_ROWS, cell_str, header_key
from syncd.stockmodel import SupplierStock

SKU_ALIASES = ("商家编码", "规格编码", "商家sku编码", "sku编码", "商品编码", "规格货号", "货号", "sku", "sku_code",
               "merchant_code")
QUANTITY_ALIASES = ("可售数量", "可售库存", "可用库存", "库存数量", "实际库存", "库存", "数量", "stock", "quantity",
                    "qty")
PRICE_ALIASES = ("供货价", "代发价", "分销价", "一件代发价", "单价", "价格", "进价", "price")
MAX_QUANTITY = 100_000_000
MAX_PRICE_YUAN = Decimal(100_000_000)
_MONEY_NOISE = re.compile(r"[¥￥元,，\s]|rmb|cny", re.IGNORECASE)
_FORMULA = ("=", "+", "@")


@dataclass(frozen=True, slots=True)
class StockHeader:
    """Where a stock file's header row is and which column holds what."""

    index: int
    sku: int
    quantity: int
    price: int | None
    names: tuple[str, ...]


def find_stock_header(table: Sequence[Sequence[Any]]) -> StockHeader | None:
    """The first row (of the first ten) with a SKU and a quantity header and no order-number header."""
    for index, cells in enumerate(table[:HEADER_SCAN_ROWS]):
        keys = [header_key(cell_str(c)) for c in cells]
        sku, amount = find_column(keys, SKU_ALIASES), find_column(keys, QUANTITY_ALIASES)
        if sku is None or amount is None or sku == amount or find_column(keys, ORDER_ALIASES) is not None:
            continue
        price = find_column(keys, PRICE_ALIASES)
        return StockHeader(index, sku, amount, price if price not in (sku, amount) else None, column_names(cells))
    return None


def _formula(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith(_FORMULA)


def quantity_cell(value: Any) -> tuple[int | None, str | None]:
    """(units, reason to refuse or None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "empty quantity"
    if _formula(value):
        return None, f"quantity '{cell_str(value)[:40]}' is a formula, not a number: type the figure"
    if isinstance(value, bool):
        return None, "quantity is TRUE/FALSE, not a number"
    if isinstance(value, float):
        if not value.is_integer():
            return None, f"quantity {value!r} is not a whole number"
        value = int(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().replace(",", "")
        if text.endswith(".0") or text.endswith(".00"):
            text = text.split(".", 1)[0]
        if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= 12):
            return None, f"quantity '{value.strip()[:40]}' is not a whole number"
        value = int(text)
    if not isinstance(value, int):
        return None, f"quantity of type {type(value).__name__} is not a number"
    if value < 0:
        return None, f"quantity {value} is negative"
    if value > MAX_QUANTITY:
        return None, f"quantity {value} is over {MAX_QUANTITY}"
    return value, None


def price_cell(value: Any) -> tuple[int | None, str | None]:
    """(fen or None when empty, reason to refuse or None); the cell is yuan."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if _formula(value):
        return None, f"price '{cell_str(value)[:40]}' is a formula, not a number: type the price"
    if isinstance(value, bool):
        return None, "price is TRUE/FALSE, not a number"
    text = _MONEY_NOISE.sub("", unicodedata.normalize("NFKC", cell_str(value)))
    try:
        yuan = Decimal(text)
    except InvalidOperation:
        return None, f"price '{cell_str(value).strip()[:40]}' is not a number of yuan"
    if not yuan.is_finite() or yuan < 0 or yuan > MAX_PRICE_YUAN:
        return None, f"price '{cell_str(value).strip()[:40]}' is not a price (0 to {MAX_PRICE_YUAN} yuan)"
    return int((yuan * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)), None


class StockRows:
    """Parses the rows of one stock file, remembering the SKUs seen (a SKU given twice: the later row refused)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, row_no: int, cells: Sequence[Any], header: StockHeader) -> SupplierStock | RowError | None:
        got = row_cells(cells, header.names)
        if got is None:
            return None
        padded, raw = got
        reasons: list[str] = []
        sku, reason = id_cell(padded[header.sku], "SKU")
        if _formula(padded[header.sku]) and reason is None and sku == cell_str(padded[header.sku]).strip():
            reason = f"SKU '{sku[:40]}' is a formula, not a code"
        if reason:
            reasons.append(reason)
        elif not sku:
            reasons.append("empty SKU")
        elif len(sku) > 128:
            reasons.append(f"SKU of {len(sku)} characters (at most 128)")
        elif sku in self._seen:
            reasons.append(f"SKU {sku} is given twice (first at row {self._seen[sku]}): the first row counts")
        amount, reason = quantity_cell(padded[header.quantity])
        if reason:
            reasons.append(reason)
        price = None
        if header.price is not None:
            price, reason = price_cell(padded[header.price])
            if reason:
                reasons.append(reason)
        if reasons:
            return RowError(row_no=row_no, reason="; ".join(reasons), raw=raw)
        self._seen[sku] = row_no
        return SupplierStock(sku, amount, price)


def parse_stock_stream(rows: Iterable[Sequence[Any]], limits: InboxLimits | None = None) -> ParsedInbox:
    """Rows of a stock file (sheet row 1 first) → ``kind`` "stock" with figures and rejected rows, or a file
    error when no stock header is found. Raises InboxLimitError past ``limits``."""
    header, stock, errors = stream_table(rows, limits or InboxLimits(), find_stock_header, StockRows())
    if header is None:
        return ParsedInbox(rows=[], errors=[], file_error=no_stock_header_message(), kind="stock")
    return ParsedInbox(rows=[], errors=errors, kind="stock", stock=stock)


def no_stock_header_message() -> str:
    """What a stock file's header must hold."""
    return (f"a stock file (库存表) needs a SKU column ({' / '.join(SKU_ALIASES[:5])} …) and a quantity column "
            f"({' / '.join(QUANTITY_ALIASES[:6])} …) and no order-number column")


__all__ = ["PRICE_ALIASES", "QUANTITY_ALIASES", "SKU_ALIASES", "StockHeader", "StockRows", "find_stock_header",
           "no_stock_header_message", "parse_stock_stream", "price_cell", "quantity_cell"]
