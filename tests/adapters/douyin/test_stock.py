"""Douyin catalogue listing (product.listV2 + sku.list) and stock writes (sku.syncStockBatchMultiProducts)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.errors import ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult, StorefrontStock
from tests.adapters.douyin.conftest import APP_KEY, SECRET, fail, make_config, ok

P1, P2 = "3600000000000000001", "3600000000000000002"


def _product(pid: str, status: int = 0, check: int = 3, name: str = "纯棉短袖T恤") -> dict[str, Any]:
    return {"product_id": int(pid), "status": status, "check_status": check, "name": name,
            "outer_product_id": "", "update_time": 1763800000}


def _sku(sku_id: int, code: str, stock: int = 10, price: int = 3990, prehold: int = 0, prom: int = 0) -> dict[str, Any]:
    return {"id": sku_id, "code": code, "out_sku_id": 0, "price": price, "sku_type": 0, "stock_num": stock,
            "prehold_stock_num": prehold, "prom_stock_num": prom, "spec_detail_name1": "红色"}


def _body(route: respx.Route, n: int = -1) -> Any:
    return json.loads(route.calls[n].request.content)


def test_adapter_is_a_storefront_stock_with_batches_of_fifty_across_products(adapter: DouyinAdapter) -> None:
    assert isinstance(adapter, StorefrontStock)
    assert (adapter.stock_batch_limit, adapter.batch_within_product) == (50, False)


def test_list_catalog_pages_products_to_exhaustion_and_reads_each_products_skus(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    products = [_product(str(3600000000000000000 + i)) for i in range(1, 151)]
    listing = api.post("/product/listV2").mock(side_effect=[
        ok({"data": products[:100], "total": 150, "page": 1, "size": 100}),
        ok({"data": products[100:], "total": 150, "page": 2, "size": 100})])
    skus = api.post("/sku/list").mock(side_effect=lambda req: ok(
        [_sku(int(json.loads(req.content)["product_id"]) % 10**6, "C" + json.loads(req.content)["product_id"])]))

    got = list(adapter.list_catalog())

    assert [_body(listing, i)["page"] for i in range(2)] == [1, 2]
    assert all(_body(listing, i)["size"] == 100 for i in range(2))
    assert skus.call_count == 150 and len(got) == 150
    assert got[0] == ListingSku(product_id="3600000000000000001", sku_id="1", merchant_code="C3600000000000000001",
                                title="纯棉短袖T恤", on_sale=True, stock=10, price_fen=3990, reserved=0)


def test_list_catalog_marks_offline_and_unapproved_products_not_on_sale_skips_deleted_and_sums_held_stock(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/product/listV2").mock(return_value=ok({"data": [
        _product(P1, status=1), _product(P2, status=0, check=2), _product("3600000000000000009", status=2)],
        "total": 3}))
    api.post("/sku/list").mock(side_effect=[ok([_sku(11, "A", prehold=2, prom=5)]), ok([_sku(22, "")])])

    got = list(adapter.list_catalog())

    assert [(s.sku_id, s.on_sale, s.reserved, s.merchant_code) for s in got] == [
        ("11", False, 7, "A"), ("22", False, 0, None)]


def test_list_catalog_given_a_shop_deeper_than_the_paging_limit_reads_update_time_windows(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: Any) -> None:
    adapter = DouyinAdapter(make_config(catalog={"page_size": 100, "paging_depth": 100}), ctx)
    calls: list[dict[str, Any]] = []

    def listing(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        calls.append(body)
        if "update_start_time" not in body:
            return ok({"data": [_product(P1)] * 100, "total": 150})
        return ok({"data": [_product(P1 if body["update_start_time"] < 1400000000 else P2)], "total": 1})

    api.post("/product/listV2").mock(side_effect=listing)
    api.post("/sku/list").mock(side_effect=[ok([_sku(1, "A")]), ok([_sku(2, "B")])])

    got = list(adapter.list_catalog())

    assert [s.merchant_code for s in got] == ["A", "B"]
    windows = [(c["update_start_time"], c["update_end_time"]) for c in calls[1:]]
    assert len(windows) == 2 and windows[0][1] - 1 == windows[1][0] + 1  # halves meeting at one second


def test_list_catalog_given_a_malformed_sku_logs_it_and_lists_the_others(
        adapter: DouyinAdapter, api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    api.post("/product/listV2").mock(return_value=ok({"data": [_product(P1), "garbage"], "total": 2}))
    api.post("/sku/list").mock(return_value=ok([{"id": 5, "code": "BAD", "stock_num": "lots"}, _sku(6, "GOOD")]))

    with caplog.at_level(logging.ERROR):
        got = list(adapter.list_catalog())

    assert [s.merchant_code for s in got] == ["GOOD"]
    assert f"product {P1} SKU 5" in caplog.text and "stock_num" in caplog.text
    assert "entry skipped" in caplog.text


def test_write_stock_sends_one_signed_full_value_call_for_skus_of_several_products(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/sku/syncStockBatchMultiProducts").mock(return_value=ok({"results": [
        {"sku_id": 11, "stock_num": 5, "status_code": 0}, {"sku_id": 22, "stock_num": 0, "status_code": 0}]}))

    got = adapter.write_stock([StockWrite(P1, "11", 5), StockWrite(P2, "22", 0)])

    assert got == [StockWriteResult("11", ok=True), StockWriteResult("22", ok=True)]
    request = route.calls.last.request
    param_json = request.content.decode()
    assert param_json == ('{"incremental":false,"items":[{"product_id":"' + P1 + '","sku_id":"11","stock_num":5},'
                          '{"product_id":"' + P2 + '","sku_id":"22","stock_num":0}],"source":"syncd"}')
    q = request.url.params
    pattern = (f"app_key{APP_KEY}methodsku.syncStockBatchMultiProductsparam_json{param_json}"
               f"timestamp{q['timestamp']}v2")
    expected = hmac.new(SECRET.encode(), (SECRET + pattern + SECRET).encode(), hashlib.sha256).hexdigest()
    assert q["sign"] == expected and q["method"] == "sku.syncStockBatchMultiProducts"


def test_write_stock_maps_each_skus_status_code_to_its_error_class(adapter: DouyinAdapter,
                                                                   api: respx.MockRouter) -> None:
    api.post("/sku/syncStockBatchMultiProducts").mock(return_value=ok({"results": [
        {"sku_id": "1", "status_code": -20008, "status_message": "当前商品的部分SKU库存不得低于活动设置的库存数 12"},
        {"sku_id": "2", "status_code": 2010401, "status_message": "系统繁忙，请稍后再试"},
        {"sku_id": "3", "status_code": -40001, "status_message": "商品审核中"},
        {"sku_id": "4", "status_code": 0},
        {"sku_id": "5", "status_code": 2010045, "status_message": "商品参加平台活动，不允许修改库存类型"}]}))
    writes = [StockWrite(P1, str(i), 3) for i in range(1, 7)]

    got = adapter.write_stock(writes)

    assert [(r.sku_id, r.ok, r.retryable, r.floor, r.code) for r in got] == [
        ("1", False, False, 12, "-20008"), ("2", False, True, None, "2010401"),
        ("3", False, False, None, "-40001"), ("4", True, False, None, ""),
        ("5", False, False, None, "2010045"), ("6", False, True, None, "malformed-answer")]
    assert "SKU 6" in got[5].message


def test_write_stock_given_the_batch_refused_as_a_whole_sends_each_sku_alone(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/sku/syncStockBatchMultiProducts").mock(return_value=fail(
        50002, "isv.business-failed:2010043", "商品已被封禁"))
    one = api.post("/sku/syncStock").mock(side_effect=[
        ok(None), fail(50002, "isv.business-failed:2010043", "商品已被封禁")])

    got = adapter.write_stock([StockWrite(P1, "1", 4), StockWrite(P2, "2", 4)])

    assert [(r.sku_id, r.ok, r.code) for r in got] == [("1", True, ""), ("2", False, "isv.business-failed:2010043")]
    assert _body(one, 0) == {"incremental": False, "product_id": P1, "sku_id": "1", "stock_num": 4}


def test_write_stock_given_flow_control_on_every_attempt_raises_transient_with_nothing_marked(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/sku/syncStockBatchMultiProducts").mock(return_value=fail(
        50002, "isv.business-failed:2010401", "系统繁忙，请稍后再试"))

    with pytest.raises(TransientError):
        adapter.write_stock([StockWrite(P1, "1", 4), StockWrite(P2, "2", 4)])
    assert route.call_count == 3  # the shared retry policy's attempts


def test_write_stock_given_the_single_api_setting_writes_one_sku_a_call(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: Any) -> None:
    adapter = DouyinAdapter(make_config(catalog={"stock_api": "single"}), ctx)
    one = api.post("/sku/syncStock").mock(return_value=fail(
        50002, "isv.business-failed:-20008", "库存不得低于活动库存数 7"))

    got = adapter.write_stock([StockWrite(P1, "1", 2)])

    assert adapter.stock_batch_limit == 1 and one.call_count == 1
    assert (got[0].ok, got[0].floor, got[0].retryable) == (False, 7, False)


def test_write_stock_refuses_more_than_a_call_carries(adapter: DouyinAdapter) -> None:
    with pytest.raises(ValueError, match="at most 50"):
        adapter.write_stock([StockWrite(P1, str(i), 1) for i in range(51)])


def test_stock_calls_take_their_own_rate_budget(adapter: DouyinAdapter, api: respx.MockRouter,
                                                limiter: Any) -> None:
    api.post("/sku/syncStockBatchMultiProducts").mock(return_value=ok({"results": [{"sku_id": "1"}]}))

    adapter.write_stock([StockWrite(P1, "1", 1)] * 2)

    assert limiter.acquired == [("douyin:dy-main:sku.syncStockBatchMultiProducts", 10.0)]


def test_write_stock_given_an_expired_token_refreshes_once_and_writes(adapter: DouyinAdapter, api: respx.MockRouter,
                                                                      store: Any) -> None:
    write = api.post("/sku/syncStockBatchMultiProducts").mock(side_effect=[
        fail(40003, "isv.access-token-expired", "access_token已过期"),
        ok({"results": [{"sku_id": "1"}, {"sku_id": "2"}]})])
    refresh = api.post("/token/refresh").mock(return_value=ok({
        "access_token": "new-access-1", "refresh_token": "new-refresh-1", "expires_in": 604800}))

    got = adapter.write_stock([StockWrite(P1, "1", 3), StockWrite(P2, "2", 3)])

    assert got == [StockWriteResult("1", ok=True), StockWriteResult("2", ok=True)] and refresh.call_count == 1
    assert write.calls.last.request.url.params["access_token"] == "new-access-1"


def test_write_stock_given_the_shop_deauthorised_raises_instead_of_a_per_sku_refusal(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/sku/syncStockBatchMultiProducts").mock(return_value=fail(
        30001, "dop.authorization-closed", "店铺授权已关闭"))

    with pytest.raises(ReauthorizationRequired):
        adapter.write_stock([StockWrite(P1, "1", 3), StockWrite(P2, "2", 3)])


def test_list_catalog_keeps_asking_the_same_query_while_the_clock_moves_between_pages(
        adapter: DouyinAdapter, api: respx.MockRouter, clock_at: Any) -> None:
    products = [_product(str(3600000000000000000 + i)) for i in range(1, 151)]

    def listing(req: httpx.Request) -> httpx.Response:
        page = json.loads(req.content)["page"]
        clock_at.shift(30)  # a slow page: the next one is asked 30 seconds later
        return ok({"data": products[(page - 1) * 100:page * 100], "total": 150})

    route = api.post("/product/listV2").mock(side_effect=listing)
    api.post("/sku/list").mock(return_value=ok([]))

    list(adapter.list_catalog())

    assert [sorted(_body(route, i)) for i in range(2)] == [["page", "size"], ["page", "size"]]


def test_write_stock_of_one_sku_given_flow_control_raises_transient(adapter: DouyinAdapter,
                                                                   api: respx.MockRouter) -> None:
    api.post("/sku/syncStock").mock(return_value=fail(50002, "isv.business-failed:2010401", "系统繁忙，请稍后再试"))

    with pytest.raises(TransientError):
        adapter.write_stock([StockWrite(P1, "1", 4)])


def test_write_stock_given_flow_control_midway_through_the_fallback_marks_the_rest_retryable(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/sku/syncStockBatchMultiProducts").mock(return_value=fail(50002, "isv.business-failed:2010043", "封禁"))
    api.post("/sku/syncStock").mock(side_effect=[ok(None)] + [
        fail(50002, "isv.business-failed:2010401", "系统繁忙，请稍后再试")] * 3)

    got = adapter.write_stock([StockWrite(P1, str(i), 4) for i in range(1, 4)])

    assert [(r.ok, r.retryable) for r in got] == [(True, False), (False, True), (False, True)]
