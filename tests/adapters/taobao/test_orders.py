"""Listing trades with taobao.trades.sold.increment.get (windows, paging, details), counting, reading one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.taobao import listing
from syncd.adapters.taobao.adapter import TaobaoAdapter
from syncd.adapters.taobao.config import TRADE_FIELDS
from syncd.domain import OrderStatus
from syncd.errors import ProtocolError
from tests.adapters.taobao.conftest import FULLINFO, LIST, NOW, answer, fail, form, ok, route, trade_like

START, END = NOW - timedelta(minutes=30), NOW  # 16:30:00 .. 17:00:00 in Asia/Shanghai


def _stamp(second: int) -> str:
    """16:30:00 + ``second`` seconds, Asia/Shanghai text."""
    minutes, seconds = divmod(second, 60)
    return f"2025-11-22 16:{30 + minutes:02d}:{seconds:02d}"


def _trades(count: int, prefix: int = 2460000000000000000) -> list[dict[str, Any]]:
    """``count`` trades spread evenly over the window."""
    return [trade_like(str(prefix + i * 10), _stamp(i * 1800 // count)) for i in range(count)]


class Platform:
    """increment.get over a list sorted by ``modified`` descending, as TOP pages it."""

    def __init__(self, trades: list[dict[str, Any]]) -> None:
        self.trades = trades
        self.calls: list[dict[str, str]] = []
        self.before_call: dict[int, Callable[[Platform], None]] = {}  # call number (1-based) → change

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = form(request)
        self.calls.append(params)
        hook = self.before_call.get(len(self.calls))
        if hook:
            hook(self)
        inside = sorted((t for t in self.trades
                         if params["start_modified"] <= t["modified"] <= params["end_modified"]),
                        key=lambda t: (t["modified"], t["tid"]), reverse=True)
        size, page = int(params["page_size"]), int(params["page_no"])
        chunk = inside[(page - 1) * size:page * size]
        body: dict[str, Any] = {"trades": {"trade": chunk}} if chunk else {}
        if params["use_has_next"] == "true":
            body["has_next"] = page * size < len(inside)
        else:
            body["total_results"] = len(inside)
        return ok(LIST, body)


def test_list_orders_given_one_page_asks_once_with_has_next_and_reads_details_only_where_needed(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    listed = route(api, LIST).mock(return_value=answer("trades_sold_increment_get.json"))
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))

    result = adapter.list_orders(START, END)

    assert listed.call_count == 1
    sent = form(listed.calls.last.request)
    assert {k: sent[k] for k in ("start_modified", "end_modified", "page_no", "page_size", "use_has_next",
                                 "fields")} == {
        "start_modified": "2025-11-22 16:30:00", "end_modified": "2025-11-22 17:00:00", "page_no": "1",
        "page_size": "100", "use_has_next": "true", "fields": TRADE_FIELDS}
    assert detail.call_count == 1  # only the trade listed without an oaid
    assert form(detail.calls.last.request)["tid"] == "2451234567890125000"
    assert form(detail.calls.last.request)["include_oaid"] == "true"
    by_id = {o.platform_order_id: o for o in result.orders}
    assert set(by_id) == {"2451234567890123456", "2451234567890124000", "2451234567890125000"}
    assert by_id["2451234567890125000"].receiver.name_cipher == "1QbWnT4xYc8ZpLm0KdRs6VfA2hEjG7uN"
    assert by_id["2451234567890125000"].buyer_note == "周末送货"  # the detail's version is kept
    assert by_id["2451234567890124000"].status is OrderStatus.CANCELLED
    assert result.total == 3 and result.rejects == []


def test_list_orders_given_a_long_range_asks_windows_of_a_day(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform([])
    route(api, LIST).mock(side_effect=platform)

    adapter.list_orders(START, START + timedelta(hours=30))

    assert [(c["start_modified"], c["end_modified"]) for c in platform.calls] == [
        ("2025-11-22 16:30:00", "2025-11-23 16:30:00"), ("2025-11-23 16:30:00", "2025-11-23 22:30:00")]


def test_list_orders_given_several_pages_asks_the_total_and_pages_backwards(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    asked = [(c["page_no"], c["page_size"], c["use_has_next"]) for c in platform.calls]
    assert asked == [("1", "100", "true"), ("1", "1", "false"), ("3", "100", "false"), ("2", "100", "false"),
                     ("1", "100", "false")]
    assert platform.calls[1]["fields"] == "tid"
    assert len({o.platform_order_id for o in result.orders}) == 250
    assert result.total == 250


def test_list_orders_after_a_count_of_the_same_window_uses_its_first_page_and_total(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    route(api, LIST).mock(side_effect=platform)

    assert adapter.count_orders(START, END) == 250
    result = adapter.list_orders(START, END)

    asked = [(c["page_no"], c["page_size"], c["use_has_next"]) for c in platform.calls]
    # the total held on every page: the count's page 1 is still page 1, not asked again
    assert asked == [("1", "100", "false"), ("3", "100", "false"), ("2", "100", "false")]
    assert len({o.platform_order_id for o in result.orders}) == 250 and result.total == 250


def test_list_orders_after_a_count_given_a_trade_leaving_the_window_asks_page_1_again_and_loses_none(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    newest = sorted(platform.trades, key=lambda t: (t["modified"], t["tid"]), reverse=True)
    leaving = newest[10]  # on page 1 as counted
    slid = newest[100]  # first on page 2 as counted: onto page 1 once ``leaving`` has gone

    def ship_it(p: Platform) -> None:  # shipped after the count, before page 3 is read: stamped past the end
        leaving["modified"] = "2025-11-22 17:05:00"

    platform.before_call[2] = ship_it
    route(api, LIST).mock(side_effect=platform)

    adapter.count_orders(START, END)
    result = adapter.list_orders(START, END)

    asked = [c["page_no"] for c in platform.calls]
    assert asked == ["1", "3", "2", "1"]  # one pass: page 1 again, as the total changed; no second pass
    assert str(slid["tid"]) in {o.platform_order_id for o in result.orders}
    assert {o.platform_order_id for o in result.orders} >= {str(t["tid"]) for t in platform.trades}


def test_list_orders_after_a_count_of_a_one_page_window_asks_nothing_more(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(40))
    route(api, LIST).mock(side_effect=platform)

    adapter.count_orders(START, END)
    result = adapter.list_orders(START, END)
    adapter.list_orders(START, END)  # the kept page is used once: a second read asks again

    assert len(platform.calls) == 2
    assert len(result.orders) == 40 and result.total == 40


def test_list_orders_given_a_trade_modified_while_paging_loses_no_other_trade(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    newest = sorted(platform.trades, key=lambda t: t["modified"], reverse=True)
    moved = newest[10]  # on page 1

    def modify_a_page_1_trade(p: Platform) -> None:  # the buyer edits it just before we read page 2
        moved["modified"] = "2025-11-22 17:05:00"  # past the window's end: it leaves the window

    platform.before_call[4] = modify_a_page_1_trade
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    ids = {o.platform_order_id for o in result.orders}
    # Forward paging would have lost the trade that slid from page 2 onto page 1; backwards, nothing is lost.
    assert ids >= {str(t["tid"]) for t in platform.trades if t is not moved}
    # The trade met on page 2 and again on page 1 only slid forward (same modified): no second pass.
    assert [c["page_no"] for c in platform.calls] == ["1", "1", "3", "2", "1"]


def test_list_orders_given_a_trade_moving_inside_the_window_while_paging_reads_the_window_again(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    oldest = min(platform.trades, key=lambda t: t["modified"])  # last on page 3, read first

    def modify_it_within_the_window(p: Platform) -> None:  # after page 3 was read, before page 2
        oldest["modified"] = _stamp(1799)

    platform.before_call[4] = modify_it_within_the_window
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    assert {o.platform_order_id for o in result.orders} == {str(t["tid"]) for t in platform.trades}
    assert len(platform.calls) == 2 + 3 + 1 + 3  # probe, count, 3 pages; then count and 3 pages again
    moved = next(o for o in result.orders if o.platform_order_id == str(oldest["tid"]))
    assert moved.updated_at == END - timedelta(seconds=1)


def test_list_orders_after_a_count_given_a_trade_moving_inside_the_window_reads_it_again_and_loses_none(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(250))
    oldest = min(platform.trades, key=lambda t: t["modified"])  # last on page 3, read first

    def modify_it_within_the_window(p: Platform) -> None:  # after page 3 was read, before page 2: the total holds
        oldest["modified"] = _stamp(1799)

    platform.before_call[3] = modify_it_within_the_window
    route(api, LIST).mock(side_effect=platform)

    adapter.count_orders(START, END)
    result = adapter.list_orders(START, END)

    # page 1 as counted no longer holds (a trade of it slid onto page 2): the window is read again
    assert [c["page_no"] for c in platform.calls] == ["1", "3", "2", "1", "3", "2", "1"]
    assert {o.platform_order_id for o in result.orders} == {str(t["tid"]) for t in platform.trades}
    newest = max((o for o in result.orders if o.platform_order_id == str(oldest["tid"])), key=lambda o: o.updated_at)
    assert newest.updated_at == END - timedelta(seconds=1)


def test_list_orders_given_trades_that_never_stop_moving_stops_after_three_passes(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    platform = Platform(_trades(150))
    stamps = iter(range(10_000))

    def move_one_every_call(p: Platform) -> None:
        victim = min(p.trades, key=lambda t: t["modified"])
        victim["modified"] = _stamp(1000 + next(stamps) % 700)

    for n in range(1, 30):
        platform.before_call[n] = move_one_every_call
    route(api, LIST).mock(side_effect=platform)

    adapter.list_orders(START, END)

    assert len(platform.calls) == 1 + 3 * (1 + 2)


def test_list_orders_given_the_same_trade_twice_keeps_the_newest_copy(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    old = trade_like("2461000000000000000", _stamp(60), seller_memo="旧备注")
    new = trade_like("2461000000000000000", _stamp(1700), seller_memo="新备注")
    route(api, LIST).mock(side_effect=[ok(LIST, {"has_next": False, "trades": {"trade": [new]}}),
                                       ok(LIST, {"has_next": False, "trades": {"trade": [old]}})])

    result = adapter.list_orders(START, END + timedelta(minutes=30))

    assert [o.seller_memo for o in result.orders] == ["新备注"]


def test_list_orders_given_unreadable_trades_rejects_them_and_keeps_the_others(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    good = trade_like("2462000000000000000", _stamp(1))
    bad_status = trade_like("2462000000000000010", _stamp(2), status="WEIRD")
    no_tid = trade_like("2462000000000000020", _stamp(3))
    no_tid.update(tid=None, tid_str=None)
    route(api, LIST).mock(return_value=ok(LIST, {"has_next": False, "trades": {"trade": [
        good, bad_status, no_tid, "not a trade"]}}))

    result = adapter.list_orders(START, END)

    assert [o.platform_order_id for o in result.orders] == ["2462000000000000000"]
    keys = {r.key: r for r in result.rejects}
    assert set(keys) == {"2462000000000000010", f"{LIST} window 2025-11-22 16:30:00 page 1 item 2",
                         f"{LIST} window 2025-11-22 16:30:00 page 1 item 3"}
    assert "unknown status WEIRD" in keys["2462000000000000010"].reason
    assert keys["2462000000000000010"].raw["status"] == "WEIRD"


def test_list_orders_given_details_refused_for_one_trade_rejects_it_with_the_reason(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    needs = trade_like("2463000000000000000", _stamp(1), oaid=None)
    fine = trade_like("2463000000000000010", _stamp(2))
    route(api, LIST).mock(return_value=ok(LIST, {"has_next": False, "trades": {"trade": [needs, fine]}}))
    detail = route(api, FULLINFO).mock(
        return_value=fail(15, "Remote service error", "isv.trade-not-exist", "交易不存在"))

    result = adapter.list_orders(START, END)

    assert [o.platform_order_id for o in result.orders] == ["2463000000000000010"]
    (reject,) = result.rejects
    assert reject.key == "2463000000000000000"
    assert "no oaid" in reject.reason and "isv.trade-not-exist" in reject.reason
    assert detail.call_count == 1


def test_list_orders_given_details_failing_for_now_retries_them(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, LIST).mock(return_value=ok(LIST, {"has_next": False, "trades": {"trade": [
        trade_like("2451234567890125000", _stamp(1), oaid=None)]}}))
    detail = route(api, FULLINFO).mock(side_effect=[answer("error_remote_timeout.json"),
                                                    answer("trade_fullinfo_get.json")])

    result = adapter.list_orders(START, END)

    assert len(result.orders) == 1 and detail.call_count == 2


def test_list_orders_given_empty_window_returns_nothing_after_one_call(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    listed = route(api, LIST).mock(return_value=ok(LIST, {"has_next": False}))

    result = adapter.list_orders(START, END)

    assert (result.orders, result.total, result.rejects) == ([], 0, [])
    assert listed.call_count == 1


def test_list_orders_given_a_window_deeper_than_the_page_guard_splits_it_in_halves(
        adapter: TaobaoAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "MAX_PAGES", 2)
    platform = Platform(_trades(250))
    route(api, LIST).mock(side_effect=platform)

    result = adapter.list_orders(START, END)

    windows = sorted({(c["start_modified"], c["end_modified"]) for c in platform.calls})
    assert windows == [("2025-11-22 16:30:00", "2025-11-22 16:45:00"), ("2025-11-22 16:30:00", "2025-11-22 17:00:00"),
                       ("2025-11-22 16:45:00", "2025-11-22 17:00:00")]
    assert len({o.platform_order_id for o in result.orders}) == 250


def test_list_orders_given_a_second_too_deep_to_split_raises_protocol_error(
        adapter: TaobaoAdapter, api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "MAX_PAGES", 1)
    route(api, LIST).mock(side_effect=Platform([trade_like(str(2464000000000000000 + i * 10), _stamp(5))
                                                for i in range(150)]))

    with pytest.raises(ProtocolError, match="in one second"):
        adapter.list_orders(START, END)


def test_list_orders_given_total_missing_when_paging_raises_protocol_error(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, LIST).mock(side_effect=[ok(LIST, {"has_next": True, "trades": {"trade": _trades(1)}}),
                                       ok(LIST, {"trades": {"trade": _trades(1)}})])

    with pytest.raises(ProtocolError, match="total_results"):
        adapter.list_orders(START, END)


def test_count_orders_asks_one_first_page_per_day_and_adds_the_totals(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    counted = route(api, LIST).mock(side_effect=[ok(LIST, {"total_results": 120, "trades": {"trade": _trades(1)}}),
                                                 ok(LIST, {"total_results": 3, "trades": {"trade": _trades(1)}})])

    assert adapter.count_orders(NOW - timedelta(hours=30), NOW) == 123

    sent = [form(c.request) for c in counted.calls]
    assert [(s["start_modified"], s["end_modified"]) for s in sent] == [
        ("2025-11-21 11:00:00", "2025-11-22 11:00:00"), ("2025-11-22 11:00:00", "2025-11-22 17:00:00")]
    assert all((s["page_no"], s["page_size"], s["use_has_next"]) == ("1", "100", "false") for s in sent)


def test_get_order_reads_the_trade_through_fullinfo(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get_shipped.json"))

    order = adapter.get_order("2451234567890123456")

    assert form(detail.calls.last.request)["tid"] == "2451234567890123456"
    assert order.status is OrderStatus.SHIPPED
    assert order.shipped_tracking == ["SF1409876543210"]


def test_get_order_given_answer_without_trade_raises_protocol_error(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, FULLINFO).mock(return_value=ok(FULLINFO, {}))

    with pytest.raises(ProtocolError, match="no trade"):
        adapter.get_order("2451234567890123456")


def test_list_orders_given_a_trade_listed_again_unchanged_reads_its_details_once(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    """The window overlap and the settling read list a trade to ship again; TOP meters every fullinfo call."""
    route(api, LIST).mock(return_value=answer("trades_sold_increment_get.json"))
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))

    first = adapter.list_orders(START, END)
    again = adapter.list_orders(START, END)

    assert detail.call_count == 1
    assert {o.platform_order_id: o.raw for o in again.orders} == {o.platform_order_id: o.raw for o in first.orders}


def test_list_orders_given_a_trade_changed_since_its_details_were_read_reads_them_again(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    listed = answer("trades_sold_increment_get.json")
    route(api, LIST).mock(return_value=listed)
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))
    adapter.list_orders(START, END)
    body = listed.json()
    for trade in body["trades_sold_increment_get_response"]["trades"]["trade"]:
        trade["modified"] = "2025-11-22 16:59:59"  # the address edited: a new version, maybe a new oaid
    route(api, LIST).mock(return_value=httpx.Response(200, json=body))

    adapter.list_orders(START, END)

    assert detail.call_count == 2


def test_list_orders_given_trades_needing_details_reads_a_few_at_once_and_keeps_their_listed_order(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    from syncd.adapters.taobao import adapter as taobao_adapter

    n = taobao_adapter.DETAIL_IN_FLIGHT + 2
    listed = [trade_like(str(2460000000000000000 + i * 10), _stamp(i * 60), oaid="") for i in range(n)]
    route(api, LIST).mock(side_effect=Platform(listed))
    # the first DETAIL_IN_FLIGHT reads meet at the barrier: one at a time, the first would wait alone and break it
    together = threading.Barrier(taobao_adapter.DETAIL_IN_FLIGHT, timeout=20)
    asked: list[str] = []

    def fullinfo(request: httpx.Request) -> httpx.Response:
        tid = form(request)["tid"]
        with lock:
            asked.append(tid)
            first = len(asked) <= taobao_adapter.DETAIL_IN_FLIGHT
        if first:
            together.wait()
        listed_trade = next(t for t in listed if t["tid_str"] == tid)
        return ok(FULLINFO, {"trade": {**listed_trade, "oaid": f"oaid-{tid}"}})

    lock = threading.Lock()
    route(api, FULLINFO).mock(side_effect=fullinfo)

    result = adapter.list_orders(START, END)

    assert not together.broken and sorted(asked) == sorted(t["tid_str"] for t in listed)
    # newest first, as TOP lists them
    assert [o.platform_order_id for o in result.orders] == [t["tid_str"] for t in reversed(listed)]
    assert not result.rejects


def test_listing_rate_is_the_shops_fullinfo_budget(adapter: TaobaoAdapter, ctx: Any) -> None:
    """Each listed trade costs a fullinfo call: the pull sizes a scheduled run's windows by that API's budget."""
    from tests.adapters.taobao.conftest import make_config

    assert adapter.listing_rate() == 20.0  # the default budget
    tuned = TaobaoAdapter(make_config(rate_limits={FULLINFO: 50, LIST: 1}), ctx)
    assert tuned.listing_rate() == 50.0  # the shop file's override of fullinfo, not of the list
