"""Taobao / Tmall catalogue and stock: :class:`syncd.stockmodel.StorefrontStock` (reference/stock-and-price.md §3).

Listing: ``taobao.items.onsale.get`` (``page_size`` ≤ 200; the deep-paging limit is 20 000 or 100 000 depending
on which sentence of the doc is right, so ``catalog.paging_depth`` says it and a deeper shop is read in
``start_modified`` / ``end_modified`` windows), with ``catalog.inventory`` also ``taobao.items.inventory.get``
(items in the warehouse: listed, not on sale). SKUs come from ``taobao.items.seller.list.get``, ≤ 20 items a call,
field ``sku`` (not ``skus``): ``sku_id``, merchant code ``outer_id``, ``price`` (yuan text → fen), ``quantity``,
``with_hold_quantity`` (unpaid orders holding stock). An item without SKUs is listed once, with an empty
``sku_id`` and the item's ``outer_id``; its stock is the item's ``num``.

Writes: ``taobao.skus.quantity.update`` (≤ 20 SKUs of one item, ``skuid_quantities``, ``type=1`` full); an item
without SKUs through ``taobao.item.quantity.update`` without ``sku_id``. A refusal of the batch (TOP names no SKU)
sends each SKU again through ``taobao.item.quantity.update`` so the refusal lands on its SKU. TOP publishes no
codes for activity or held-stock refusals (§3.1, §7.3): a refusal whose text speaks of them is a floor refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from syncd import clock
from syncd.adapters.common.catalog import (
    EPOCH_START,
    Page,
    deep_pages,
    malformed,
    require_id,
    worded_refusal,
    write_with_fallback,
)
from syncd.adapters.common.fields import integer, text
from syncd.adapters.taobao.client import TaobaoClient
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.adapters.taobao.mapping import items, yuan_to_fen
from syncd.errors import ProtocolError, RejectedError
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult

log = logging.getLogger("syncd.adapters.taobao")

ONSALE_API = "taobao.items.onsale.get"
INVENTORY_API = "taobao.items.inventory.get"
SKUS_API = "taobao.items.seller.list.get"
BATCH_API = "taobao.skus.quantity.update"
ONE_API = "taobao.item.quantity.update"
BATCH_LIMIT = 20
SKUS_PER_CALL = 20  # num_iids of one items.seller.list.get
FULL = 1  # type 1 = 全量更新
LIST_FIELDS = "num_iid,title,num,price,outer_id,approve_status,modified"
SKU_FIELDS = "num_iid,title,approve_status,outer_id,num,price,with_hold_quantity,sku"


class TaobaoStock:
    """Catalogue listing and full-value stock writes of one Taobao / Tmall shop."""

    platform = "taobao"
    stock_batch_limit = BATCH_LIMIT
    batch_within_product = True

    def __init__(self, config: TaobaoShopConfig, client: TaobaoClient) -> None:
        self._config = config
        self._client = client

    # ---- listing ------------------------------------------------------------------------------

    def list_catalog(self) -> Iterator[ListingSku]:
        """Every SKU of every item on sale (and in the warehouse with ``catalog.inventory``)."""
        apis = [ONSALE_API, INVENTORY_API] if self._config.catalog.inventory else [ONSALE_API]
        seen: set[str] = set()
        for api in apis:
            batch: dict[str, dict[str, Any]] = {}
            for raw in self._items(api):
                if not isinstance(raw, dict) or raw.get("num_iid") in (None, ""):
                    log.error("taobao shop %s: %s entry skipped: no num_iid", self._config.id, api)
                    continue
                num_iid = str(raw["num_iid"]).strip()
                if num_iid in seen:
                    continue
                seen.add(num_iid)
                batch[num_iid] = raw
                if len(batch) == SKUS_PER_CALL:
                    yield from self._skus(batch, api == ONSALE_API)
                    batch = {}
            if batch:
                yield from self._skus(batch, api == ONSALE_API)

    def _items(self, api: str) -> Iterator[Any]:
        settings = self._config.catalog
        end = clock.to_epoch(clock.now()) + 1

        def page(lo: int, hi: int, page_no: int) -> Page:
            params: dict[str, Any] = {"fields": LIST_FIELDS, "page_no": page_no, "page_size": settings.page_size,
                                      "order_by": "modified:asc"}
            if lo > EPOCH_START or hi < end:
                params.update(start_modified=clock.shanghai_text(clock.from_epoch(lo)),
                              end_modified=clock.shanghai_text(clock.from_epoch(hi)))
            data = self._client.call(api, params)
            where = f"taobao {api} page {page_no}"
            return Page(items(data.get("items"), "item", where), integer(data, "total_results", where))

        yield from deep_pages(page, EPOCH_START, end, first_page=1, page_size=settings.page_size,
                              depth=settings.paging_depth, what=f"taobao shop {self._config.id} {api}")

    def _skus(self, listed: dict[str, dict[str, Any]], on_sale: bool) -> Iterator[ListingSku]:
        data = self._client.call(SKUS_API, {"num_iids": ",".join(listed), "fields": SKU_FIELDS})
        where = f"taobao {SKUS_API}"
        try:
            found = items(data.get("items"), "item", where)
        except ProtocolError as err:
            log.error("taobao shop %s: %s; items %s skipped", self._config.id, err, ",".join(listed))
            return
        for raw in found:
            try:
                yield from _item_skus(raw, listed, on_sale)
            except ProtocolError as err:
                log.error("taobao shop %s: item skipped: %s", self._config.id, err)

    # ---- writes -------------------------------------------------------------------------------

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        """One ``taobao.skus.quantity.update`` call for SKUs of one item (an item without SKUs: its own call)."""
        if len(writes) > self.stock_batch_limit:
            raise ValueError(f"taobao write_stock: {len(writes)} SKUs, at most {self.stock_batch_limit} a call")
        if len({w.product_id for w in writes}) > 1:
            raise ValueError("taobao write_stock: one call carries SKUs of one item only")
        for w in writes:
            if w.quantity < 0:
                raise ValueError(f"taobao write_stock: SKU {w.sku_id}: negative quantity {w.quantity}")
        return write_with_fallback(writes, self._batch, self._one, f"taobao shop {self._config.id} {BATCH_API}")

    def _batch(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        if any(not w.sku_id for w in writes):
            return [self._one(w) for w in writes]  # the item itself has no SKU ids to batch
        data = self._client.call(BATCH_API, {
            "num_iid": writes[0].product_id, "type": FULL,
            "skuid_quantities": ";".join(f"{w.sku_id}:{w.quantity}" for w in writes)})
        item = data.get("item")
        if not isinstance(item, dict):
            return [malformed(w, f"taobao {BATCH_API}: answer has no item for SKU {w.sku_id} "
                                 f"(item {w.product_id})") for w in writes]
        try:
            answered = {str(s.get("sku_id")).strip() for s in items(item.get("skus"), "sku", BATCH_API)
                        if isinstance(s, dict)}
        except ProtocolError:
            answered = set()
        if not answered:  # the answer lists no SKUs: the call succeeded for all it carried
            return [StockWriteResult(w.sku_id, ok=True) for w in writes]
        return [StockWriteResult(w.sku_id, ok=True) if w.sku_id in answered
                else malformed(w, f"taobao {BATCH_API}: SKU {w.sku_id} is missing from the answer")
                for w in writes]

    def _one(self, write: StockWrite) -> StockWriteResult:
        params: dict[str, Any] = {"num_iid": write.product_id, "quantity": write.quantity, "type": FULL}
        if write.sku_id:
            params["sku_id"] = write.sku_id
        try:
            data = self._client.call(ONE_API, params)
        except RejectedError as err:
            return worded_refusal(write, err)
        if not isinstance(data.get("item"), dict):
            return malformed(write, f"taobao {ONE_API}: answer has no item for SKU {write.sku_id or '(item)'} "
                                    f"(item {write.product_id})")
        return StockWriteResult(write.sku_id, ok=True)


def _item_skus(raw: Any, listed: dict[str, dict[str, Any]], on_sale: bool) -> Iterator[ListingSku]:
    if not isinstance(raw, dict):
        raise ProtocolError(f"taobao {SKUS_API}: item entry is {type(raw).__name__}, expected an object")
    num_iid = require_id(raw.get("num_iid"), f"taobao {SKUS_API} item")
    where = f"taobao item {num_iid}"
    base = {**listed.get(num_iid, {}), **raw}
    title = text(base, "title", where)
    selling = on_sale and text(base, "approve_status", where) in ("", "onsale")
    skus = items(raw.get("skus"), "sku", where)
    if not skus:
        yield ListingSku(product_id=num_iid, sku_id="", merchant_code=text(base, "outer_id", where).strip() or None,
                         title=title, on_sale=selling, stock=integer(base, "num", where),
                         price_fen=yuan_to_fen(base, "price", where) if base.get("price") not in (None, "") else None,
                         reserved=integer(base, "with_hold_quantity", where))
        return
    for sku in skus:
        if not isinstance(sku, dict):
            log.error("%s: SKU entry is %s, expected an object; skipped", where, type(sku).__name__)
            continue
        try:
            sku_id = require_id(sku.get("sku_id"), f"{where} SKU")
            here = f"{where} SKU {sku_id}"
            price = yuan_to_fen(sku, "price", here) if sku.get("price") not in (None, "") else None
            yield ListingSku(product_id=num_iid, sku_id=sku_id,
                             merchant_code=text(sku, "outer_id", here).strip() or None, title=title,
                             on_sale=selling, stock=integer(sku, "quantity", here), price_fen=price,
                             reserved=integer(sku, "with_hold_quantity", here))
        except ProtocolError as err:
            log.error("SKU skipped: %s", err)
