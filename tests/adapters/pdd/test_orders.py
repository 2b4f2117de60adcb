"""Listing with pdd.order.number.list.increment.get: 30-minute windows, paging, dedupe; reading one order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.adapters.sandbox.pdd_seed import epoch_of, text_time
from syncd.domain import OrderStatus
from syncd.errors import ProtocolError
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import NOW, fixture, form, make_config, ok, order_like, route
from tests.fakes import StoredVersions

LIST = "pdd.order.number.list.increment.get"
KEY = "order_sn_increment_get_response"
START, END = NOW - timedelta(minutes=30), NOW
T0, T1 = int(START.timestamp()), int(END.timestamp())


def _orders(count: int, prefix: str = "251122-5100000000") -> list[dict[str, Any]]:
    return [order_like(f"{prefix}{i:05d}", text_time(T0 + i)) for i in range(count)]


class Platform:
    """The increment list over orders kept sorted by update time, paged like the platform pages it."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.calls: list[dict[str, str]] = []
        self.before_call: dict[int, Any] = {}  # call number (1-based) → hook changing the data first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = form(request)
        self.calls.append(params)
        hook = self.before_call.get(len(self.calls))
        if hook:
            hook(self)
        start, end = int(params["start_updated_at"]), int(params["end_updated_at"])
        assert end - start <= 1800, "the platform refuses windows over 30 minutes"
        inside = sorted((o for o in self.orders if start <= epoch_of(o["updated_at"]) <= end),
                        key=lambda o: (epoch_of(o["updated_at"]), o["order_sn"]))
        page, size = int(params["page"]), int(params["page_size"])
        chunk = inside[(page - 1) * size:page * size]
        if params["use_has_next"] == "true":
            return ok(KEY, {"order_sn_list": chunk, "has_next": page * size < len(inside)})
        return ok(KEY, {"order_sn_list": chunk, "total_count": len(inside)})


