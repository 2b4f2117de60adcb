"""Supplier figures in: an API read, a signed push (1688 message, webhook stock push) or a 库存表 row.

Every figure lands in ``stock_supplier`` (one row per supplier SKU). A push or a file marks what it changed
``due``: the ``stock_due`` job writes the storefront SKUs those figures serve within seconds, not at the next
full pass — a supplier at zero takes its listings to zero at once. The mark is in the database, in the same
transaction as the figure, so a crash between the two loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from syncd import clock
from syncd.stock.store import upsert
from syncd.stockmodel import StockReadResult, SupplierStock
from syncd.store.models import StockSupplier

log = logging.getLogger("syncd.stock")

READ, PUSH, FILE = "read", "push", "file"
MAX_SKU = 128


def record(s: Session, supplier_id: str, figures: Iterable[SupplierStock], source: str,
           now: datetime | None = None) -> set[str]:
    """Store these figures; returns the supplier SKUs whose quantity or price changed. A figure without a
    quantity (a price-only message) keeps the last quantity; one without a price keeps the last price. A push
    or file figure is marked due when it changed anything."""
    now = now or clock.now()
    latest: dict[str, SupplierStock] = {}
    for f in figures:
        if not f.supplier_sku or len(f.supplier_sku) > MAX_SKU:
            log.warning("supplier %s: a stock figure with an empty or over-long SKU was ignored", supplier_id)
            continue
        latest[f.supplier_sku] = f  # the later figure of a SKU given twice wins
    if not latest:
        return set()
    old = {r.supplier_sku: r for r in s.scalars(select(StockSupplier).where(
        StockSupplier.supplier_id == supplier_id, StockSupplier.supplier_sku.in_(list(latest))))}
    rows = []
    changed: set[str] = set()
    for sku, f in latest.items():
        prev = old.get(sku)
        quantity = f.quantity if f.quantity is not None else (prev.quantity if prev else None)
        price = f.price_fen if f.price_fen is not None else (prev.price_fen if prev else None)
        observed = f.observed_at or now
        if prev is not None and prev.observed_at > observed and source != READ:
            continue  # an older push delivered late: the figure we have is newer
        moved = prev is None or prev.quantity != quantity or prev.price_fen != price
        if moved:
            changed.add(sku)
        rows.append({"supplier_id": supplier_id, "supplier_sku": sku, "quantity": quantity, "price_fen": price,
                     "source": source, "observed_at": observed, "read_at": now, "error": None,
                     "due": (bool(prev and prev.due)) or (moved and source != READ)})
    upsert(s, StockSupplier, rows, ["supplier_id", "supplier_sku"])
    return changed


def record_read(s: Session, supplier_id: str, result: StockReadResult, now: datetime | None = None) -> set[str]:
    """An API read: figures stored; a SKU the supplier says it cannot serve (delisted, unknown) counts as zero
    (never sell what cannot be bought), with the reason; a deferred one keeps its last figure and notes why."""
    now = now or clock.now()
    changed = record(s, supplier_id, result.stock, READ, now)
    gone = [SupplierStock(sku, 0) for sku in result.failed]
    changed |= record(s, supplier_id, gone, READ, now)
    notes = {**{k: f"not served: {v}" for k, v in result.failed.items()},
             **{k: f"not read this time: {v}" for k, v in result.deferred.items()}}
    if notes:
        for row in s.scalars(select(StockSupplier).where(StockSupplier.supplier_id == supplier_id,
                                                         StockSupplier.supplier_sku.in_(list(notes)))):
            row.error = notes[row.supplier_sku][:500]
    return changed


def due(s: Session) -> list[tuple[str, str]]:
    """(supplier, supplier SKU) of every figure a push or file changed that is not written through yet."""
    return [(r.supplier_id, r.supplier_sku) for r in s.execute(
        select(StockSupplier.supplier_id, StockSupplier.supplier_sku).where(StockSupplier.due.is_(True)))]


def clear_due(s: Session, pairs: Sequence[tuple[str, str]], before: datetime) -> None:
    """The due marks of these figures, unless a newer push came in meanwhile (it stays due)."""
    for start in range(0, len(pairs), 200):
        part = pairs[start:start + 200]
        for row in s.scalars(select(StockSupplier).where(
                tuple_(StockSupplier.supplier_id, StockSupplier.supplier_sku).in_(part))):
            if row.read_at <= before:
                row.due = False


def record_file(s: Session, supplier_id: str, figures: Sequence[SupplierStock], file_name: str) -> set[str]:
    """A supplier's 库存表 from its inbox (the collect stage, in the file's own import transaction: the figures
    and the file's import record commit together)."""
    changed = record(s, supplier_id, figures, FILE)
    log.info("supplier %s: stock file %r: %d figure(s), %d changed; the storefronts follow within seconds",
             supplier_id, file_name, len(figures), len(changed))
    return changed
