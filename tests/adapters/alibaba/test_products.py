"""1688 stock and price per spec (reference/stock-and-price.md §4.1–4.2): the configured API, one call per offer,
yuan → fen with Decimal, and each error class: delisted, no permission, flow control, malformed."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.config import AlibabaProductSettings
from syncd.adapters.alibaba.products import price_fen
from syncd.errors import FatalError, ProtocolError, RateLimitedError
from syncd.registry import AdapterContext
from syncd.stockmodel import StockReadResult, SupplierStock, SupplierStockSource
from tests.adapters.alibaba.conftest import fixture, form, gateway_error, make_config, route

RED = "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90"
BLUE = "610000001:b1b2c3d4e5f60718293a4b5c6d7e8f91"
WHITE = "610000001:c1b2c3d4e5f60718293a4b5c6d7e8f92"
GONE_SPEC = "610000001:ffffffffffffffffffffffffffffffff"
HOOK = "610000004"
CROSS = "alibaba.cross.productInfo"
FENXIAO = "alibaba.fenxiao.productInfo.get"

pytestmark = pytest.mark.usefixtures("clock_at")


def _adapter(ctx: AdapterContext, **products: Any) -> AlibabaAdapter:
    return AlibabaAdapter(make_config(products=products) if products else make_config(), ctx)


def _offer_of(request: httpx.Request) -> str:
    sent = form(request)
    return sent.get("productId") or sent.get("productID") or sent.get("offerId") or ""


def test_the_adapter_is_a_supplier_stock_source(adapter: AlibabaAdapter) -> None:
    assert isinstance(adapter, SupplierStockSource)


def test_read_stock_groups_specs_per_offer_and_converts_yuan_to_fen(adapter: AlibabaAdapter,
                                                                     api: respx.MockRouter) -> None:
    r = route(api, CROSS).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))

    result = adapter.read_stock([RED, BLUE, WHITE, RED])

    assert r.call_count == 1  # three specs of one offer: one call
    assert form(r.calls.last.request)["productId"] == "610000001"
    assert result.stock == [SupplierStock(RED, 200, 1580), SupplierStock(BLUE, 0, 1605),
                            SupplierStock(WHITE, 35, 999)]  # WHITE has no consignPrice: its price
    assert result.failed == {} and result.deferred == {}


def test_read_stock_given_the_price_field_setting_reads_the_quoted_price(ctx: AdapterContext,
                                                                        api: respx.MockRouter) -> None:
    route(api, CROSS).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))

    result = _adapter(ctx, price_field="price").read_stock([BLUE])

    assert result.stock == [SupplierStock(BLUE, 0, 1200)]


def test_read_stock_given_prices_in_fen_keeps_them(ctx: AdapterContext, api: respx.MockRouter) -> None:
    body = fixture("product_cross.json")
    body["result"]["productInfo"]["skuInfos"][0]["consignPrice"] = 20600
    route(api, CROSS).mock(return_value=httpx.Response(200, json=body))

    result = _adapter(ctx, price_unit="fen").read_stock([RED])

    assert result.stock == [SupplierStock(RED, 200, 20600)]


def test_read_stock_through_the_fenxiao_api_reads_an_offer_without_specs(ctx: AdapterContext,
                                                                        api: respx.MockRouter) -> None:
    r = route(api, FENXIAO).mock(return_value=httpx.Response(200, json=fixture("product_fenxiao.json")))

    result = _adapter(ctx, api=FENXIAO).read_stock([HOOK])

    assert form(r.calls.last.request)["offerId"] == HOOK
    assert result.stock == [SupplierStock(HOOK, 88, 320)]


@pytest.mark.parametrize(("api_name", "param"), [
    ("alibaba.product.simple.get", "productID"), ("alibaba.product.get", "productID"),
    ("product.search.queryProductDetail", "offerDetailParam")])
def test_read_stock_sends_each_apis_own_offer_parameter(ctx: AdapterContext, api: respx.MockRouter,
                                                        api_name: str, param: str) -> None:
    r = route(api, api_name).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))

    result = _adapter(ctx, api=api_name).read_stock([RED])

    sent = form(r.calls.last.request)
    assert "610000001" in sent[param]
    assert result.stock == [SupplierStock(RED, 200, 1580)]


def test_read_stock_given_a_delisted_offer_fails_its_skus_with_the_status(adapter: AlibabaAdapter,
                                                                         api: respx.MockRouter) -> None:
    body = fixture("product_cross.json")
    body["result"]["productInfo"]["status"] = "auto expired"
    route(api, CROSS).mock(return_value=httpx.Response(200, json=body))

    result = adapter.read_stock([RED, BLUE])

    assert result.stock == []
    assert result.failed == {RED: "offer not on sale (1688 status auto expired)",
                             BLUE: "offer not on sale (1688 status auto expired)"}


def test_read_stock_given_a_spec_the_offer_no_longer_has_fails_only_that_sku(adapter: AlibabaAdapter,
                                                                            api: respx.MockRouter) -> None:
    route(api, CROSS).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))

    result = adapter.read_stock([RED, GONE_SPEC])

    assert [s.supplier_sku for s in result.stock] == [RED]
    assert "no longer in offer 610000001" in result.failed[GONE_SPEC]


def test_read_stock_given_no_permission_fails_the_offer_and_reads_the_next(adapter: AlibabaAdapter,
                                                                          api: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if _offer_of(request) == HOOK:
            return httpx.Response(200, json={"result": {"success": False, "code": "400",
                                                        "message": "没有该商品的查询权限"}})
        return httpx.Response(200, json=fixture("product_cross.json"))

    route(api, CROSS).mock(side_effect=answer)

    result = adapter.read_stock([HOOK, RED])

    assert result.stock == [SupplierStock(RED, 200, 1580)]
    assert result.failed[HOOK].startswith("no permission to read this offer")


def test_read_stock_given_a_deleted_offer_says_so(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, CROSS).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "404_offer", "errorMessage": "商品不存在或已下架"}))

    result = adapter.read_stock([HOOK])

    assert result.failed[HOOK].startswith("offer delisted or deleted")


def test_read_stock_given_flow_control_on_the_first_offer_raises_rate_limited(adapter: AlibabaAdapter,
                                                                             api: respx.MockRouter) -> None:
    r = route(api, CROSS).mock(return_value=gateway_error(400, "gw.QosAppFrequencyLimit",
                                                          "App call exceeds limited frequency"))

    with pytest.raises(RateLimitedError):
        adapter.read_stock([RED, HOOK])

    assert r.call_count == 1  # the account pauses (a ban); the second offer is not asked


def test_read_stock_given_flow_control_later_defers_the_rest(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if _offer_of(request) == HOOK:
            return gateway_error(400, "gw.QosAppFrequencyLimit", "App call exceeds limited frequency")
        return httpx.Response(200, json=fixture("product_cross.json"))

    route(api, CROSS).mock(side_effect=answer)

    result = adapter.read_stock([RED, HOOK, "610000009:ab"])

    assert result.stock == [SupplierStock(RED, 200, 1580)]
    assert set(result.deferred) == {HOOK, "610000009:ab"} and result.failed == {}


def test_read_stock_given_no_acl_for_the_api_raises_fatal_with_a_hint(adapter: AlibabaAdapter,
                                                                     api: respx.MockRouter) -> None:
    route(api, CROSS).mock(return_value=gateway_error(400, "gw.APIACLDecline", "no permission"))

    with pytest.raises(FatalError, match="API 权限"):
        adapter.read_stock([RED])


@pytest.mark.parametrize(("change", "words"), [
    (lambda p: p["skuInfos"][0].update(amountOnSale="lots"), r"skuInfos\[0\]\.amountOnSale"),
    (lambda p: p["skuInfos"][1].pop("specId"), r"skuInfos\[1\]\.specId is missing"),
    (lambda p: p["skuInfos"][0].update(consignPrice="-1"), r"skuInfos\[0\]\.consignPrice: expected a price ≥ 0"),
    (lambda p: p["skuInfos"][0].update(consignPrice="1e999999"), r"expected a price"),
    (lambda p: p.update(skuInfos={"a": 1}), "skuInfos is not a list"),
    (lambda p: p["skuInfos"][2].update(amountOnSale=True), "found a boolean"),
])
def test_read_stock_given_a_malformed_answer_defers_with_the_field_named(adapter: AlibabaAdapter,
                                                                         api: respx.MockRouter, change: Any,
                                                                         words: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if _offer_of(request) == HOOK:
            return httpx.Response(200, json=fixture("product_cross.json"))
        body = fixture("product_cross.json")
        change(body["result"]["productInfo"])
        return httpx.Response(200, json=body)

    route(api, CROSS).mock(side_effect=answer)

    result = adapter.read_stock([RED, HOOK])

    assert result.stock == [SupplierStock(HOOK, 1200, 1580)]  # the other offer is read
    assert RED in result.deferred and RED not in result.failed
    assert re.search(words, result.deferred[RED])


def test_read_stock_given_only_malformed_answers_raises_protocol_error(adapter: AlibabaAdapter,
                                                                       api: respx.MockRouter) -> None:
    route(api, CROSS).mock(return_value=httpx.Response(200, json={"result": {"success": True, "nothing": 1}}))

    with pytest.raises(ProtocolError, match="no product in the answer"):
        adapter.read_stock([RED])


def test_read_stock_given_a_bad_route_sku_fails_it_without_a_call(adapter: AlibabaAdapter) -> None:
    result = adapter.read_stock(["not-an-offer"])

    assert result == StockReadResult(failed={"not-an-offer": result.failed["not-an-offer"]})
    assert "offerId:specId" in result.failed["not-an-offer"]


@pytest.mark.parametrize(("value", "unit", "fen"), [
    ("12.5", "yuan", 1250), (15.8, "yuan", 1580), ("0.005", "yuan", 1), ("0.004", "yuan", 0),
    (40, "yuan", 4000), ("20600", "fen", 20600), (None, "yuan", None), ("", "yuan", None),
    (0.1 + 0.2, "yuan", 30)])
def test_price_fen_converts_with_decimal_half_up(value: Any, unit: str, fen: int | None) -> None:
    assert price_fen(value, unit, "x") == fen


def test_price_settings_default_to_consign_price_in_yuan() -> None:
    settings = AlibabaProductSettings()
    assert (settings.api, settings.price_field, settings.price_unit) == (CROSS, "consignPrice", "yuan")