def test_list_orders_given_250_orders_reads_page_1_then_the_last_page_back_to_the_first(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    assert [c["page"] for c in platform.calls] == ["1", "3", "2", "1"]
    assert platform.calls[0] | {"sign": "", "timestamp": "", "access_token": ""} == {
        "start_updated_at": str(T0), "end_updated_at": str(T1), "order_status": "5", "refund_status": "5",
        "is_lucky_flag": "0", "page": "1", "page_size": "100", "use_has_next": "false", "type": LIST,
        "client_id": platform.calls[0]["client_id"], "data_type": "JSON", "sign": "", "timestamp": "",
        "access_token": ""}
    assert len({o.platform_order_id for o in result.orders}) == len(result.orders) == 250
    assert result.total == 250 and result.rejects == []


def test_list_orders_given_one_page_asks_once(adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, LIST).mock(side_effect=Platform(_orders(100)))

    assert len(adapter.list_orders(START, END).orders) == 100
    assert r.call_count == 1


def test_list_orders_after_a_count_of_the_same_window_uses_its_first_pages(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    route(api, LIST).mock(side_effect=platform)

    assert adapter.count_orders(START, END) == 250
    result = adapter.list_orders(START, END)

    assert [c["page"] for c in platform.calls] == ["1", "3", "2", "1"]  # page 1 first was the count's
    assert len({o.platform_order_id for o in result.orders}) == 250


def test_list_orders_of_another_window_after_a_count_asks_its_own_first_page(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(50))
    route(api, LIST).mock(side_effect=platform)

    adapter.count_orders(START, END)
    adapter.list_orders(START, END - timedelta(minutes=10))  # narrowed after the count
    adapter.list_orders(START, END)  # the kept page was dropped by the read before: asked again

    assert [(c["end_updated_at"], c["page"]) for c in platform.calls] == [
        (str(T1), "1"), (str(T1 - 600), "1"), (str(T1), "1")]


def test_list_orders_given_empty_window_returns_nothing_after_one_call(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, LIST).mock(return_value=ok(KEY, {"total_count": 0, "order_sn_list": []}))

    result = adapter.list_orders(START, END)

    assert (result.orders, result.total, result.rejects) == ([], 0, [])
    assert r.call_count == 1


def test_list_orders_given_a_read_order_leaving_the_window_while_paging_loses_no_other_order(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    moved = platform.orders[5]["order_sn"]

    def update_order_5(p: Platform) -> None:  # updated after the window's end: it leaves the window
        p.orders[5] = {**p.orders[5], "updated_at": text_time(T1 + 60), "remark": "改地址"}

    platform.before_call[3] = update_order_5  # read on page 1; leaves before page 2 is read
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    ids = {o.platform_order_id for o in result.orders}
    assert ids == {o["order_sn"] for o in platform.orders}  # 250, order 100 slid onto page 1 and was re-read
    assert next(o for o in result.orders if o.platform_order_id == moved).seller_memo == "老客户"


def test_list_orders_given_an_unread_order_leaving_the_window_reads_every_other_one(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(250))
    moved = platform.orders[120]["order_sn"]

    def update_order_120(p: Platform) -> None:
        p.orders[120] = {**p.orders[120], "updated_at": text_time(T1 + 60)}

    platform.before_call[3] = update_order_120  # leaves before its page is read: the next window has it
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    ids = {o.platform_order_id for o in result.orders}
    assert ids == {o["order_sn"] for o in platform.orders} - {moved}
    # the total changed (250 → 249) while paging: the window was read once more
    assert [c["page"] for c in platform.calls] == ["1", "3", "2", "1", "1", "3", "2", "1"]


def test_list_orders_given_forward_paging_would_lose_an_order_backward_paging_does_not(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    # The same move under has_next paging loses the order that slides onto page 1 after it was read.
    platform = Platform(_orders(250))

    def update_order_5(p: Platform) -> None:
        p.orders[5] = {**p.orders[5], "updated_at": text_time(T1 + 60)}

    platform.before_call[2] = update_order_5
    route(api, LIST).mock(side_effect=platform)

    result = PddAdapter(make_config(paging="has_next"), ctx).list_orders(START, END)

    assert len({o.platform_order_id for o in result.orders}) == 249  # documented: the overlap re-reads it
    assert [c["use_has_next"] for c in platform.calls] == ["true"] * 3
    assert result.total is None


def test_list_orders_given_an_order_entering_the_window_while_paging_reads_the_window_again(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_orders(150))
    late = order_like("251122-5999999999999", text_time(T0 + 5))

    platform.before_call[2] = lambda p: p.orders.append(late)
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    assert late["order_sn"] in {o.platform_order_id for o in result.orders}
    assert len(result.orders) == 151
    assert [c["page"] for c in platform.calls] == ["1", "2", "1", "1", "2", "1"]


def test_list_orders_given_has_next_pages_forward_until_it_is_false(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    platform = Platform(_orders(250))
    route(api, LIST).mock(side_effect=platform)

    result = PddAdapter(make_config(paging="has_next"), ctx).list_orders(START, END)

    assert [c["page"] for c in platform.calls] == ["1", "2", "3"]
    assert len(result.orders) == 250


def test_list_orders_given_has_next_that_never_ends_stops_at_the_page_guard(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    r = route(api, LIST).mock(return_value=ok(KEY, {"order_sn_list": _orders(1), "has_next": True}))

    with pytest.raises(ProtocolError, match="paging did not end"):
        PddAdapter(make_config(paging="has_next"), ctx).list_orders(START, END)
    assert r.call_count == 1000


def test_list_orders_given_a_total_beyond_the_page_guard_raises_before_paging(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, LIST).mock(return_value=ok(KEY, {"order_sn_list": [], "total_count": 10_000_000}))

    with pytest.raises(ProtocolError, match="exceed 1000 pages"):
        adapter.list_orders(START, END)
    assert r.call_count == 1


@pytest.mark.parametrize("answer", [{"order_sn_list": []}, {"order_sn_list": [], "total_count": -1},
                                    {"order_sn_list": {}, "total_count": 1}])
def test_list_orders_given_an_unreadable_page_raises_protocol_error(
        adapter: PddAdapter, api: respx.MockRouter, answer: dict[str, Any]) -> None:
    route(api, LIST).mock(return_value=ok(KEY, answer))

    with pytest.raises(ProtocolError, match=LIST):
        adapter.list_orders(START, END)


def test_list_orders_given_two_hours_asks_in_windows_of_at_most_30_minutes_sharing_no_second(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    platform = Platform([])
    route(api, LIST).mock(side_effect=platform)

    adapter.list_orders(END - timedelta(hours=2), END)

    spans = [(int(c["start_updated_at"]), int(c["end_updated_at"])) for c in platform.calls]
    begin = T1 - 7200
    assert spans == [(begin, begin + 1800), (begin + 1801, begin + 3601), (begin + 3602, begin + 5402),
                     (begin + 5403, T1)]
    assert all(b - a <= 1800 for a, b in spans)


def test_list_orders_given_the_same_order_in_two_windows_keeps_the_newest_copy(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    old = order_like("251122-5000000000001", text_time(T1 - 3000), remark="旧")
    new = order_like("251122-5000000000001", text_time(T1 - 10), remark="新")
    answers = iter([[new], [old]])  # the later window may well be answered first
    route(api, LIST).mock(side_effect=lambda request: ok(KEY, {"order_sn_list": (chunk := next(answers)),
                                                              "total_count": len(chunk)}))

    result = adapter.list_orders(END - timedelta(minutes=50), END)

    assert [o.seller_memo for o in result.orders] == ["新"]


def test_list_orders_given_unmappable_orders_rejects_them_and_returns_the_others(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    good_a, bad_status, no_sn, good_b = _orders(4)
    bad_status["order_status"] = 9
    del no_sn["order_sn"]
    route(api, LIST).mock(return_value=ok(KEY, {"total_count": 5, "order_sn_list": [
        good_a, bad_status, no_sn, "not an order", good_b]}))

    result = adapter.list_orders(START, END)

    assert [o.platform_order_id for o in result.orders] == [good_a["order_sn"], good_b["order_sn"]]
    by_key = {r.key: r for r in result.rejects}
    assert set(by_key) == {bad_status["order_sn"], "page 1 item 2", "page 1 item 3"}
    assert "order_status" in by_key[bad_status["order_sn"]].reason
    assert by_key["page 1 item 3"].raw == "not an order"


def test_count_orders_asks_one_total_per_30_minutes_and_sums_them(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, LIST).mock(side_effect=[ok(KEY, {"total_count": 7, "order_sn_list": [{}]}),
                                           ok(KEY, {"total_count": 5, "order_sn_list": [{}]})])

    assert adapter.count_orders(END - timedelta(minutes=45), END) == 12
    sent = [form(c.request) for c in r.calls]
    assert [(s["page"], s["page_size"], s["use_has_next"]) for s in sent] == [("1", "100", "false")] * 2


def test_count_orders_given_no_total_raises_protocol_error(adapter: PddAdapter, api: respx.MockRouter) -> None:
    route(api, LIST).mock(return_value=ok(KEY, {"has_next": True}))

    with pytest.raises(ProtocolError, match="total_count"):
        adapter.count_orders(START, END)


def test_get_order_reads_order_information(adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, "pdd.order.information.get").mock(
        return_value=httpx.Response(200, json=fixture("order_information_shipped.json")))

    order = adapter.get_order("251122-512345678901234")

    assert form(r.calls.last.request)["order_sn"] == "251122-512345678901234"
    assert order.status is OrderStatus.SHIPPED
    assert order.shipped_tracking == ["ZT7881234567890", "SF1409876543210"]


def test_get_order_given_answer_without_order_info_raises_protocol_error(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    route(api, "pdd.order.information.get").mock(return_value=ok("order_info_get_response", {}))

    with pytest.raises(ProtocolError, match="order_info"):
        adapter.get_order("251122-512345678901234")


def test_list_orders_given_seen_versions_counts_them_and_maps_only_the_rest(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    orders = _orders(4)
    seen = StoredVersions({o["order_sn"]: (float(epoch_of(o["updated_at"])), o) for o in orders[:3]})
    orders[1]["updated_at"] = text_time(epoch_of(orders[1]["updated_at"]) + 1)  # a newer version
    orders[2]["remark"] = "加急"  # other content under the same stamp
    route(api, LIST).mock(side_effect=Platform(orders))

    result = adapter.list_orders(START, END, seen=seen)

    assert result.unchanged == 1 and result.rejects == []
    assert sorted(o.platform_order_id for o in result.orders) == sorted(o["order_sn"] for o in orders[1:])
    assert sorted(seen.asked) == sorted(o["order_sn"] for o in orders)
