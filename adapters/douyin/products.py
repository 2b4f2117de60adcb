"""Douyin Shop (抖店) catalogue and stock: :class:`syncd.stockmodel.StorefrontStock` (reference/stock-and-price.md §1).

Listing: ``product.listV2`` (page from 1, size ≤ 100, ``page*size`` ≤ 10 000: deeper shops are read in
``update_start_time`` / ``update_end_time`` windows, exclusive bounds) and ``sku.list`` per product (SKU ``id``,
merchant ``code``, ``price`` in fen, ``stock_num``, ``prehold_stock_num``, ``prom_stock_num``).

Writes: ``sku.syncStockBatchMultiProducts`` with ``incremental=false`` (a full value: safe to send twice; no
``idempotent_id`` needed), ≤ 50 SKUs across products, answered per SKU in ``results[]``. A refusal of the call as
a whole (the doc lists product-level codes; whether the call is all-or-nothing is unconfirmed) sends each SKU
again through ``sku.syncStock`` so the refusal lands on its SKU. ``catalog.stock_api: single`` uses only
``sku.syncStock`` (an app without the batch permission).

Per-SKU codes (reference §1.1): ``-20008`` stock below the activity / creator reserve and ``2010045`` /
``2010307`` stock type locked by an activity are floor refusals (the floor is taken from the message when it
names one number); ``2010401`` busy / rate limited, ``isp.service-error:*``, ``40004`` region-warehouse timeout
are retryable; the rest (under review, banned, deleted, linked to a 货品…) are business refusals.
Whether ``stock_num`` excludes ``prehold_stock_num`` is unconfirmed (§7.2): the listing reports ``stock_num`` as
the stock and the held plus activity stock as ``reserved``.
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
    floor_in,
    malformed,
    require_id,
    write_with_fallback,
)
from syncd.adapters.common.fields import integer, text
from syncd.adapters.douyin.client import DouyinClient
from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.errors import ProtocolError, RejectedError
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult

log = logging.getLogger("syncd.adapters.douyin")

LIST_API = "product.listV2"
SKUS_API = "sku.list"
BATCH_API = "sku.syncStockBatchMultiProducts"
ONE_API = "sku.syncStock"
BATCH_LIMIT = 50

FLOOR_CODES = ("-20008", "2010045", "2010307")
RETRY_CODES = ("2010401", "isp.service-error", "isv.parameter-invalid:40004", "2010002", "2010001",
               "isv.traffic-limited")
_ONLINE, _DELETED, _APPROVED = 0, 2, 3  # status 0 online / 1 offline / 2 deleted; check_status 3 approved


def _matches(code: str, table: Sequence[str]) -> bool:
    return any(code == c or code.endswith(":" + c) or code.startswith(c) for c in table)


def result_for(write: StockWrite, code: str, message: str) -> StockWriteResult:
    """One SKU's refusal by its code: retryable, floor (with the number when the message names one), or not."""
    message = message[:300]
    if _matches(code, RETRY_CODES):
        return StockWriteResult(write.sku_id, ok=False, code=code, message=message, retryable=True)
    floor = floor_in(message) if _matches(code, FLOOR_CODES) else None
    return StockWriteResult(write.sku_id, ok=False, code=code, message=message, floor=floor)


