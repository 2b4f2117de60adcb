"""``syncd stock status``: per storefront SKU, what the suppliers have, what was written and when, the margin."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select

from syncd.config.models import Route
from syncd.stock import formula
from syncd.store.models import StockCatalog, StockMargin, StockSupplier, StockWritten


def yuan(fen: int | None) -> str:
    """Fen as a person reads yuan (``12.50``); ``-`` when unknown."""
    if fen is None:
        return "-"
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def rows(db: Any, routes: Mapping[str, Route], shops: Collection[str] | None = None,
         skus: Collection[str] | None = None) -> list[dict[str, Any]]:
    """One row per routed listing on sale (and per written SKU no longer listed), sorted by SKU code and shop."""
    with db.read() as s:
        q = select(StockCatalog).where(StockCatalog.merchant_sku.in_(list(skus or routes)))
        if shops:
            q = q.where(StockCatalog.shop_id.in_(list(shops)))
        links = list(s.scalars(q))
        written = {(w.shop_id, w.product_id, w.sku_id): w for w in s.scalars(select(StockWritten))}
        margins = {(m.shop_id, m.merchant_sku): m for m in s.scalars(select(StockMargin))}
        figures = {(f.supplier_id, f.supplier_sku): f for f in s.scalars(select(StockSupplier))}
    out = []
    for link in links:
        code = link.merchant_sku or ""
        route = routes.get(code)
        if route is None:
            continue
        supply = []
        for supplier, parts in formula.sources(route):
            for sku, _units in parts:
                f = figures.get((supplier, sku))
                supply.append({"supplier": supplier, "supplier_sku": sku,
                               "quantity": None if f is None else f.quantity,
                               "price_fen": None if f is None else f.price_fen,
                               "source": None if f is None else f.source,
                               "observed_at": None if f is None else f.observed_at.isoformat(),
                               "error": None if f is None else f.error})
        w = written.get((link.shop_id, link.product_id, link.sku_id))
        m = margins.get((link.shop_id, code))
        out.append({
            "shop": link.shop_id, "sku": code, "product_id": link.product_id, "sku_id": link.sku_id,
            "on_sale": link.on_sale, "supply": supply,
            "written": None if w is None else w.value,
            "written_at": None if w is None or w.written_at is None else w.written_at.isoformat(),
            "pending": None if w is None else w.pending,
            "error": None if w is None else w.last_error, "error_code": None if w is None else w.error_code,
            "price_fen": link.price_fen, "reserved": link.reserved,
            "margin_fen": None if m is None else m.margin_fen, "margin_low": bool(m and m.low),
            "held": bool(m and m.held)})
    return sorted(out, key=lambda r: (r["sku"], r["shop"], r["sku_id"]))


def supply_text(row: Mapping[str, Any]) -> str:
    """``gz:GZ-1=12, yiwu:YW-1=?`` — each supplier SKU's figure."""
    return ", ".join(f"{p['supplier']}:{p['supplier_sku']}={'?' if p['quantity'] is None else p['quantity']}"
                     for p in row["supply"])
