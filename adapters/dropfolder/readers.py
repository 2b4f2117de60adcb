"""Reading a reply file (or a stock file) within the supplier's :class:`InboxLimits`, through the shared decoder
(:mod:`syncd.sheets.decode`): this module only knows which header it looks for and what the rows become. Either
returns a :class:`ParsedInbox` (a file error as ``file_error``) or raises :class:`InboxLimitError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from syncd.adapters.dropfolder.rows import find_header, no_header_message, parse_stream
from syncd.adapters.dropfolder.stockfile import find_stock_header, no_stock_header_message, parse_stock_stream
from syncd.domain import ParsedInbox
from syncd.sheets.decode import decode_csv, decode_xlsx
from syncd.sheets.limits import InboxLimits


def _error(message: str) -> ParsedInbox:
    return ParsedInbox(rows=[], errors=[], file_error=message)


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


def parse_xlsx(f: BinaryIO, size: int, order_headers: Sequence[str], sub_order_headers: Sequence[str],
               limits: InboxLimits) -> ParsedInbox:
    """Rows of the first sheet that has a header row (a reply or a stock file), streamed read-only."""
    either = _Either(order_headers, sub_order_headers, limits)
    out = decode_xlsx(f, size, limits, either.found, either.read, no_header_either())
    return _error(out) if isinstance(out, str) else out


__all__ = ["no_header_either", "parse_csv", "parse_xlsx"]
