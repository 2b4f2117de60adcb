"""The real Douyin, Pinduoduo and Taobao stock adapters against their simulators over real HTTP (issue 19).

One suite over the three storefronts: the catalogue as routes and orders know it, paging to exhaustion, full-value
writes in the platform's batches, reserved and activity-locked floors, blocked products, rate limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from syncd.adapters.douyin import PLUGIN as DOUYIN
from syncd.adapters.pdd import PLUGIN as PDD
from syncd.adapters.sandbox import pdd_seed
from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.pdd_sim import PddSimulator
from syncd.adapters.sandbox.products import DOUYIN_IDS, PDD_IDS, TAOBAO_IDS, ProductBook
from syncd.adapters.sandbox.seed import (
    CATALOG,
    PRICES,
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_SHOP_ID,
    UNMAPPED,
    generate_orders,
)
from syncd.adapters.sandbox.taobao_sim import TaobaoSimulator
from syncd.adapters.taobao import PLUGIN as TAOBAO
from syncd.errors import TransientError
from syncd.registry import AdapterContext, StorefrontPlugin
from syncd.retry import RetryPolicy
from syncd.stockmodel import StockWrite, StorefrontStock
from tests.fakes import FakeLimiter, FakeTokenStore

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
PLATFORMS = ("douyin", "pdd", "taobao")
LIST_APIS = {"douyin": "product.listV2", "pdd": "pdd.goods.list.get", "taobao": "taobao.items.onsale.get"}
PAGE = {"douyin": 100, "pdd": 100, "taobao": 200}


@dataclass
class Rig:
    platform: str
    sim: Any
    adapter: StorefrontStock
    book: ProductBook


def _sim(platform: str, book: ProductBook, now: float, **kw: Any) -> Any:
    if platform == "douyin":
        return DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, generate_orders(5, 1, now),
                               products=book, **kw)
    if platform == "pdd":
        return PddSimulator(pdd_seed.SANDBOX_PDD_CLIENT_ID, pdd_seed.SANDBOX_PDD_CLIENT_SECRET,
                            pdd_seed.SANDBOX_PDD_MALL_ID, [], products=book, **kw)
    return TaobaoSimulator(tseed.SANDBOX_TAOBAO_APP_KEY, tseed.SANDBOX_TAOBAO_APP_SECRET,
                           {tseed.SANDBOX_TAOBAO_SESSION: tseed.SANDBOX_TAOBAO_REFRESH}, [], products=book, **kw)


IDS = {"douyin": DOUYIN_IDS, "pdd": PDD_IDS, "taobao": TAOBAO_IDS}
PLUGINS: dict[str, StorefrontPlugin] = {"douyin": DOUYIN, "pdd": PDD, "taobao": TAOBAO}


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    stack: list[Any] = []

    def make(platform: str, *, extra: int = 0, config: dict[str, Any] | None = None, **kw: Any) -> Rig:
        now = NOW.timestamp()
        book = ProductBook(IDS[platform], started=now, extra=extra)
        sim = _sim(platform, book, now, **kw)
        server, http = SandboxServer(), httpx.Client(timeout=10)
        server.mount(sim.prefix, sim)
        server.start()
        stack.extend([server, http])
        ctx = AdapterContext(http=http, tokens=FakeTokenStore(), data_dir=tmp_path, limiter=FakeLimiter(),
                             retry=RetryPolicy(attempts=3, max_seconds=60, initial_wait=1, max_wait=0,
                                               sleep=lambda s: None))
        plugin = PLUGINS[platform]
        raw = {**sim.shop_config(server.url + sim.prefix), **(config or {})}
        adapter = plugin.factory(plugin.config_model.model_validate(raw), ctx)
        assert isinstance(adapter, StorefrontStock)
        return Rig(platform, sim, adapter, book)

    with time_machine.travel(NOW, tick=False):
        yield make
    for thing in reversed(stack):
        (thing.stop if isinstance(thing, SandboxServer) else thing.close)()


def _write_all(rig: Rig, quantities: dict[str, int]) -> list[Any]:
    """Write ``code → quantity`` in the adapter's batches (per product where it asks); every result."""
    writes = [StockWrite(*rig.book.ids_of(code), q) for code, q in quantities.items()]
    groups: dict[str, list[StockWrite]] = {}
    for w in writes:
        groups.setdefault(w.product_id if rig.adapter.batch_within_product else "", []).append(w)
    out = []
    for group in groups.values():
        for at in range(0, len(group), rig.adapter.stock_batch_limit):
            out += rig.adapter.write_stock(group[at:at + rig.adapter.stock_batch_limit])
    return out


@pytest.mark.parametrize("platform", PLATFORMS)
def test_catalog_lists_every_seeded_sku_under_the_ids_its_orders_carry(make_rig: Callable[..., Rig],
                                                                        platform: str) -> None:
    rig = make_rig(platform)

    got = {s.merchant_code: s for s in rig.adapter.list_catalog()}

    assert set(got) == set(CATALOG) | set(UNMAPPED)
    for code, sku in got.items():
        assert (sku.product_id, sku.sku_id) == rig.book.ids_of(code)
        assert sku.on_sale and sku.stock == 100 and sku.reserved == 0
        assert sku.price_fen == (PRICES[code][0] if code in PRICES else UNMAPPED[code][2])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_catalog_pages_a_large_shop_to_exhaustion_within_the_page_limit(make_rig: Callable[..., Rig],
                                                                       platform: str) -> None:
    rig = make_rig(platform, extra=450)

    got = list(rig.adapter.list_catalog())

    products = len(rig.book.products)
    assert len(got) == sum(len(p.skus) for p in rig.book.products.values())
    assert len({(s.product_id, s.sku_id) for s in got}) == len(got)
    assert rig.sim.calls[LIST_APIS[platform]] == math.ceil(products / PAGE[platform])


