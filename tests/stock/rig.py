"""A stock rig: a migrated database, in-memory storefronts and supplier sources, and the runtime's few fields the
engine reads (config, db, storefronts, api_suppliers, stop)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from syncd.config.loader import Config
from syncd.config.models import GlobalConfig, Route, ShopConfigBase, ShopStock, SupplierConfigBase
from syncd.stockmodel import (
    ListingSku,
    StockReadResult,
    StockWrite,
    StockWriteResult,
    SupplierStock,
)
from syncd.store.db import Database

Answer = Callable[[Sequence[StockWrite]], list[StockWriteResult]]


class FakeFront:
    """A storefront's catalogue and stock: every write call recorded, answers scripted per call."""

    platform = "fake"

    def __init__(self, listing: Sequence[ListingSku], limit: int = 50, within_product: bool = False) -> None:
        self.listing = list(listing)
        self.stock_batch_limit = limit
        self.batch_within_product = within_product
        self.calls: list[list[StockWrite]] = []
        self.stock: dict[str, int] = {}
        self.answers: list[Answer | BaseException] = []  # used in order, then every write succeeds

    def list_catalog(self) -> Iterator[ListingSku]:
        yield from self.listing

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        assert len(writes) <= self.stock_batch_limit
        if self.batch_within_product:
            assert len({w.product_id for w in writes}) == 1
        self.calls.append(list(writes))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            results = answer(writes)
        else:
            results = [StockWriteResult(w.sku_id, ok=True) for w in writes]
        for w, r in zip(writes, results, strict=False):
            if r.ok:
                self.stock[w.sku_id] = w.quantity
        return results

    @property
    def written(self) -> list[tuple[str, int]]:
        return [(w.sku_id, w.quantity) for call in self.calls for w in call]


class FakeSource:
    """An API supplier answering stock and price from a dict."""

    kind = "fake"

    def __init__(self, figures: Mapping[str, tuple[int, int | None]]) -> None:
        self.figures = dict(figures)
        self.reads: list[list[str]] = []
        self.failed: dict[str, str] = {}
        self.error: Exception | None = None

    def read_stock(self, supplier_skus: Sequence[str]) -> StockReadResult:
        self.reads.append(list(supplier_skus))
        if self.error is not None:
            raise self.error
        out = StockReadResult()
        for sku in supplier_skus:
            if sku in self.failed:
                out.failed[sku] = self.failed[sku]
            elif sku in self.figures:
                q, p = self.figures[sku]
                out.stock.append(SupplierStock(sku, q, p))
            else:
                out.deferred[sku] = "not answered"
        return out

    def parse_stock_push(self, headers: Mapping[str, str], body: bytes, now: datetime) -> list[SupplierStock]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def sku(code: str | None, n: int, *, product: str | None = None, price: int | None = 5000, on_sale: bool = True,
        reserved: int | None = None) -> ListingSku:
    return ListingSku(product or f"P{n // 10}", f"S{n}", code, f"item {n}", on_sale, 100, price, reserved)


@dataclass
class Rig:
    db: Database
    routes: dict[str, Route]
    shops: dict[str, ShopConfigBase] = field(default_factory=dict)
    suppliers: dict[str, SupplierConfigBase] = field(default_factory=dict)
    storefronts: dict[str, Any] = field(default_factory=dict)
    api_suppliers: dict[str, Any] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    holder: str = "test"
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    shop_pools: dict[str, Any] = field(default_factory=dict)  # the stages' pools (syncd.stages.runner)
    faults_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def config(self) -> Config:
        return Config(Path("."), self.global_, self.shops, self.suppliers, self.routes)

    def add_shop(self, shop_id: str, front: FakeFront, **stock: Any) -> FakeFront:
        settings = {"enabled": True, **stock}
        self.shops[shop_id] = ShopConfigBase(id=shop_id, platform="fake", base_url="http://shop.invalid",
                                             stock=ShopStock.model_validate(settings))
        self.storefronts[shop_id] = front
        return front

    def add_supplier(self, supplier_id: str, source: FakeSource | None = None, **settings: Any) -> None:
        self.suppliers[supplier_id] = SupplierConfigBase.model_validate(
            {"id": supplier_id, "kind": "fake", "stock_sync": settings})
        if source is not None:
            self.api_suppliers[supplier_id] = source


def routes(*items: dict[str, Any]) -> dict[str, Route]:
    out = {}
    for raw in items:
        r = Route.model_validate(raw)
        out[r.sku] = r
    return out
