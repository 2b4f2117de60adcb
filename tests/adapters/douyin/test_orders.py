"""Listing a window with order.searchList, and reading one order back."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.domain import OrderStatus
from syncd.errors import ProtocolError
from tests.adapters.douyin.conftest import NOW, fixture, ok, order_like
from tests.fakes import StoredVersions

START, END = NOW - timedelta(hours=1), NOW
T0 = int(START.timestamp())


def _orders(count: int, prefix: str = "69300000000000") -> list[dict[str, Any]]:
    return [order_like(f"{prefix}{i:05d}", T0 + i) for i in range(count)]


class Platform:
    """order.searchList over a list kept sorted by update_time, like the platform pages it."""

    def __init__(self, orders: list[dict[str, Any]], *, ties_reversed: bool = True) -> None:
        self.orders = orders
        self.pages: list[dict[str, Any]] = []
        self.before_page: dict[int, Any] = {}  # call number → hook changing the data before answering
        self.ties_reversed = ties_reversed  # False: orders of one second keep their order both ways

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        self.pages.append(params)
        hook = self.before_page.get(len(self.pages))
        if hook:
            hook(self)
        inside = sorted((o for o in self.orders
                         if params["update_time_start"] <= o["update_time"] <= params["update_time_end"]),
                        key=lambda o: (o["update_time"], o["order_id"]), reverse=not params["order_asc"])
        if not self.ties_reversed and not params["order_asc"]:
            inside.sort(key=lambda o: -o["update_time"])  # stable: one second's orders in ascending id order
        at = params["page"] * params["size"]
        return ok({"page": params["page"], "size": params["size"], "total": len(inside),
                   "shop_order_list": inside[at:at + params["size"]]})


def test_list_orders_given_250_orders_pages_backwards_newest_first_from_the_total(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    route = api.post("/order/searchList").mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    assert route.call_count == 3  # page 0 for the total, then 2 and 1: the total held, page 0 is not asked again
    assert [p["page"] for p in platform.pages] == [0, 2, 1]
    assert platform.pages[0] == {"update_time_start": T0, "update_time_end": int(END.timestamp()),
                                 "order_by": "update_time", "order_asc": False, "size": 100, "page": 0}
    assert len(result.orders) == 250
    assert len({o.platform_order_id for o in result.orders}) == 250
    assert result.total == 250
    assert result.rejects == []


def test_list_orders_given_exactly_one_full_page_asks_once(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(side_effect=Platform(_orders(100)))

    assert len(adapter.list_orders(START, END).orders) == 100
    assert route.call_count == 1


def test_list_orders_given_empty_window_returns_nothing_after_one_call(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok({"page": 0, "size": 100, "total": 0,
                                                               "shop_order_list": []}))

    result = adapter.list_orders(START, END)

    assert (result.orders, result.total, result.rejects) == ([], 0, [])
    assert route.call_count == 1


def test_list_orders_given_order_moving_inside_the_window_keeps_one_newest_copy_and_loses_none(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    moved_id = platform.orders[5]["order_id"]

    def update_order_5(p: Platform) -> None:  # stamped late, inside the window, after page 2 (order 5) was read
        p.orders[5] = {**p.orders[5], "update_time": T0 + 3000, "seller_words": "改地址"}

    platform.before_page[3] = update_order_5
    api.post("/order/searchList").mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    ids = [o.platform_order_id for o in result.orders]
    assert len(ids) == len(set(ids)) == 250
    moved = next(o for o in result.orders if o.platform_order_id == moved_id)
    assert moved.seller_memo == "改地址"
    assert int(moved.updated_at.timestamp()) == T0 + 3000
    # order 150 slid back from page 0 as first read onto page 1 (the total held): a second pass
    assert [p["page"] for p in platform.pages] == [0, 2, 1, 0, 2, 1]


def test_list_orders_given_order_leaving_the_window_while_paging_asks_page_0_again_and_loses_none(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    leaving = platform.orders[240]  # on page 0 (newest first) when it was read first

    def ship_it(p: Platform) -> None:  # shipped while we page: stamped past the window's end
        leaving["update_time"] = int(END.timestamp()) + 60

    platform.before_page[2] = ship_it
    route = api.post("/order/searchList").mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    # one pass: page 0 again, as the total changed (order 149 slid onto it); no second pass
    assert [p["page"] for p in platform.pages] == [0, 2, 1, 0]
    assert {o.platform_order_id for o in result.orders} >= {o["order_id"] for o in platform.orders
                                                            if o is not leaving}
    assert route.call_count == 4


def test_list_orders_given_an_order_arriving_late_while_paging_reads_the_window_again(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    late = order_like("6939900000000", T0 + 10)

    def arrive(p: Platform) -> None:  # stamped inside the window, indexed after page 2 was read
        p.orders.append(late)

    platform.before_page[3] = arrive
    api.post("/order/searchList").mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    assert {o.platform_order_id for o in result.orders} == {o["order_id"] for o in platform.orders}
    assert [p["page"] for p in platform.pages] == [0, 2, 1, 0, 0, 2, 1]


def test_list_orders_given_unmappable_orders_rejects_them_and_returns_the_others(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    good_a, bad_status, no_id, good_b = _orders(4)
    bad_status["order_status"] = 77
    del no_id["order_id"]
    api.post("/order/searchList").mock(return_value=ok({"page": 0, "size": 100, "total": 5, "shop_order_list": [
        good_a, bad_status, no_id, "not an order", good_b]}))

    result = adapter.list_orders(START, END)

    assert [o.platform_order_id for o in result.orders] == [good_a["order_id"], good_b["order_id"]]
    assert {r.key for r in result.rejects} == {bad_status["order_id"], "page 0 item 2", "page 0 item 3"}
    by_key = {r.key: r for r in result.rejects}
    assert "order_status" in by_key[bad_status["order_id"]].reason
    assert by_key[bad_status["order_id"]].raw is not None and by_key["page 0 item 3"].raw == "not an order"
    assert result.total == 5


def test_list_orders_given_more_than_the_paging_depth_splits_the_window_in_halves(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    whole = (T0, int(END.timestamp()))
    mid = (whole[0] + whole[1]) // 2
    spans: list[tuple[int, int]] = []

    def search(request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        span = (params["update_time_start"], params["update_time_end"])
        spans.append(span)
        if span == whole:
            return ok({"page": 0, "size": 100, "total": 60_000, "shop_order_list": _orders(100)})
        order = order_like(f"69399{span[0]}", span[0] + 1)
        return ok({"page": 0, "size": 100, "total": 1, "shop_order_list": [order]})

    api.post("/order/searchList").mock(side_effect=search)

    result = adapter.list_orders(START, END)

    assert spans == [whole, (whole[0], mid), (mid, whole[1])]
    assert len(result.orders) == 2
    assert result.total == 2


def test_list_orders_given_a_total_that_keeps_growing_stops_after_three_passes(
        adapter: DouyinAdapter, api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    pages = _orders(1)

    def search(request: httpx.Request) -> httpx.Response:
        page = json.loads(request.content)["page"]
        return ok({"page": page, "size": 100, "total": 200 if page == 0 else 10_000_000, "shop_order_list": pages})

    route = api.post("/order/searchList").mock(side_effect=search)

    result = adapter.list_orders(START, END)

    assert route.call_count == 3 * 3  # page 0, page 1, page 0 again: three times
    assert len(result.orders) == 1
    assert "kept moving over 3 passes" in caplog.text


def test_list_orders_given_page_without_total_raises_protocol_error(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/order/searchList").mock(return_value=ok({"shop_order_list": []}))

    with pytest.raises(ProtocolError, match="total"):
        adapter.list_orders(START, END)


def test_get_order_given_order_id_reads_shop_order_detail(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/orderDetail").mock(
        return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))

    order = adapter.get_order("6921234567890123456")

    assert json.loads(route.calls.last.request.content) == {"shop_order_id": "6921234567890123456"}
    assert order.status is OrderStatus.SHIPPED
    assert order.shipped_tracking == ["SF1409876543210"]


def test_get_order_given_answer_without_detail_raises_protocol_error(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/order/orderDetail").mock(return_value=ok({}))

    with pytest.raises(ProtocolError, match="shop_order_detail"):
        adapter.get_order("6921234567890123456")


def test_list_orders_given_seen_versions_counts_them_and_maps_only_the_rest(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    orders = _orders(5)
    seen = StoredVersions({o["order_id"]: (float(o["update_time"]), o) for o in orders[:3]})
    orders[1]["update_time"] += 1  # a newer version of a stored order
    orders[2]["seller_words"] = "加急"  # other content under the same stamp
    orders[0]["order_status"] = 77  # would be a reject if it were mapped again
    seen.store(orders[0]["order_id"], float(orders[0]["update_time"]), orders[0])
    api.post("/order/searchList").mock(side_effect=Platform(orders))

    result = adapter.list_orders(START, END, seen=seen)

    assert result.unchanged == 1 and result.rejects == []
    assert sorted(o.platform_order_id for o in result.orders) == [o["order_id"] for o in orders[1:]]
    assert next(o for o in result.orders if o.platform_order_id == orders[2]["order_id"]).seller_memo == "加急"
    assert sorted(seen.asked) == sorted(o["order_id"] for o in orders)


def test_list_orders_given_seen_but_an_unreadable_stamp_maps_the_entry(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    order = _orders(1)[0]
    order["update_time"] = str(order["update_time"])  # digits as text: the mapping reads it, the peek does not
    seen = StoredVersions({})
    api.post("/order/searchList").mock(side_effect=lambda request: ok(
        {"page": 0, "size": 100, "total": 1, "shop_order_list": [order]}))

    result = adapter.list_orders(START, END, seen=seen)

    assert (len(result.orders), result.unchanged, seen.asked) == (1, 0, [])


def test_list_orders_step_given_a_busy_window_reads_one_page_up_to_its_last_second_and_steps_on_at_once(
        adapter: DouyinAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.adapters.douyin import listing

    monkeypatch.setattr(listing, "PAGED_WHOLE", 150)
    orders = _orders(300)
    orders[99]["update_time"] = orders[100]["update_time"] = T0 + 99  # the page's last second goes on past it
    platform = Platform(orders)
    api.post("/order/searchList").mock(side_effect=platform)

    got = adapter.list_orders_step(START, END)

    # newest first for the total (too many to hold), then oldest first: one page, all before its last second
    assert [(p["page"], p["order_asc"]) for p in platform.pages] == [(0, False), (0, True)]
    assert got.covered is not None and int(got.covered.timestamp()) == T0 + 99
    assert sorted(int(o.platform_order_id[-5:]) for o in got.orders) == list(range(99))  # all before T0 + 99
    adapter.list_orders_step(got.covered, END)  # 201 left, more than it holds: the next step asks oldest first
    assert [(p["page"], p["order_asc"]) for p in platform.pages[2:]] == [(0, True)]


def test_list_orders_step_given_a_first_page_all_in_one_second_pages_that_second_whole(
        adapter: DouyinAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.adapters.douyin import listing

    monkeypatch.setattr(listing, "PAGED_WHOLE", 150)
    orders = [order_like(f"6930000000{i:05d}", T0) for i in range(130)] + _orders(70, prefix="69400000000000")
    for o in orders[130:]:
        o["update_time"] += 10
    platform = Platform(orders)
    api.post("/order/searchList").mock(side_effect=platform)

    got = adapter.list_orders_step(START, END)

    assert got.covered is not None and int(got.covered.timestamp()) == T0 + 1  # that second whole, and no more
    assert len(got.orders) == 130
    assert [(p["update_time_start"], p["update_time_end"]) for p in platform.pages[2:]] == [(T0, T0)] * 2


def test_list_orders_step_given_a_window_it_can_hold_pages_it_whole_newest_first(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    api.post("/order/searchList").mock(side_effect=platform)

    got = adapter.list_orders_step(START, END)

    assert got.covered is None and len(got.orders) == 250
    assert [(p["page"], p["order_asc"]) for p in platform.pages] == [(0, False), (2, False), (1, False)]


def test_list_orders_step_given_a_busy_window_that_shrank_to_what_it_holds_reads_the_rest_from_its_oldest_page(
        adapter: DouyinAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.adapters.douyin import listing

    monkeypatch.setattr(listing, "PAGED_WHOLE", 150)
    orders = [order_like(f"6930000000{i:05d}", T0 + min(i, 60)) for i in range(290)]  # 230 orders in one second
    platform = Platform(orders, ties_reversed=False)  # newest first does not list that second's orders reversed
    api.post("/order/searchList").mock(side_effect=platform)
    got = adapter.list_orders_step(START, END)  # the 60 before the burst; 230 left: the next call steps at once
    for o in orders[60:160]:
        o["update_time"] = int(END.timestamp()) + 60  # 100 of the burst shipped meanwhile: 130 left
    del platform.pages[:]

    assert got.covered is not None
    rest = adapter.list_orders_step(got.covered, END)

    assert rest.covered is None
    assert {o.platform_order_id for o in rest.orders} == {o["order_id"] for o in orders[160:]}
    # its oldest-first page holds none surely before the rest (all in one second): newest first from page 1
    assert [(p["page"], p["order_asc"]) for p in platform.pages] == [(0, True), (1, False), (0, False)]


def test_list_orders_step_given_a_window_it_can_hold_and_an_order_leaving_it_loses_none(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    leaving = platform.orders[150]

    def ship_it(p: Platform) -> None:  # after page 0 newest first, before the deeper pages
        leaving["update_time"] = int(END.timestamp()) + 60

    platform.before_page[2] = ship_it
    api.post("/order/searchList").mock(side_effect=platform)

    got = adapter.list_orders_step(START, END)

    assert {o.platform_order_id for o in got.orders} >= {o["order_id"] for o in platform.orders if o is not leaving}
    # page 0 again, as the total changed; no second pass: entries only slid towards pages not read yet
    assert [p["page"] for p in platform.pages] == [0, 2, 1, 0]


def test_list_orders_step_given_a_bursty_window_too_big_to_hold_narrows_it_by_the_totals_and_pages_its_first_part(
        adapter: DouyinAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncd.adapters.douyin import listing

    monkeypatch.setattr(listing, "PAGED_WHOLE", 150)
    # 300 orders written back in bursts: 50 a second in six seconds, 10 minutes apart
    orders = [order_like(f"6930000000{i:05d}", T0 + 600 * (i // 50)) for i in range(300)]
    platform = Platform(orders)
    api.post("/order/searchList").mock(side_effect=platform)

    got = adapter.list_orders_step(START, END)

    # page 0 of the hour (300, one second on it): narrowed to 0.8 x 150 / 300 of it, 24 minutes: 150 orders
    asked = [(p["update_time_start"] - T0, p["update_time_end"] - T0, p["page"], p["order_asc"])
             for p in platform.pages]
    assert asked == [(0, 3600, 0, False), (0, 1440, 0, False), (0, 1440, 1, False)]
    assert got.covered is not None and int(got.covered.timestamp()) == T0 + 1441
    assert sorted(o.platform_order_id for o in got.orders) == sorted(o["order_id"] for o in orders[:150])
