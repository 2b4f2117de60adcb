"""The refund stream: taobao.refunds.receive.get → RefundEvent."""

from __future__ import annotations

import copy
from datetime import timedelta

import respx

from syncd.adapters.taobao.adapter import REFUND_FIELDS, TaobaoAdapter
from syncd.domain import RefundState
from tests.adapters.taobao.conftest import NOW, REFUNDS, answer, fixture, form, ok, route


def test_list_refunds_reads_each_refund_of_the_window(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    listed = route(api, REFUNDS).mock(return_value=answer("refunds_receive_get.json"))

    window = adapter.list_refunds(NOW - timedelta(hours=1), NOW)

    sent = form(listed.calls.last.request)
    assert (sent["start_modified"], sent["end_modified"]) == ("2025-11-22 16:00:00", "2025-11-22 17:00:00")
    assert (sent["page_no"], sent["page_size"], sent["use_has_next"], sent["fields"]) == (
        "1", "100", "true", REFUND_FIELDS)
    assert [(e.platform_order_id, e.platform_line_id, e.state) for e in window.events] == [
        ("2451234567890123456", "2451234567890123458", RefundState.REQUESTED),
        ("2451234567890124000", "2451234567890124001", RefundState.REFUNDED),
        ("2451234567890126000", "2451234567890126001", RefundState.NONE),
    ]
    assert window.rejects == []


def test_list_refunds_given_a_refund_twice_keeps_the_newest(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    body = fixture("refunds_receive_get.json")["refunds_receive_get_response"]
    first = body["refunds"]["refund"][0]
    newer = copy.deepcopy(first)
    newer.update(status="SUCCESS", modified="2025-11-22 16:59:00")
    route(api, REFUNDS).mock(side_effect=[ok(REFUNDS, {"has_next": False, "refunds": {"refund": [newer]}}),
                                          ok(REFUNDS, {"has_next": False, "refunds": {"refund": [first]}})])

    window = adapter.list_refunds(NOW - timedelta(hours=30), NOW)

    assert [(e.platform_line_id, e.state) for e in window.events] == [("2451234567890123458", RefundState.REFUNDED)]


def test_list_refunds_given_unreadable_entries_rejects_them(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, REFUNDS).mock(return_value=ok(REFUNDS, {"has_next": False, "refunds": {"refund": [
        {"refund_id": 1, "status": "SUCCESS", "modified": "2025-11-22 16:00:00"}, "junk"]}}))

    window = adapter.list_refunds(NOW - timedelta(hours=1), NOW)

    assert window.events == []
    assert [r.key for r in window.rejects] == ["1", f"{REFUNDS} window 2025-11-22 16:00:00 page 1 item 1"]
