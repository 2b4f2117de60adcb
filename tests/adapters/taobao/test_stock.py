"""Taobao catalogue listing (items.onsale.get + items.seller.list.get) and stock writes (skus.quantity.update)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.taobao.adapter import TaobaoAdapter
from syncd.errors import TransientError
from syncd.registry import AdapterContext
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult, StorefrontStock
from tests.adapters.taobao.conftest import SECRET, SESSION, fail, form, make_config, ok, route

ONSALE = "taobao.items.onsale.get"
INVENTORY = "taobao.items.inventory.get"
SELLER_LIST = "taobao.items.seller.list.get"
BATCH = "taobao.skus.quantity.update"
ONE = "taobao.item.quantity.update"
ITEM = "600000000001"


def _listed(num_iid: int, title: str = "纯棉短袖T恤") -> dict[str, Any]:
    return {"num_iid": num_iid, "title": title, "num": 30, "price": "39.90", "outer_id": "SB-TEE",
            "approve_status": "onsale", "modified": "2025-11-20 10:00:00"}


def _full(num_iid: int, skus: list[dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"num_iid": num_iid, "title": "纯棉短袖T恤", "approve_status": "onsale",
                            "outer_id": "SB-TEE", "num": 30, "price": "39.90", **extra}
    if skus is not None:
        item["skus"] = {"sku": skus}
    return item


def _sku(sku_id: int, code: str, price: str = "39.90", qty: int = 10, hold: int = 0) -> dict[str, Any]:
    return {"sku_id": sku_id, "num_iid": 0, "outer_id": code, "price": price, "quantity": qty,
            "with_hold_quantity": hold, "properties_name": "1627207:28320:颜色:红色"}


def _onsale(listed: list[dict[str, Any]], total: int) -> httpx.Response:
    return ok(ONSALE, {"total_results": total, "items": {"item": listed}})


def _seller(req: httpx.Request) -> httpx.Response:
    ids = [int(i) for i in form(req)["num_iids"].split(",")]
    return ok(SELLER_LIST, {"items": {"item": [_full(i, [_sku(i * 10, f"C{i}")]) for i in ids]}})


def test_adapter_is_a_storefront_stock_with_batches_of_twenty_within_one_item(adapter: TaobaoAdapter) -> None:
    assert isinstance(adapter, StorefrontStock)
    assert (adapter.stock_batch_limit, adapter.batch_within_product) == (20, True)


def test_list_catalog_pages_items_and_reads_skus_twenty_items_a_call(adapter: TaobaoAdapter,
                                                                     api: respx.MockRouter) -> None:
    listed = [_listed(i) for i in range(1, 251)]
    onsale = route(api, ONSALE).mock(side_effect=[_onsale(listed[:200], 250), _onsale(listed[200:], 250)])
    seller = route(api, SELLER_LIST).mock(side_effect=_seller)

    got = list(adapter.list_catalog())

    assert [form(c.request)["page_no"] for c in onsale.calls] == ["1", "2"]
    assert form(onsale.calls[0].request)["page_size"] == "200"
    assert seller.call_count == 13 and all(len(form(c.request)["num_iids"].split(",")) <= 20 for c in seller.calls)
    assert "sku" in form(seller.calls[0].request)["fields"].split(",")
    assert len(got) == 250
    assert got[0] == ListingSku(product_id="1", sku_id="10", merchant_code="C1", title="纯棉短袖T恤", on_sale=True,
                                stock=10, price_fen=3990, reserved=0)


def test_list_catalog_converts_yuan_strings_to_fen_and_lists_an_item_without_skus_once(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, ONSALE).mock(return_value=_onsale([_listed(1), _listed(2)], 2))
    route(api, SELLER_LIST).mock(return_value=ok(SELLER_LIST, {"items": {"item": [
        _full(1, [_sku(11, "A", price="0.10", hold=3), _sku(12, "B", price="1999")]),
        _full(2, None, num=7, price="12.5", with_hold_quantity=1, outer_id="SOLO")]}}))

    got = list(adapter.list_catalog())

    assert [(s.sku_id, s.merchant_code, s.price_fen, s.stock, s.reserved) for s in got] == [
        ("11", "A", 10, 10, 3), ("12", "B", 199900, 10, 0), ("", "SOLO", 1250, 7, 1)]


def test_list_catalog_given_inventory_lists_warehouse_items_not_on_sale(ctx: AdapterContext, api: respx.MockRouter,
                                                                         clock_at: Any) -> None:
    adapter = TaobaoAdapter(make_config(catalog={"inventory": True}), ctx)
    route(api, ONSALE).mock(return_value=_onsale([_listed(1)], 1))
    route(api, INVENTORY).mock(return_value=ok(INVENTORY, {"total_results": 1, "items": {"item": [_listed(2)]}}))
    route(api, SELLER_LIST).mock(side_effect=_seller)

    got = list(adapter.list_catalog())

    assert [(s.product_id, s.on_sale) for s in got] == [("1", True), ("2", False)]


def test_list_catalog_given_a_shop_deeper_than_the_paging_limit_reads_modified_windows(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: Any) -> None:
    adapter = TaobaoAdapter(make_config(catalog={"page_size": 200, "paging_depth": 200}), ctx)

    def onsale(req: httpx.Request) -> httpx.Response:
        sent = form(req)
        if "start_modified" not in sent:
            return _onsale([_listed(1)] * 200, 300)
        return _onsale([_listed(1 if sent["start_modified"] < "2015" else 2)], 1)

    route(api, ONSALE).mock(side_effect=onsale)
    route(api, SELLER_LIST).mock(side_effect=_seller)

    got = list(adapter.list_catalog())

    assert [s.product_id for s in got] == ["1", "2"]


def test_list_catalog_given_malformed_skus_logs_them_and_lists_the_rest(
        adapter: TaobaoAdapter, api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    route(api, ONSALE).mock(return_value=_onsale([_listed(1), {"title": "no id"}], 2))
    route(api, SELLER_LIST).mock(return_value=ok(SELLER_LIST, {"items": {"item": [
        _full(1, [_sku(11, "A", price="abc"), _sku(12, "B"), "junk"])]}}))

    with caplog.at_level(logging.ERROR):
        got = list(adapter.list_catalog())

    assert [s.sku_id for s in got] == ["12"]
    assert "item 1 SKU 11: price 'abc'" in caplog.text
    assert "no num_iid" in caplog.text and "SKU entry is str" in caplog.text


def test_write_stock_sends_one_signed_full_value_batch_for_skus_of_one_item(adapter: TaobaoAdapter,
                                                                            api: respx.MockRouter) -> None:
    write = route(api, BATCH).mock(return_value=ok(BATCH, {"item": {"num_iid": int(ITEM), "modified": "x"}}))

    got = adapter.write_stock([StockWrite(ITEM, "11", 5), StockWrite(ITEM, "12", 0)])

    assert got == [StockWriteResult("11", ok=True), StockWriteResult("12", ok=True)]
    sent = form(write.calls.last.request)
    assert {k: sent[k] for k in ("num_iid", "skuid_quantities", "type", "session")} == {
        "num_iid": ITEM, "skuid_quantities": "11:5;12:0", "type": "1", "session": SESSION}
    concat = "".join(k + sent[k] for k in sorted(sent) if k != "sign")
    assert sent["sign"] == hmac.new(SECRET.encode(), concat.encode(), hashlib.sha256).hexdigest().upper()


def test_write_stock_given_the_batch_refused_sends_each_sku_alone_and_keeps_each_verdict(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, BATCH).mock(return_value=fail(15, "Remote service error", "isv.invalid-parameter", "库存不合法"))
    one = route(api, ONE).mock(side_effect=[
        ok(ONE, {"item": {"num_iid": int(ITEM)}}),
        fail(15, "Remote service error", "isv.item-quantity-update-error", "活动锁定库存，库存不能小于 8"),
        fail(15, "Remote service error", "isv.invalid-parameter", "sku不存在")])

    got = adapter.write_stock([StockWrite(ITEM, str(i), 5) for i in (1, 2, 3)])

    assert [(r.ok, r.floor, r.retryable) for r in got] == [(True, None, False), (False, 8, False),
                                                           (False, None, False)]
    assert got[2].code == "isv.invalid-parameter" and "sku不存在" in got[2].message
    assert [form(c.request)["sku_id"] for c in one.calls] == ["1", "2", "3"]
    assert all(form(c.request)["type"] == "1" for c in one.calls)


def test_write_stock_of_an_item_without_skus_writes_the_item_quantity(adapter: TaobaoAdapter,
                                                                      api: respx.MockRouter) -> None:
    one = route(api, ONE).mock(return_value=ok(ONE, {"item": {"num_iid": int(ITEM), "num": 4}}))

    got = adapter.write_stock([StockWrite(ITEM, "", 4)])

    assert got == [StockWriteResult("", ok=True)]
    assert "sku_id" not in form(one.calls.last.request)


def test_write_stock_given_an_answer_without_the_item_marks_each_sku_retryable(adapter: TaobaoAdapter,
                                                                                api: respx.MockRouter) -> None:
    route(api, BATCH).mock(return_value=ok(BATCH, {}))

    got = adapter.write_stock([StockWrite(ITEM, "1", 1), StockWrite(ITEM, "2", 1)])

    assert [(r.ok, r.retryable, r.code) for r in got] == [(False, True, "malformed-answer")] * 2
    assert "SKU 2" in got[1].message


def test_write_stock_given_flow_control_raises_transient(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, BATCH).mock(return_value=fail(7, "App Call Limited", "accesscontrol.limited-by-api-access-count",
                                             "This ban will last for 1 more seconds"))

    with pytest.raises(TransientError):
        adapter.write_stock([StockWrite(ITEM, "1", 1), StockWrite(ITEM, "2", 1)])


def test_write_stock_refuses_skus_of_two_items(adapter: TaobaoAdapter) -> None:
    with pytest.raises(ValueError, match="one item"):
        adapter.write_stock([StockWrite(ITEM, "1", 1), StockWrite("600000000002", "2", 1)])
