"""The storefront simulators' product state and its APIs' own rules (paging limits, write modes, admin hooks)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncd.adapters.sandbox.douyin_errors import ApiError
from syncd.adapters.sandbox.douyin_products import DouyinProducts
from syncd.adapters.sandbox.pdd_errors import PddApiError
from syncd.adapters.sandbox.pdd_goods import PddGoods
from syncd.adapters.sandbox.pdd_seed import generate_pdd_orders
from syncd.adapters.sandbox.products import DOUYIN_IDS, PDD_IDS, TAOBAO_IDS, ProductBook
from syncd.adapters.sandbox.seed import generate_orders
from syncd.adapters.sandbox.taobao_errors import TopError
from syncd.adapters.sandbox.taobao_items import TaobaoItems
from syncd.adapters.sandbox.taobao_seed import generate_taobao_orders
from tests.sandbox.helpers import SignedClient

NOW = 1_800_000_000.0


def _book(ids: Any, extra: int = 0) -> ProductBook:
    return ProductBook(ids, started=NOW, extra=extra)


# ---- the seeded catalogue ------------------------------------------------------------------------------


def test_seeded_products_carry_the_ids_the_seeded_orders_of_each_platform_carry() -> None:
    douyin, pdd, taobao = _book(DOUYIN_IDS), _book(PDD_IDS), _book(TAOBAO_IDS)
    lines = [(douyin, str(li["product_id"]), str(li["sku_id"]), li["code"])
             for o in generate_orders(80, 3, NOW) for li in o["sku_order_list"]]
    lines += [(pdd, str(li["goods_id"]), str(li["sku_id"]), li["outer_id"])
              for o in generate_pdd_orders(80, 3, NOW) for li in o["item_list"]]
    lines += [(taobao, str(li["num_iid"]), str(li["sku_id"]), li["outer_sku_id"])
              for t in generate_taobao_orders(80, 3, NOW) for li in t["orders"]["order"]]

    assert lines and all(book.ids_of(code) == (product, sku) for book, product, sku, code in lines)


def test_a_write_below_the_larger_of_locked_and_reserved_is_refused_naming_which() -> None:
    book = _book(DOUYIN_IDS)
    book.set_locked("SB-SOCK-5P", 4)
    book.set_reserved("SB-SOCK-5P", 6)
    pid, sid = book.ids_of("SB-SOCK-5P")

    refusal = book.write(pid, sid, 5, NOW)

    assert refusal is not None and (refusal.kind, refusal.floor, refusal.held_by) == ("floor", 6, "reserved")
    assert book.write(pid, sid, 6, NOW) is None and book.stock_of("SB-SOCK-5P") == 6
    assert book.writes["SB-SOCK-5P"] == 1


# ---- Douyin ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "sub"), [
    ({"page": 0, "size": 10}, "isv.parameter-invalid:page"),
    ({"page": 1, "size": 101}, "isv.parameter-invalid:size"),
    ({"page": 101, "size": 100}, "isv.parameter-invalid:page"),
])
def test_douyin_product_list_refuses_what_the_platform_refuses(params: dict[str, Any], sub: str) -> None:
    with pytest.raises(ApiError) as err:
        DouyinProducts(_book(DOUYIN_IDS)).list_v2(params, NOW)
    assert err.value.sub_code == sub


def test_douyin_product_list_update_time_bounds_are_exclusive() -> None:
    book = _book(DOUYIN_IDS)
    first = sorted(book.products.values(), key=lambda p: p.product_id)[0]
    first.modified = NOW - 100

    got = DouyinProducts(book).list_v2({"page": 1, "size": 100, "update_start_time": int(NOW) - 100,
                                        "update_end_time": int(NOW)}, NOW)
    wider = DouyinProducts(book).list_v2({"page": 1, "size": 100, "update_start_time": int(NOW) - 101,
                                          "update_end_time": int(NOW)}, NOW)

    assert got["total"] == 0 and [p["product_id"] for p in wider["data"]] == [int(first.product_id)]


def test_douyin_incremental_writes_need_an_idempotent_id_and_a_repeated_one_changes_nothing() -> None:
    book = _book(DOUYIN_IDS)
    api = DouyinProducts(book)
    pid, sid = book.ids_of("SB-MUG-WHT")
    item = {"product_id": pid, "sku_id": sid, "stock_num": -3}

    with pytest.raises(ApiError, match="idempotent_id"):
        api.sync_multi({"items": [item], "incremental": True}, NOW)
    first = api.sync_multi({"items": [item], "incremental": True, "idempotent_id": "k1"}, NOW)
    again = api.sync_multi({"items": [item], "incremental": True, "idempotent_id": "k1"}, NOW)

    assert first["results"][0]["status_code"] == 0 and again["results"][0]["status_code"] == -20002
    assert book.stock_of("SB-MUG-WHT") == 97


def test_douyin_multi_products_refuses_more_than_fifty_items_and_a_bad_item_writes_nothing() -> None:
    book = _book(DOUYIN_IDS, extra=30)
    api = DouyinProducts(book)
    items = [{"product_id": p.product_id, "sku_id": s, "stock_num": 1}
             for p in book.products.values() for s in p.skus][:51]

    with pytest.raises(ApiError, match="50"):
        api.sync_multi({"items": items, "incremental": False}, NOW)
    with pytest.raises(ApiError, match="stock_num"):
        api.sync_multi({"items": [*items[:3], {**items[3], "stock_num": "x"}], "incremental": False}, NOW)
    assert sum(book.writes.values()) == 0


# ---- Pinduoduo ---------------------------------------------------------------------------------------


def test_pdd_goods_list_refuses_a_page_size_over_one_hundred() -> None:
    with pytest.raises(PddApiError, match="page_size"):
        PddGoods(_book(PDD_IDS)).goods_list({"page": "1", "page_size": "101"}, NOW)


def test_pdd_detail_answers_fen_and_information_answers_yuan_for_the_same_sku() -> None:
    book = _book(PDD_IDS)
    pid, sid = book.ids_of("SB-TEE-WHT-2PK")
    api = PddGoods(book)

    detail = {s["sku_id"]: s for s in api.detail({"goods_id": pid}, NOW)["sku_list"]}
    info = {s["sku_id"]: s for s in api.information({"goods_id": pid}, NOW)["goods_info"]["sku_list"]}

    assert detail[int(sid)]["multi_price"] == 6990 and info[int(sid)]["group_price"] == 69.9


def test_pdd_incremental_update_below_zero_is_refused() -> None:
    book = _book(PDD_IDS)
    pid, sid = book.ids_of("SB-HOOK-10P")

    with pytest.raises(PddApiError, match="不能小于0"):
        PddGoods(book).quantity_update({"goods_id": pid, "sku_id": sid, "quantity": "-101", "update_type": "2"}, NOW)
    assert book.stock_of("SB-HOOK-10P") == 100


# ---- Taobao ------------------------------------------------------------------------------------------


def test_taobao_listing_refuses_pages_past_its_depth_and_page_sizes_over_two_hundred() -> None:
    api = TaobaoItems(_book(TAOBAO_IDS), depth=400)
    list_items = api.methods()["taobao.items.onsale.get"]

    with pytest.raises(TopError, match="page_size"):
        list_items({"fields": "num_iid", "page_no": "1", "page_size": "201"}, NOW)
    with pytest.raises(TopError) as err:
        list_items({"fields": "num_iid", "page_no": "3", "page_size": "200"}, NOW)
    assert err.value.sub_code == "isv.invalid-parameter:page_no"


def test_taobao_batch_write_is_all_or_nothing_and_takes_outer_ids_too() -> None:
    book = _book(TAOBAO_IDS)
    api = TaobaoItems(book)
    pid, red_m = book.ids_of("SB-TEE-RED-M")
    red_l = book.ids_of("SB-TEE-RED-L")[1]
    book.set_locked("SB-TEE-RED-L", 5)

    with pytest.raises(TopError, match="5"):
        api.skus_quantity_update({"num_iid": pid, "skuid_quantities": f"{red_m}:1;{red_l}:1"}, NOW)
    answer = api.skus_quantity_update({"num_iid": pid, "outerid_quantities": "SB-TEE-RED-M:2;SB-TEE-BLK-M:3"}, NOW)

    assert (book.stock_of("SB-TEE-RED-M"), book.stock_of("SB-TEE-BLK-M"), book.stock_of("SB-TEE-RED-L")) == (2, 3, 100)
    assert len(answer["item"]["skus"]["sku"]) == 2


def test_taobao_seller_list_takes_at_most_twenty_items_and_skips_unknown_ones() -> None:
    api = TaobaoItems(_book(TAOBAO_IDS))

    with pytest.raises(TopError, match="20"):
        api.seller_list({"num_iids": ",".join(str(i) for i in range(21)), "fields": "num_iid,sku"}, NOW)
    assert api.seller_list({"num_iids": "1,2", "fields": "num_iid,sku"}, NOW) == {"items": {"item": []}}


# ---- admin hooks over HTTP --------------------------------------------------------------------------------


def test_admin_stock_endpoint_reads_and_sets_a_skus_stock_reserve_lock_and_state(make_sim: Any) -> None:
    sim, client = make_sim(n=2)
    assert isinstance(client, SignedClient)
    http: httpx.Client = client.http

    changed = http.post("/_sandbox/stock/SB-MUG-WHT", json={"reserved": 2, "locked": 7, "on_sale": False,
                                                             "state": "banned"}).json()
    every = http.get("/_sandbox/stock").json()

    assert {k: changed[k] for k in ("reserved", "locked", "on_sale", "state", "stock")} == {
        "reserved": 2, "locked": 7, "on_sale": False, "state": "banned", "stock": 100}
    assert sim.products.sku("SB-MUG-WHT").locked == 7
    assert len(every["skus"]) == len(list(sim.products.codes()))
    assert http.post("/_sandbox/stock/SB-MUG-WHT", json={"locked": -1}).status_code == 400
    assert http.get("/_sandbox/stock/NO-SUCH").status_code == 404
