"""The catalogue link: per shop, which platform product / SKU carries each merchant SKU code.

:func:`sync_shop` pages the shop's whole product listing (the adapter stays inside the platform's paging limits)
and replaces the shop's link rows in one transaction: a listing that fails half-way changes nothing, the last
complete one stands. Each sync also forgets the floors and refusals the writes learnt (the listing says the
held-back stock afresh, and a refusal is tried once more per catalogue interval, never in a loop).

:func:`check` is ``syncd catalog check``: a merchant SKU on sale with no route, and a route whose SKU is not on
sale, reported per shop — never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from syncd import clock
from syncd.stock.engine import stock_shops
from syncd.stock.store import upsert
from syncd.stockmodel import StorefrontStock
from syncd.store.models import Cursor, StockCatalog, StockWritten

log = logging.getLogger("syncd.stock")

STREAM = "catalog"  # the cursor row that remembers a shop's last catalogue sync
MAX_ID = 64
MAX_CODE = 128


@dataclass
class SyncResult:
    shop_id: str
    skus: int = 0
    coded: int = 0  # SKUs with a merchant code
    skipped: list[str] = field(default_factory=list)  # entries that could not be kept, with why


def sync_shop(rt: Any, shop_id: str, adapter: StorefrontStock, now: datetime | None = None) -> SyncResult:
    """Read the shop's whole listing and make it the shop's catalogue link."""
    now = now or clock.now()
    result = SyncResult(shop_id)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for item in adapter.list_catalog():
        if len(item.product_id) > MAX_ID or len(item.sku_id) > MAX_ID or len(item.merchant_code or "") > MAX_CODE:
            result.skipped.append(f"product {item.product_id[:40]} SKU {item.sku_id[:40]}: an id too long to keep")
            continue
        rows[(item.product_id, item.sku_id)] = {
            "shop_id": shop_id, "product_id": item.product_id, "sku_id": item.sku_id,
            "merchant_sku": item.merchant_code or None, "title": (item.title or "")[:500], "on_sale": item.on_sale,
            "price_fen": item.price_fen, "reserved": item.reserved, "platform_stock": item.stock, "seen_at": now}
    with rt.db.begin() as s:
        s.execute(delete(StockCatalog).where(StockCatalog.shop_id == shop_id))
        upsert(s, StockCatalog, list(rows.values()), ["shop_id", "product_id", "sku_id"])
        s.execute(update(StockWritten).where(StockWritten.shop_id == shop_id)
                  .values(floor=None, refused=None))
        upsert(s, Cursor, [{"shop_id": shop_id, "stream": STREAM, "watermark": now, "updated_at": now}],
               ["shop_id", "stream"])
    result.skus = len(rows)
    result.coded = sum(1 for r in rows.values() if r["merchant_sku"])
    for why in result.skipped[:20]:
        log.warning("shop %s catalogue: %s", shop_id, why)
    log.info("shop %s: catalogue synced, %d SKU(s), %d with a merchant code", shop_id, result.skus, result.coded)
    return result


def last_sync(rt: Any, shop_id: str) -> datetime | None:
    with rt.db.read() as s:
        row = s.get(Cursor, (shop_id, STREAM))
        return None if row is None else row.watermark


def due_shops(rt: Any, now: datetime) -> list[str]:
    """Shops whose catalogue is older than their ``stock.catalog_hours`` (or was never read)."""
    out = []
    for shop_id in stock_shops(rt):
        last = last_sync(rt, shop_id)
        hours = rt.config.shops[shop_id].stock.catalog_hours
        if last is None or now - last >= timedelta(hours=hours):
            out.append(shop_id)
    return out


@dataclass(frozen=True, slots=True)
class Finding:
    shop_id: str
    kind: str  # "unrouted": on sale without a route; "not_on_sale": routed but not on sale; "never_synced"
    merchant_sku: str
    detail: str = ""


def check(rt: Any, shops: Collection[str] | None = None) -> list[Finding]:
    """Per stock-enabled shop (or ``shops``): merchant SKUs on sale without a route; then the routes whose SKU is
    on sale in none of those shops (shop ``*``; its detail says where it is listed but not on sale). A route sold
    in one shop only is not a problem of the others."""
    routes = rt.config.routes
    out: list[Finding] = []
    sold: set[str] = set()
    listed: dict[str, list[str]] = {}
    checked = sorted(stock_shops(rt, shops))
    for shop_id in checked:
        if last_sync(rt, shop_id) is None:
            out.append(Finding(shop_id, "never_synced", "", f"syncd catalog sync {shop_id}"))
            continue
        with rt.db.read() as s:
            rows = s.execute(select(StockCatalog.merchant_sku, StockCatalog.on_sale, StockCatalog.product_id,
                                    StockCatalog.title).where(StockCatalog.shop_id == shop_id)).all()
        on_sale: dict[str, str] = {}
        for code, sale, product, title in rows:
            if not code:
                continue
            listed.setdefault(code, []).append(shop_id)
            if sale:
                on_sale.setdefault(code, f"{product} {title}".strip()[:80])
        sold |= set(on_sale)
        out += [Finding(shop_id, "unrouted", code, where) for code, where in sorted(on_sale.items())
                if code not in routes]
    if checked and not any(f.kind == "never_synced" for f in out):
        out += [Finding("*", "not_on_sale", code,
                        f"listed in {', '.join(sorted(set(listed[code])))}, not on sale" if code in listed
                        else "not listed in any shop")
                for code in sorted(routes) if code not in sold]
    return out
