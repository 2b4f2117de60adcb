"""count_orders: the platform's own total for a window, for reconciliation."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import respx

from syncd.adapters.douyin.adapter import DouyinAdapter
from tests.adapters.douyin.conftest import NOW, ok, sample_order

START, END = NOW - timedelta(hours=1), NOW
T0, T1 = int(START.timestamp()), int(END.timestamp())


def test_count_orders_asks_once_for_the_first_page_and_returns_the_total(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok(
        {"page": 0, "size": 1, "total": 1234, "shop_order_list": [sample_order()]}))

    assert adapter.count_orders(START, END) == 1234
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == {
        "update_time_start": T0, "update_time_end": T1, "order_by": "update_time", "order_asc": False,
        "size": 100, "page": 0}


def test_count_orders_given_empty_window_returns_zero(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/order/searchList").mock(return_value=ok({"page": 0, "size": 1, "total": 0, "shop_order_list": []}))

    assert adapter.count_orders(START, END) == 0


def test_count_orders_given_total_at_the_paging_depth_counts_the_halves_without_the_shared_second(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    mid = (T0 + T1) // 2
    totals = {(T0, T1): 50_000, (T0, mid): 30_000, (mid, T1): 25_000, (mid, mid): 2}
    spans: list[tuple[int, int]] = []

    def search(request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        span = (params["update_time_start"], params["update_time_end"])
        spans.append(span)
        return ok({"page": 0, "size": 1, "total": totals[span], "shop_order_list": []})

    api.post("/order/searchList").mock(side_effect=search)

    assert adapter.count_orders(START, END) == 30_000 + 25_000 - 2
    assert spans == [(T0, T1), (T0, mid), (mid, T1), (mid, mid)]


def test_list_orders_after_a_count_of_the_same_window_uses_its_first_page(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok(
        {"page": 0, "size": 100, "total": 1, "shop_order_list": [sample_order()]}))

    assert adapter.count_orders(START, END) == 1
    got = adapter.list_orders(START, END)

    assert route.call_count == 1  # the count was the window's first page
    assert len(got.orders) == 1 and got.total == 1


def test_list_orders_of_another_window_or_a_second_time_asks_again(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/order/searchList").mock(return_value=ok(
        {"page": 0, "size": 100, "total": 1, "shop_order_list": [sample_order()]}))

    adapter.count_orders(START, END)
    adapter.list_orders(START, END - timedelta(minutes=1))  # the window was narrowed after the count
    adapter.list_orders(START, END)  # nothing kept any more: a page from before is never used twice

    assert route.call_count == 3
    spans = [(json.loads(c.request.content)["update_time_start"], json.loads(c.request.content)["update_time_end"])
             for c in route.calls]
    assert spans == [(T0, T1), (T0, T1 - 60), (T0, T1)]