class DouyinStock:
    """Catalogue listing and full-value stock writes of one Douyin shop."""

    platform = "douyin"
    stock_batch_limit = BATCH_LIMIT
    batch_within_product = False

    def __init__(self, config: DouyinShopConfig, client: DouyinClient) -> None:
        self._config = config
        self._client = client
        self._whole = (EPOCH_START, EPOCH_START)
        if config.catalog.stock_api == "single":
            self.stock_batch_limit = 1

    # ---- listing ------------------------------------------------------------------------------

    def list_catalog(self) -> Iterator[ListingSku]:
        """Every SKU of every product (online or not); an entry that cannot be read is logged and skipped."""
        settings = self._config.catalog
        seen: set[str] = set()
        end = clock.to_epoch(clock.now()) + 1
        self._whole = (EPOCH_START, end)  # the first window asks without time bounds
        for item in deep_pages(self._product_page, EPOCH_START, end, first_page=1, page_size=settings.page_size,
                               depth=settings.paging_depth, what=f"douyin shop {self._config.id} {LIST_API}"):
            try:
                product_id, on_sale, title = _product(item)
            except ProtocolError as err:
                log.error("douyin shop %s: %s entry skipped: %s", self._config.id, LIST_API, err)
                continue
            if product_id in seen or on_sale is None:  # None: deleted, nothing to list or write
                continue
            seen.add(product_id)
            yield from self._skus(product_id, on_sale, title)

    def _product_page(self, lo: int, hi: int, page: int) -> Page:
        params: dict[str, Any] = {"page": page, "size": self._config.catalog.page_size}
        if (lo, hi) != self._whole:  # a narrowed window; the platform's bounds are exclusive
            params.update(update_start_time=lo - 1, update_end_time=hi + 1)
        data = self._client.call_object(LIST_API, params)
        items = data.get("data")
        if items is None:
            items = data.get("list") or []
        if not isinstance(items, list):
            raise ProtocolError(f"douyin {LIST_API} page {page}: data is not a list")
        total = integer(data, "total", f"douyin {LIST_API} page {page}")
        return Page(items, total)

    def _skus(self, product_id: str, on_sale: bool, title: str) -> Iterator[ListingSku]:
        where = f"douyin {SKUS_API} product {product_id}"
        data = self._client.call(SKUS_API, {"product_id": product_id})
        if isinstance(data, dict):
            data = data.get("sku_list", data.get("data", data.get("list")))
        if data is None:
            return
        if not isinstance(data, list):
            log.error("douyin shop %s: %s: answer is not a list of SKUs; product skipped", self._config.id, where)
            return
        for raw in data:
            try:
                yield _sku(raw, product_id, on_sale, title, where)
            except ProtocolError as err:
                log.error("douyin shop %s: SKU skipped: %s", self._config.id, err)

    # ---- writes -------------------------------------------------------------------------------

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        """One ``sku.syncStockBatchMultiProducts`` call (full values), or ``sku.syncStock`` per SKU."""
        if len(writes) > self.stock_batch_limit:
            raise ValueError(f"douyin write_stock: {len(writes)} SKUs, at most {self.stock_batch_limit} a call")
        for w in writes:
            if w.quantity < 0:
                raise ValueError(f"douyin write_stock: SKU {w.sku_id}: negative quantity {w.quantity}")
        return write_with_fallback(writes, self._batch, self._one, f"douyin shop {self._config.id} {BATCH_API}")

    def _batch(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        items = [{"product_id": w.product_id, "sku_id": w.sku_id, "stock_num": w.quantity} for w in writes]
        data = self._client.call_object(BATCH_API, {"items": items, "incremental": False, "source": "syncd"})
        answers: dict[str, dict[str, Any]] = {}
        for raw in data.get("results") or []:
            if isinstance(raw, dict) and raw.get("sku_id") not in (None, ""):
                answers.setdefault(str(raw["sku_id"]).strip(), raw)
        out: list[StockWriteResult] = []
        for w in writes:
            raw = answers.get(w.sku_id)
            if raw is None:
                out.append(malformed(w, f"douyin {BATCH_API}: no result for SKU {w.sku_id} (product {w.product_id})"))
                continue
            code = raw.get("status_code")
            if code in (None, 0, "0", "", 10000):
                out.append(StockWriteResult(w.sku_id, ok=True))
            elif isinstance(code, int | str) and not isinstance(code, bool):
                out.append(result_for(w, str(code), str(raw.get("status_message") or "")))
            else:
                out.append(malformed(w, f"douyin {BATCH_API}: SKU {w.sku_id}: status_code is "
                                        f"{type(code).__name__}"))
        return out

    def _one(self, write: StockWrite) -> StockWriteResult:
        try:
            self._client.call(ONE_API, {"product_id": write.product_id, "sku_id": write.sku_id,
                                        "stock_num": write.quantity, "incremental": False})
        except RejectedError as err:
            return result_for(write, err.code or "", err.platform_message or str(err))
        return StockWriteResult(write.sku_id, ok=True)


def _product(item: Any) -> tuple[str, bool | None, str]:
    if not isinstance(item, dict):
        raise ProtocolError(f"expected a product object, found {type(item).__name__}")
    product_id = require_id(item.get("product_id"), f"douyin {LIST_API} product")
    where = f"douyin product {product_id}"
    status = integer(item, "status", where)
    check = integer(item, "check_status", where)
    if status == _DELETED:
        return product_id, None, ""
    return product_id, status == _ONLINE and check in (None, _APPROVED), text(item, "name", where)


def _sku(raw: Any, product_id: str, on_sale: bool, title: str, where: str) -> ListingSku:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: SKU entry is {type(raw).__name__}, expected an object")
    sku_id = require_id(raw.get("id", raw.get("sku_id")), f"{where}: SKU")
    here = f"{where} SKU {sku_id}"
    code = text(raw, "code", here).strip() or None
    stock = integer(raw, "stock_num", here)
    held = [integer(raw, k, here) for k in ("prehold_stock_num", "prom_stock_num")]
    reserved = sum(h for h in held if h is not None) if any(h is not None for h in held) else None
    price = integer(raw, "price", here)
    if price is not None and price < 0:
        raise ProtocolError(f"{here}: price {price} is negative")
    return ListingSku(product_id=product_id, sku_id=sku_id, merchant_code=code, title=title, on_sale=on_sale,
                      stock=stock, price_fen=price, reserved=reserved)