@pytest.mark.parametrize("platform", ["douyin", "taobao"])
def test_catalog_of_a_shop_deeper_than_the_paging_depth_is_read_in_time_windows(make_rig: Callable[..., Rig],
                                                                              platform: str) -> None:
    depth = {"douyin": 10_000, "taobao": 20_000}[platform]
    config = {"catalog": {"page_size": 100, "paging_depth": 300}} if platform == "douyin" else {
        "catalog": {"page_size": 200, "paging_depth": 400}}
    kw = {"paging_depth": 400} if platform == "taobao" else {}
    rig = make_rig(platform, extra=900, config=config, **kw)
    assert depth > 400

    got = list(rig.adapter.list_catalog())

    assert len({(s.product_id, s.sku_id) for s in got}) == sum(len(p.skus) for p in rig.book.products.values())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_full_writes_land_on_the_storefront_in_the_platforms_batches(make_rig: Callable[..., Rig],
                                                                     platform: str) -> None:
    rig = make_rig(platform)
    wanted = {code: n for n, code in enumerate(sorted(CATALOG))}

    results = _write_all(rig, wanted)

    assert all(r.ok for r in results) and len(results) == len(wanted)
    assert {code: rig.book.stock_of(code) for code in wanted} == wanted
    calls = sum(rig.book.write_calls.values())
    if platform == "douyin":
        assert calls == 1  # 11 SKUs across 8 products in one call
    elif platform == "pdd":
        assert calls == len(wanted)
    else:
        assert calls == len({rig.book.ids_of(c)[0] for c in wanted})  # one call per item
    _write_all(rig, wanted)  # the same full values again: harmless
    assert {code: rig.book.stock_of(code) for code in wanted} == wanted


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_write_below_locked_or_reserved_stock_is_refused_with_its_floor_and_the_rest_written(
        make_rig: Callable[..., Rig], platform: str) -> None:
    rig = make_rig(platform)
    rig.book.set_locked("SB-TEE-RED-M", 8)
    rig.book.set_reserved("SB-TEE-RED-L", 3)

    results = _write_all(rig, {"SB-TEE-RED-M": 2, "SB-TEE-RED-L": 1, "SB-TEE-BLK-M": 0, "SB-TEE-BLK-L": 9})

    by_sku = {r.sku_id: r for r in results}
    locked, reserved = by_sku[rig.book.ids_of("SB-TEE-RED-M")[1]], by_sku[rig.book.ids_of("SB-TEE-RED-L")[1]]
    assert (locked.ok, locked.retryable, locked.floor) == (False, False, 8)
    assert (reserved.ok, reserved.retryable, reserved.floor) == (False, False, 3)
    assert (rig.book.stock_of("SB-TEE-RED-M"), rig.book.stock_of("SB-TEE-RED-L")) == (100, 100)
    assert (rig.book.stock_of("SB-TEE-BLK-M"), rig.book.stock_of("SB-TEE-BLK-L")) == (0, 9)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_product_under_review_is_a_business_refusal_without_floor(make_rig: Callable[..., Rig],
                                                                    platform: str) -> None:
    rig = make_rig(platform)
    rig.book.set_state("SB-MUG-WHT", "under_review")

    result = _write_all(rig, {"SB-MUG-WHT": 4})[0]

    assert (result.ok, result.retryable, result.floor) == (False, False, None) and result.message
    assert rig.book.stock_of("SB-MUG-WHT") == 100


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_delisted_product_is_listed_not_on_sale(make_rig: Callable[..., Rig], platform: str) -> None:
    rig = make_rig(platform, config={"catalog": {"inventory": True}} if platform == "taobao" else None)
    rig.book.set_on_sale("SB-UMB-BLK", False)

    got = {s.merchant_code: s.on_sale for s in rig.adapter.list_catalog()}

    assert got["SB-UMB-BLK"] is False and got["SB-MUG-WHT"] is True


@pytest.mark.parametrize(("platform", "limit"), [
    ("douyin", {"stock_qps": 1}), ("pdd", {"qps": {"pdd.goods.quantity.update": 1}}),
    ("taobao", {"qps": {"taobao.skus.quantity.update": 1}})])
def test_writes_over_the_platforms_rate_limit_raise_transient_and_write_nothing_more(
        make_rig: Callable[..., Rig], platform: str, limit: dict[str, Any]) -> None:
    rig = make_rig(platform, **limit)
    tees = ["SB-TEE-RED-M", "SB-TEE-RED-L"] if platform != "pdd" else ["SB-TEE-RED-M"]
    _write_all(rig, dict.fromkeys(tees, 5))  # the second of the same second is over the limit

    with pytest.raises(TransientError):
        _write_all(rig, dict.fromkeys(tees, 1))
    assert all(rig.book.stock_of(c) == 5 for c in tees)
