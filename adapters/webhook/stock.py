"""Stock and price of a webhook supplier (issue 19): the ``POST stock`` read with prices, and the signed stock push.

docs/webhook-supplier.md §6 (the stock call; ``price_fen`` in the answer) and §9.1 (the stock push to
``/callbacks/suppliers/<id>/stock``). Pure readers here; the adapter makes the calls. Every reader raises
ProtocolError naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from syncd.adapters.webhook.mapping import _count, parse_time, text
from syncd.errors import ProtocolError
from syncd.stockmodel import StockReadResult, SupplierStock

READ_LINES = 100  # SKUs one stock read carries (the contract promises suppliers no more)
PUSH_LINES = 1000  # SKUs one push may carry
MAX_SKU = 128
PURPOSE = "sync"  # marks a read for the listings, not an order about to be placed


def read_body(skus: Sequence[str]) -> dict[str, Any]:
    """``POST stock`` asking for figures: one unit of each SKU, ``purpose`` ``sync`` (suppliers may ignore it)."""
    return {"lines": [{"sku": sku, "quantity": 1} for sku in skus], "purpose": PURPOSE}


def _line(item: Any, where: str) -> SupplierStock:
    if not isinstance(item, dict):
        raise ProtocolError(f"{where}: expected an object, found {type(item).__name__}")
    sku = text(item, "sku", f"{where}.")
    if len(sku) > MAX_SKU:
        raise ProtocolError(f"{where}.sku: expected at most {MAX_SKU} characters, found {len(sku)}")
    available, price = item.get("available"), item.get("price_fen")
    return SupplierStock(sku, None if available is None else _count(available, f"{where}.available"),
                         None if price is None else _count(price, f"{where}.price_fen"))


def lines(raw: dict[str, Any], where: str, limit: int) -> list[SupplierStock]:
    """``lines[]`` of ``{sku, available, price_fen?}`` (a stock answer or a push)."""
    items = raw.get("lines")
    if not isinstance(items, list):
        raise ProtocolError(f"{where}lines: expected a list, found {type(items).__name__}")
    if len(items) > limit:
        raise ProtocolError(f"{where}lines: expected at most {limit}, found {len(items)}")
    return [_line(item, f"{where}lines[{i}]") for i, item in enumerate(items)]


def read_result(raw: dict[str, Any], asked: Sequence[str], where: str, into: StockReadResult) -> None:
    """A stock answer into ``into``: a figure per SKU answered (``available`` null: quantity unknown, the price
    still taken); a SKU left out of the answer could not be said (deferred, not zero)."""
    answered = {s.supplier_sku: s for s in lines(raw, where, len(asked) + READ_LINES)}
    for sku in asked:
        got = answered.get(sku)
        if got is None:
            into.deferred[sku] = "the supplier's stock answer left it out"
        else:
            into.stock.append(got)


def push(raw: dict[str, Any], signed_at: datetime) -> tuple[str, list[SupplierStock]]:
    """(event id, figures) of a stock push; figures are true at ``occurred_at`` (else the signature's time)."""
    event_id = text(raw, "event_id")
    if len(event_id) > 128:
        raise ProtocolError(f"event_id: expected at most 128 characters, found {len(event_id)}")
    occurred = raw.get("occurred_at")
    at = signed_at if occurred is None else parse_time(occurred, "occurred_at")
    figures = lines(raw, "", PUSH_LINES)
    if len({s.supplier_sku for s in figures}) != len(figures):
        raise ProtocolError("lines: a sku appears twice")
    return event_id, [SupplierStock(s.supplier_sku, s.quantity, s.price_fen, at) for s in figures]


__all__ = ["MAX_SKU", "PURPOSE", "PUSH_LINES", "READ_LINES", "lines", "push", "read_body", "read_result"]
