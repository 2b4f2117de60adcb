"""The refund stream: afterSale.List paged to exhaustion and mapped to RefundEvents."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from syncd import clock
from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.adapters.douyin.mapping import aftersale_refund_state
from syncd.domain import RefundState
from tests.adapters.douyin.conftest import NOW, fixture, ok

START, END = NOW - timedelta(hours=1), NOW
T0 = int(START.timestamp())


def _item(n: int, *, kind: int = 2, status: int = 6, update_time: int | None = None,
          order_type: int = 1) -> dict[str, Any]:
    """An after-sale entry shaped like the fixture's first one, under other ids."""
    item: dict[str, Any] = copy.deepcopy(fixture("aftersale_list.json")["data"]["items"][0])
    info, order = item["aftersale_info"], item["order_info"]
    info.update(aftersale_id=f"73000000000000{n:05d}", aftersale_type=kind, aftersale_status=status,
                aftersale_order_type=order_type, update_time=T0 + n if update_time is None else update_time,
                related_id=f"69300000000001{n:05d}")
    order["shop_order_id"] = f"69300000000000{n:05d}"
    order["related_order_info"][0]["sku_order_id"] = f"69300000000001{n:05d}"
    return item


class AfterSales:
    """afterSale.List over entries sorted by update time, with has_more, like the platform pages it."""

    def __init__(self, items: list[dict[str, Any]], *, has_more: bool = True) -> None:
        self.items = items
        self.has_more = has_more
        self.pages: list[dict[str, Any]] = []
        self.before_page: dict[int, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        self.pages.append(params)
        hook = self.before_page.get(len(self.pages))
        if hook:
            hook(self)
        inside = sorted((i for i in self.items
                         if params["update_start_time"] <= i["aftersale_info"]["update_time"]
                         <= params["update_end_time"]),
                        key=lambda i: (i["aftersale_info"]["update_time"], i["aftersale_info"]["aftersale_id"]),
                        reverse=params["order_by"] == ["update_time desc"])
        at = params["page"] * params["size"]
        data: dict[str, Any] = {"items": inside[at:at + params["size"]], "total": len(inside),
                                "page": params["page"], "size": params["size"]}
        if self.has_more:
            data["has_more"] = at + params["size"] < len(inside)
        return ok(data)


def test_list_refunds_given_fixture_page_maps_each_entry_to_its_event(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/afterSale/List").mock(return_value=httpx.Response(200, json=fixture("aftersale_list.json")))

    result = adapter.list_refunds(START, END)

    assert json.loads(route.calls.last.request.content) == {
        "update_start_time": T0, "update_end_time": int(END.timestamp()), "order_by": ["update_time desc"],
        "size": 100, "page": 0}
    got = sorted((e.platform_order_id, e.platform_line_id, e.state, e.kind) for e in result.events)
    assert got == [
        ("6921234567890122000", "6921234567890122001", RefundState.NONE, "换货 (14)"),
        ("6921234567890123456", "6921234567890123458", RefundState.REQUESTED, "未发货仅退款 (6)"),
        ("6921234567890124000", None, RefundState.REFUNDED, "未发货仅退款 (12)"),  # whole-order after-sale
    ]
    requested = next(e for e in result.events if e.state is RefundState.REQUESTED)
    assert requested.updated_at == clock.from_epoch(1763798700)
    assert requested.raw["aftersale_info"]["aftersale_id"] == "7301234567890123401"
    assert result.rejects == []


def test_list_refunds_given_250_entries_pages_backwards_newest_first_from_the_total(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = AfterSales([_item(i) for i in range(250)])
    route = api.post("/afterSale/List").mock(side_effect=platform)

    result = adapter.list_refunds(START, END)

    assert [p["page"] for p in platform.pages] == [0, 2, 1]
    assert route.call_count == 3
    assert len({e.platform_order_id for e in result.events}) == len(result.events) == 250


def test_list_refunds_given_no_has_more_pages_by_total(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = AfterSales([_item(i) for i in range(150)], has_more=False)
    api.post("/afterSale/List").mock(side_effect=platform)

    result = adapter.list_refunds(START, END)

    assert [p["page"] for p in platform.pages] == [0, 1]
    assert len(result.events) == 150


def test_list_refunds_given_empty_window_asks_once(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/afterSale/List").mock(return_value=ok(
        {"items": [], "total": 0, "has_more": False, "page": 0, "size": 100}))

    result = adapter.list_refunds(START, END)

    assert (result.events, result.rejects, route.call_count) == ([], [], 1)


def test_list_refunds_given_entry_updated_while_paging_keeps_its_newest_state_once(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    platform = AfterSales([_item(i) for i in range(150)])
    moved = platform.items[3]["aftersale_info"]["aftersale_id"]

    def refund_succeeds(p: AfterSales) -> None:  # the merchant agrees while we are between pages
        info = p.items[3]["aftersale_info"]
        info.update(aftersale_status=12, refund_status=3, update_time=T0 + 3000)

    platform.before_page[2] = refund_succeeds
    api.post("/afterSale/List").mock(side_effect=platform)

    result = adapter.list_refunds(START, END)

    ids = [e.raw["aftersale_info"]["aftersale_id"] for e in result.events]
    assert len(ids) == len(set(ids)) == 150  # entry 50 slid back from page 0 as first read: read again
    event = next(e for e in result.events if e.raw["aftersale_info"]["aftersale_id"] == moved)
    assert event.state is RefundState.REFUNDED
    assert [p["page"] for p in platform.pages] == [0, 1, 0, 1]


def test_list_refunds_given_unreadable_entries_rejects_them_and_keeps_the_others(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    good, no_order, no_time, no_id = _item(1), _item(2), _item(3), _item(4)
    del no_order["order_info"]["shop_order_id"]
    no_time["aftersale_info"]["update_time"] = 0
    no_time["aftersale_info"]["apply_time"] = 0
    del no_id["aftersale_info"]["aftersale_id"]
    api.post("/afterSale/List").mock(return_value=ok(
        {"items": [good, no_order, no_time, no_id, "junk"], "total": 5, "has_more": False}))

    result = adapter.list_refunds(START, END)

    assert [e.platform_order_id for e in result.events] == [good["order_info"]["shop_order_id"]]
    by_key = {r.key: r for r in result.rejects}
    assert set(by_key) == {"7300000000000000002", "7300000000000000003", "page 0 item 3", "page 0 item 4"}
    assert "shop_order_id" in by_key["7300000000000000002"].reason
    assert "update_time" in by_key["7300000000000000003"].reason
    assert by_key["page 0 item 4"].raw == "junk"


def test_list_refunds_given_more_than_the_paging_depth_splits_the_window(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    whole = (T0, int(END.timestamp()))
    mid = (whole[0] + whole[1]) // 2
    spans: list[tuple[int, int]] = []

    def listing(request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content)
        span = (params["update_start_time"], params["update_end_time"])
        spans.append(span)
        if span == whole:
            return ok({"items": [_item(0)], "total": 50_001, "has_more": True})
        return ok({"items": [_item(span[0] % 1000, update_time=span[0] + 1)], "total": 1, "has_more": False})

    api.post("/afterSale/List").mock(side_effect=listing)

    result = adapter.list_refunds(START, END)

    assert spans == [whole, (whole[0], mid), (mid, whole[1])]
    assert len(result.events) == 2


def test_list_refunds_given_has_more_forever_pages_by_the_total(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    route = api.post("/afterSale/List").mock(return_value=ok({"items": [_item(1)], "total": 1, "has_more": True}))

    assert len(adapter.list_refunds(START, END).events) == 1
    assert route.call_count == 1


def test_list_refunds_given_entry_naming_two_sku_orders_gives_one_event_each(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    item = _item(1)
    lines = item["order_info"]["related_order_info"]
    lines.append({**lines[0], "sku_order_id": "6930000000000999999"})
    api.post("/afterSale/List").mock(return_value=ok({"items": [item], "total": 1, "has_more": False}))

    events = adapter.list_refunds(START, END).events

    assert [e.platform_line_id for e in events] == ["6930000000000100001", "6930000000000999999"]


def test_list_refunds_given_no_related_orders_uses_related_id_as_the_line(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    item = _item(1)
    item["order_info"]["related_order_info"] = []
    api.post("/afterSale/List").mock(return_value=ok({"items": [item], "total": 1, "has_more": False}))

    assert [e.platform_line_id for e in adapter.list_refunds(START, END).events] == ["6930000000000100001"]


@pytest.mark.parametrize(("kind", "status", "refund_status", "state"), [
    (2, 6, 1, RefundState.REQUESTED),  # 未发货仅退款, waiting for the merchant
    (0, 7, 1, RefundState.REQUESTED),  # 退货退款, waiting for the buyer's return
    (0, 11, 1, RefundState.REQUESTED),  # 待商家二次同意
    (1, 8, 1, RefundState.REQUESTED),
    (2, 12, 3, RefundState.REFUNDED),
    (0, 12, 0, RefundState.REFUNDED),
    (1, 53, 0, RefundState.REFUNDED),
    (2, 6, 3, RefundState.REFUNDED),  # refund_status says the money went back
    (2, 27, 4, RefundState.NONE),  # 商家一次拒绝
    (2, 28, 0, RefundState.NONE),  # 售后失败 / closed
    (0, 29, 4, RefundState.NONE),  # 商家二次拒绝
    (3, 12, 0, RefundState.NONE),  # exchange
    (3, 6, 0, RefundState.NONE),
    (6, 12, 3, RefundState.NONE),  # 价保: a price difference, the goods still ship
    (7, 12, 0, RefundState.NONE),  # 补寄
    (8, 12, 0, RefundState.NONE),  # 维修
    (2, 99, 0, RefundState.REQUESTED),  # unknown status: a person looks
    (42, 12, 3, RefundState.REQUESTED),  # unknown type: a person looks
])
def test_aftersale_refund_state_table(kind: int, status: int, refund_status: int, state: RefundState) -> None:
    assert aftersale_refund_state(kind, status, refund_status) is state
