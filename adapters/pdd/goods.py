"""Pinduoduo (拼多多) catalogue and stock: :class:`syncd.stockmodel.StorefrontStock` (reference/stock-and-price.md §2).

Listing: ``pdd.goods.list.get`` (page from 1, ``page_size`` ≤ 100, every goods whatever ``is_onsale``): per SKU
``sku_id``, merchant code ``outer_id``, ``sku_quantity``, ``reserve_quantity`` (预扣库存), ``is_sku_onsale``; no
price. Prices come from a second read per goods, as ``catalog.prices`` says: ``detail`` → ``pdd.goods.detail.get``
(``multi_price`` 团购价 / ``price`` 单买价, **fen**), ``information`` → ``pdd.goods.information.get``
(``group_price`` / ``single_price``, **yuan**, converted with Decimal here), ``none`` → no price read.

Writes: ``pdd.goods.quantity.update``, one SKU a call, ``update_type=1`` (full: the only retry-safe mode, the API
has no idempotency key). PDD publishes no codes for its refusals (§2.1, §7.3): a refusal whose text speaks of a
resource slot (资源位), an activity or held stock is a floor refusal (the floor taken from the message when it
names one number); flow control and "busy" are the client's transient errors; the rest are business refusals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from syncd.adapters.common.catalog import Page, deep_pages, require_id, worded_refusal
from syncd.adapters.common.fields import integer, text
from syncd.adapters.pdd.client import PddClient
from syncd.adapters.pdd.config import PddShopConfig
from syncd.adapters.pdd.mapping import yuan_to_fen
from syncd.errors import ProtocolError, RejectedError
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult

log = logging.getLogger("syncd.adapters.pdd")

LIST_API = "pdd.goods.list.get"
DETAIL_API = "pdd.goods.detail.get"
INFO_API = "pdd.goods.information.get"
WRITE_API = "pdd.goods.quantity.update"
FULL = 1  # update_type 1 = 全量
_NO_DEPTH = 1_000_000  # none documented; a bound all the same, so a broken answer cannot page forever


class PddStock:
    """Catalogue listing and full-value stock writes of one Pinduoduo shop."""

    platform = "pdd"
    stock_batch_limit = 1
    batch_within_product = True

    def __init__(self, config: PddShopConfig, client: PddClient) -> None:
        self._config = config
        self._client = client

    # ---- listing ------------------------------------------------------------------------------

    def list_catalog(self) -> Iterator[ListingSku]:
        """Every SKU of every goods; an entry that cannot be read is logged and skipped."""
        size = self._config.catalog.page_size
        seen: set[str] = set()
        for raw in deep_pages(self._page, 0, 0, first_page=1, page_size=size, depth=_NO_DEPTH,
                              what=f"pdd shop {self._config.id} {LIST_API}"):
            try:
                goods_id, on_sale, title, skus = _goods(raw)
            except ProtocolError as err:
                log.error("pdd shop %s: %s entry skipped: %s", self._config.id, LIST_API, err)
                continue
            if goods_id in seen:
                continue
            seen.add(goods_id)
            prices = self._prices(goods_id) if skus else {}
            for sku in skus:
                try:
                    yield _sku(sku, goods_id, on_sale, title, prices)
                except ProtocolError as err:
                    log.error("pdd shop %s: SKU skipped: %s", self._config.id, err)

    def _page(self, _lo: int, _hi: int, page: int) -> Page:
        data = self._client.call(LIST_API, {"page": page, "page_size": self._config.catalog.page_size})
        where = f"pdd {LIST_API} page {page}"
        items = data.get("goods_list") or []
        if not isinstance(items, list):
            raise ProtocolError(f"{where}: goods_list is not a list")
        return Page(items, integer(data, "total_count", where))

    def _prices(self, goods_id: str) -> dict[str, int]:
        """SKU id → storefront price in fen, from the read ``catalog.prices`` names; {} when it cannot be read."""
        source = self._config.catalog.prices
        if source == "none":
            return {}
        api = DETAIL_API if source == "detail" else INFO_API
        where = f"pdd {api} goods {goods_id}"
        try:
            data = self._client.call(api, {"goods_id": goods_id})
        except RejectedError as err:
            log.error("pdd shop %s: %s: refused (%s); its SKUs are listed without a price", self._config.id,
                      where, err.code)
            return {}
        inner = data.get("goods_info", data) if source == "information" else data
        skus = inner.get("sku_list") if isinstance(inner, dict) else None
        if not isinstance(skus, list):
            log.error("pdd shop %s: %s: no sku_list; its SKUs are listed without a price", self._config.id, where)
            return {}
        group = self._config.catalog.price_kind == "group"
        out: dict[str, int] = {}
        for raw in skus:
            try:
                if not isinstance(raw, dict):
                    raise ProtocolError(f"{where}: SKU entry is {type(raw).__name__}, expected an object")
                sku_id = require_id(raw.get("sku_id"), f"{where} SKU")
                here = f"{where} SKU {sku_id}"
                if source == "detail":
                    fen = integer(raw, "multi_price" if group else "price", here)
                else:
                    key = "group_price" if group else "single_price"
                    value = raw.get(key)
                    fen = None if value in (None, "") else yuan_to_fen(value, f"{here}: {key}")
                if fen is not None:
                    if fen < 0:
                        raise ProtocolError(f"{here}: price {fen} is negative")
                    out[sku_id] = fen
            except ProtocolError as err:
                log.error("pdd shop %s: price skipped: %s", self._config.id, err)
        return out

    # ---- writes -------------------------------------------------------------------------------

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        """``pdd.goods.quantity.update`` for the one SKU (full value)."""
        if len(writes) > self.stock_batch_limit:
            raise ValueError(f"pdd write_stock: {len(writes)} SKUs, at most 1 a call")
        return [self._one(w) for w in writes]

    def _one(self, write: StockWrite) -> StockWriteResult:
        if write.quantity < 0:
            raise ValueError(f"pdd write_stock: SKU {write.sku_id}: negative quantity {write.quantity}")
        try:
            data = self._client.call(WRITE_API, {"goods_id": write.product_id, "sku_id": write.sku_id,
                                                 "quantity": write.quantity, "update_type": FULL})
        except RejectedError as err:
            return worded_refusal(write, err)
        success = data.get("is_success")
        if success is True or success in ("true", 1):
            return StockWriteResult(write.sku_id, ok=True)
        if success is False or success in ("false", 0):
            return StockWriteResult(write.sku_id, ok=False, code="is_success=false",
                                    message=f"pdd {WRITE_API}: SKU {write.sku_id} not updated (is_success false)")
        return StockWriteResult(write.sku_id, ok=False, code="malformed-answer", retryable=True,
                                message=f"pdd {WRITE_API}: SKU {write.sku_id}: answer has no is_success")


def _goods(raw: Any) -> tuple[str, bool, str, list[Any]]:
    if not isinstance(raw, dict):
        raise ProtocolError(f"expected a goods object, found {type(raw).__name__}")
    goods_id = require_id(raw.get("goods_id"), f"pdd {LIST_API} goods")
    where = f"pdd goods {goods_id}"
    on_sale = integer(raw, "is_onsale", where) == 1
    skus = raw.get("sku_list") or []
    if not isinstance(skus, list):
        raise ProtocolError(f"{where}: sku_list is not a list")
    return goods_id, on_sale, text(raw, "goods_name", where), skus


def _sku(raw: Any, goods_id: str, on_sale: bool, title: str, prices: dict[str, int]) -> ListingSku:
    where = f"pdd goods {goods_id}"
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: SKU entry is {type(raw).__name__}, expected an object")
    sku_id = require_id(raw.get("sku_id"), f"{where} SKU")
    here = f"{where} SKU {sku_id}"
    sku_on = integer(raw, "is_sku_onsale", here)
    return ListingSku(product_id=goods_id, sku_id=sku_id, merchant_code=text(raw, "outer_id", here).strip() or None,
                      title=title, on_sale=on_sale and sku_on in (None, 1), stock=integer(raw, "sku_quantity", here),
                      price_fen=prices.get(sku_id), reserved=integer(raw, "reserve_quantity", here))
