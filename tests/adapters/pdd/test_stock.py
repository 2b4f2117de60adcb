"""Pinduoduo catalogue listing (pdd.goods.list.get + price read) and stock writes (pdd.goods.quantity.update)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.errors import TransientError
from syncd.registry import AdapterContext
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult, StorefrontStock
from tests.adapters.pdd.conftest import ACCESS, CLIENT_ID, SECRET, fail, form, make_config, ok, route

G1 = "100000000001"


def _goods(goods_id: str, skus: list[dict[str, Any]], onsale: int = 1, name: str = "陶瓷马克杯") -> dict[str, Any]:
    return {"goods_id": int(goods_id), "goods_name": name, "goods_quantity": 10, "goods_reserve_quantity": 0,
            "is_onsale": onsale, "is_more_sku": 1, "sku_list": skus}


def _sku(sku_id: int, code: str, qty: int = 10, reserve: int = 0, onsale: int = 1) -> dict[str, Any]:
    return {"sku_id": sku_id, "outer_id": code, "outer_goods_id": "", "sku_quantity": qty,
            "reserve_quantity": reserve, "is_sku_onsale": onsale, "spec": "白色"}


def _list(goods: list[dict[str, Any]], total: int) -> httpx.Response:
    return ok("goods_list_get_response", {"goods_list": goods, "total_count": total})


def _detail(*prices: tuple[int, int, int]) -> httpx.Response:
    return ok("goods_detail_get_response", {"goods_id": int(G1), "status": 1, "sku_list": [
        {"sku_id": sid, "out_sku_sn": "", "quantity": 1, "price": single, "multi_price": group}
        for sid, single, group in prices]})


@pytest.fixture
def api() -> Any:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


def test_adapter_is_a_storefront_stock_writing_one_sku_a_call(adapter: PddAdapter) -> None:
    assert isinstance(adapter, StorefrontStock)
    assert adapter.stock_batch_limit == 1


def test_list_catalog_pages_goods_to_exhaustion_and_prices_skus_in_fen_from_detail(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    goods = [_goods(str(100000000000 + i), [_sku(500 + i, f"C{i}", reserve=i % 3)]) for i in range(1, 151)]
    listing = route(api, "pdd.goods.list.get").mock(side_effect=[_list(goods[:100], 150), _list(goods[100:], 150)])
    detail = route(api, "pdd.goods.detail.get").mock(side_effect=lambda req: _detail(
        (int(form(req)["goods_id"]) - 100000000000 + 500, 4990, 3990)))

    got = list(adapter.list_catalog())

    assert [form(c.request)["page"] for c in listing.calls] == ["1", "2"]
    assert all(form(c.request)["page_size"] == "100" for c in listing.calls)
    assert detail.call_count == 150 and len(got) == 150
    assert got[1] == ListingSku(product_id="100000000002", sku_id="502", merchant_code="C2", title="陶瓷马克杯",
                                on_sale=True, stock=10, price_fen=3990, reserved=2)


def test_list_catalog_given_information_prices_converts_yuan_to_fen(ctx: AdapterContext, api: respx.MockRouter,
                                                                     clock_at: Any) -> None:
    adapter = PddAdapter(make_config(catalog={"prices": "information", "price_kind": "single"}), ctx)
    route(api, "pdd.goods.list.get").mock(return_value=_list([_goods(G1, [_sku(1, "A"), _sku(2, "B")])], 1))
    route(api, "pdd.goods.information.get").mock(return_value=ok("goods_info_get_response", {"goods_info": {
        "goods_id": int(G1), "sku_list": [{"sku_id": 1, "single_price": "39.90", "group_price": 29.9},
                                          {"sku_id": 2, "single_price": "0.1", "group_price": 0.05}]}}))

    got = list(adapter.list_catalog())

    assert [(s.sku_id, s.price_fen) for s in got] == [("1", 3990), ("2", 10)]


def test_list_catalog_marks_delisted_goods_and_skus_not_on_sale(adapter: PddAdapter, api: respx.MockRouter) -> None:
    route(api, "pdd.goods.list.get").mock(return_value=_list([
        _goods(G1, [_sku(1, "A"), _sku(2, "", onsale=0)]), _goods("100000000009", [_sku(3, "C")], onsale=0)], 2))
    route(api, "pdd.goods.detail.get").mock(return_value=_detail())

    got = list(adapter.list_catalog())

    assert [(s.sku_id, s.on_sale, s.merchant_code) for s in got] == [("1", True, "A"), ("2", False, None),
                                                                    ("3", False, "C")]


def test_list_catalog_given_a_malformed_sku_and_price_logs_them_and_lists_the_rest(
        adapter: PddAdapter, api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    route(api, "pdd.goods.list.get").mock(return_value=_list([
        _goods(G1, [_sku(1, "A"), {"sku_id": 2, "outer_id": "B", "sku_quantity": {"n": 1}}]), 7], 2))
    route(api, "pdd.goods.detail.get").mock(return_value=ok("goods_detail_get_response", {"sku_list": [
        {"sku_id": 1, "multi_price": "free"}]}))

    with caplog.at_level(logging.ERROR):
        got = list(adapter.list_catalog())

    assert [(s.sku_id, s.price_fen) for s in got] == [("1", None)]
    assert f"goods {G1} SKU 2: sku_quantity" in caplog.text
    assert f"goods {G1} SKU 1: multi_price" in caplog.text
    assert "entry skipped" in caplog.text


def test_write_stock_sends_a_signed_full_value_update_for_the_sku(adapter: PddAdapter, api: respx.MockRouter) -> None:
    write = route(api, "pdd.goods.quantity.update").mock(return_value=ok(
        "goods_quantity_update_response", {"is_success": True}))

    got = adapter.write_stock([StockWrite(G1, "77", 0)])

    assert got == [StockWriteResult("77", ok=True)]
    sent = form(write.calls.last.request)
    assert {k: sent[k] for k in ("goods_id", "sku_id", "quantity", "update_type", "access_token")} == {
        "goods_id": G1, "sku_id": "77", "quantity": "0", "update_type": "1", "access_token": ACCESS}
    assert sent["client_id"] == CLIENT_ID
    signed = SECRET + "".join(k + sent[k] for k in sorted(sent) if k != "sign") + SECRET
    assert sent["sign"] == hashlib.md5(signed.encode()).hexdigest().upper()


@pytest.mark.parametrize(("answer", "expected"), [
    (fail(52101, "业务处理失败", "该商品在资源位中，库存不可减少至 20 以下"), (False, False, 20)),
    (fail(52101, "业务处理失败", "商品已删除"), (False, False, None)),
    (ok("goods_quantity_update_response", {"is_success": False}), (False, False, None)),
    (ok("goods_quantity_update_response", {}), (False, True, None)),
])
def test_write_stock_classifies_each_answer(adapter: PddAdapter, api: respx.MockRouter, answer: httpx.Response,
                                            expected: tuple[bool, bool, int | None]) -> None:
    route(api, "pdd.goods.quantity.update").mock(return_value=answer)

    got = adapter.write_stock([StockWrite(G1, "77", 5)])[0]

    assert (got.ok, got.retryable, got.floor) == expected
    assert got.sku_id == "77" and (got.code != "" or got.ok)


def test_write_stock_given_flow_control_raises_transient(adapter: PddAdapter, api: respx.MockRouter) -> None:
    write = route(api, "pdd.goods.quantity.update").mock(return_value=fail(70031, "调用过于频繁，请调整调用频率"))

    with pytest.raises(TransientError):
        adapter.write_stock([StockWrite(G1, "77", 5)])
    assert write.call_count == 3


def test_write_stock_refuses_two_skus_in_one_call(adapter: PddAdapter) -> None:
    with pytest.raises(ValueError, match="at most 1"):
        adapter.write_stock([StockWrite(G1, "1", 1), StockWrite(G1, "2", 1)])


def test_write_stock_given_an_expired_token_refreshes_once_and_writes(adapter: PddAdapter,
                                                                      api: respx.MockRouter) -> None:
    write = route(api, "pdd.goods.quantity.update").mock(side_effect=[
        fail(10019, "access_token已过期"), ok("goods_quantity_update_response", {"is_success": True})])
    refresh = route(api, "pdd.pop.auth.token.refresh").mock(return_value=ok("pop_auth_token_refresh_response", {
        "access_token": "new-access-1", "refresh_token": "new-refresh-1", "expires_in": 86400,
        "expires_at": 1763888400, "refresh_token_expires_at": 1766480400}))

    got = adapter.write_stock([StockWrite(G1, "77", 5)])

    assert got == [StockWriteResult("77", ok=True)] and refresh.call_count == 1
    assert form(write.calls.last.request)["access_token"] == "new-access-1"
