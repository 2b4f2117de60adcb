"""list_refunds through pdd.refund.list.increment.get: required filters, windows, paging, rejects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import respx
import time_machine

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.domain import RefundState
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import NOW, fixture, form, make_config, ok, route

REFUNDS = "pdd.refund.list.increment.get"
KEY = "refund_increment_get_response"
START, END = NOW - timedelta(minutes=30), NOW


def _entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = fixture("refund_increment.json")[KEY]["refund_list"]
    return entries


def test_list_refunds_sends_the_required_filters_and_maps_each_entry(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, REFUNDS).mock(return_value=httpx.Response(200, json=fixture("refund_increment.json")))

    window = adapter.list_refunds(START, END)

    sent = form(r.calls.last.request)
    assert (sent["after_sales_status"], sent["after_sales_type"]) == ("1", "1")
    assert sent["start_updated_at"] == str(int(START.timestamp()))
    assert sent["end_updated_at"] == str(int(END.timestamp()))
    assert (sent["page"], sent["page_size"]) == ("1", "100")
    assert sorted((e.platform_order_id, e.state) for e in window.events) == [
        ("251121-500000000000001", RefundState.REFUNDED), ("251121-500000000000002", RefundState.NONE),
        ("251122-587654321098765", RefundState.REQUESTED)]
    assert window.rejects == []


def test_list_refunds_given_another_all_value_in_the_shop_file_sends_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    r = route(api, REFUNDS).mock(return_value=ok(KEY, {"total_count": 0, "refund_list": []}))

    PddAdapter(make_config(refund_after_sales_status=0), ctx).list_refunds(START, END)

    assert form(r.calls.last.request)["after_sales_status"] == "0"


def test_list_refunds_given_an_hour_asks_in_two_windows(adapter: PddAdapter, api: respx.MockRouter) -> None:
    r = route(api, REFUNDS).mock(return_value=ok(KEY, {"total_count": 0, "refund_list": []}))

    adapter.list_refunds(END - timedelta(hours=1), END)

    spans = [(int(form(c.request)["start_updated_at"]), int(form(c.request)["end_updated_at"])) for c in r.calls]
    assert len(spans) == 2 and all(b - a <= 1800 for a, b in spans)


def test_list_refunds_given_two_pages_reads_them_backwards_and_keeps_each_after_sale_once(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    base = _entries()[0]
    entries = [{**base, "id": 7000 + i, "order_sn": f"251122-5{i:014d}"} for i in range(150)]
    pages: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(form(request)["page"])
        pages.append(str(page))
        return ok(KEY, {"total_count": 150, "refund_list": entries[(page - 1) * 100:page * 100]})

    route(api, REFUNDS).mock(side_effect=answer)

    window = adapter.list_refunds(START, END)

    assert pages == ["1", "2", "1"]
    assert len(window.events) == 150


def test_list_refunds_given_the_same_after_sale_twice_keeps_the_newest(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    first = _entries()[0]
    later = {**first, "after_sales_status": 10, "updated_time": "2025-11-22 16:29:00"}
    route(api, REFUNDS).mock(return_value=ok(KEY, {"total_count": 2, "refund_list": [later, first]}))

    window = adapter.list_refunds(START, END)

    assert [e.state for e in window.events] == [RefundState.REFUNDED]


def test_list_refunds_given_unreadable_entries_rejects_them_and_keeps_the_rest(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    good = _entries()[0]
    no_status = {**_entries()[1], "after_sales_status": None}
    route(api, REFUNDS).mock(return_value=ok(KEY, {"total_count": 3, "refund_list": [good, no_status, 42]}))

    window = adapter.list_refunds(START, END)

    assert [e.platform_order_id for e in window.events] == [good["order_sn"]]
    assert {r.key for r in window.rejects} == {"7012345679", "page 1 item 2"}
    assert "after_sales_status is missing" in next(r.reason for r in window.rejects if r.key == "7012345679")
