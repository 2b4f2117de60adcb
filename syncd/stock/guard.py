"""The price guard's person-facing side: ``syncd stock release SKU`` lets a held SKU sell again at today's cost.

The hold comes back by itself if the supplier's cost rises above the cost released (the engine compares them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from syncd import clock
from syncd.store.models import StockMargin


def release(db: Any, merchant_sku: str, by: str, shop_id: str | None = None) -> list[str]:
    """Release the price guard's hold on this SKU (in one shop or all); the shops released."""
    now = clock.now()
    out = []
    with db.begin() as s:
        q = select(StockMargin).where(StockMargin.merchant_sku == merchant_sku, StockMargin.held.is_(True))
        if shop_id is not None:
            q = q.where(StockMargin.shop_id == shop_id)
        for row in s.scalars(q):
            row.held = False
            row.released_cost_fen = row.supplier_cost_fen
            row.released_by = by[:100]
            row.released_at = now
            row.updated_at = now
            out.append(row.shop_id)
    return sorted(out)
