"""Status with parcels (partial shipments mapped to SKUs), cancel rules, traces, pushes (reference §A.5–A.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.client import CANCEL, LOGISTICS_INFOS, LOGISTICS_TRACE, ORDER_DETAIL
from syncd.domain import CancelOutcome, LogisticsState, SupplierOrderPhase, SupplierParcel
from syncd.errors import ProtocolError, RejectedError
from tests.adapters.alibaba.conftest import HOOK, MUG, NOW, ORDER, fixture, form, route

SENT = datetime(2025, 11, 22, 10, 30, tzinfo=UTC)  # 18:30 in Beijing


def _view(status: str = "waitsellersend", **base: Any) -> dict[str, Any]:
    body = fixture("buyer_view_partial.json")
    body["result"]["baseInfo"].update(status=status, **base)
    return body


def _detail(api: respx.MockRouter, body: dict[str, Any]) -> respx.Route:
    return route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json=body))


def _infos(api: respx.MockRouter, body: dict[str, Any]) -> respx.Route:
    return route(api, LOGISTICS_INFOS).mock(return_value=httpx.Response(200, json=body))


def test_status_given_an_unpaid_order_is_unpaid_without_a_logistics_call(adapter: AlibabaAdapter,
                                                                          api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerpay"))

    status = adapter.status("so-000042", ORDER)

    assert (status.phase, status.parcels, status.detail) == (SupplierOrderPhase.UNPAID, [],
                                                             "1688 status waitbuyerpay")


def test_status_given_paid_and_no_parcel_named_in_the_order_asks_for_no_logistics(adapter: AlibabaAdapter,
                                                                                  api: respx.MockRouter) -> None:
    body = _view()
    body["result"]["nativeLogistics"] = {"logisticsItems": []}
    _detail(api, body)

    status = adapter.status("so-000042", ORDER)

    assert (status.phase, status.parcels) == (SupplierOrderPhase.ACCEPTED, [])
    assert len(api.calls) == 1


def test_status_given_not_shipped_yet_is_accepted_with_no_parcels(adapter: AlibabaAdapter,
                                                                  api: respx.MockRouter) -> None:
    body = _view()
    del body["result"]["nativeLogistics"]  # the order does not say: ask the logistics API
    _detail(api, body)
    infos = _infos(api, {"success": False, "errorCode": "500_2", "errorMessage": "订单尚未发货，暂无物流详情"})

    status = adapter.status("so-000042", ORDER)

    assert (status.phase, status.parcels) == (SupplierOrderPhase.ACCEPTED, [])
    assert form(infos.calls.last.request) | {"_aop_signature": "", "access_token": ""} == {
        "orderId": ORDER, "webSite": "1688", "fields": "company.name,sender,receiver,sendgood",
        "_aop_signature": "", "access_token": ""}


def test_status_given_one_parcel_of_two_items_is_partial_with_that_items_sku(adapter: AlibabaAdapter,
                                                                            api: respx.MockRouter) -> None:
    _detail(api, _view())
    _infos(api, fixture("logistics_infos_partial.json"))

    status = adapter.status("so-000042", ORDER)

    assert status.phase is SupplierOrderPhase.PARTIAL
    assert status.parcels == [SupplierParcel(carrier="zhongtong", carrier_text="中通快递(ZTO)",
                                             tracking_no="75123456789012", line_refs=[MUG], sent_at=SENT)]


@pytest.mark.parametrize("drop", ["logisticsOrderGoods", "both"])
def test_status_falls_back_to_order_entry_ids_then_to_the_orders_sub_item_ids(
        adapter: AlibabaAdapter, api: respx.MockRouter, drop: str) -> None:
    _detail(api, _view())
    infos = fixture("logistics_infos_partial.json")
    del infos["result"][0]["logisticsOrderGoods"]
    if drop == "both":
        del infos["result"][0]["orderEntryIds"]
    _infos(api, infos)

    assert adapter.status("so-000042", ORDER).parcels[0].line_refs == [MUG]


def test_status_given_a_parcel_of_every_item_is_shipped_for_the_whole_order(adapter: AlibabaAdapter,
                                                                            api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerreceive"))
    infos = fixture("logistics_infos_partial.json")
    entry = infos["result"][0]
    entry["orderEntryIds"] = "3801000000001000123,3802000000001000123"
    entry["logisticsOrderGoods"].append({"tradeOrderItemId": 3802000000001000123, "quantity": 1})
    entry["gmtSystemSend"] = 1763807400000  # epoch milliseconds
    _infos(api, infos)

    status = adapter.status("so-000042", ORDER)

    assert status.phase is SupplierOrderPhase.SHIPPED
    assert status.parcels[0].line_refs is None and status.parcels[0].sent_at == SENT


def test_status_given_two_parcels_maps_each_to_its_items(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerreceive"))
    infos = fixture("logistics_infos_partial.json")
    second = {"logisticsBillNo": "YT0000000001", "logisticsCompanyName": "某某物流", "logisticsCompanyNo": "",
              "orderEntryIds": "3802000000001000123", "gmtSystemSend": "2025-11-22 18:30:00"}
    infos["result"].append(second)
    _infos(api, infos)

    parcels = adapter.status("so-000042", ORDER).parcels

    assert [(p.tracking_no, p.line_refs) for p in parcels] == [("75123456789012", [MUG]),
                                                                ("YT0000000001", [HOOK])]
    assert (parcels[1].carrier, parcels[1].carrier_text, parcels[1].sent_at) == (None, "某某物流", SENT)


def test_status_given_a_cancelled_order_is_cancelled_with_its_reason(adapter: AlibabaAdapter,
                                                                     api: respx.MockRouter) -> None:
    _detail(api, _view("cancel", closeReason="buyerCancel"))

    status = adapter.status("so-000042", ORDER)

    assert status.phase is SupplierOrderPhase.CANCELLED and "buyerCancel" in status.detail


@pytest.mark.parametrize(("body", "words"), [
    ({"success": "true", "result": {"baseInfo": {"id": 1, "status": "teleported"}}}, "unknown order status"),
    ({"success": "true", "result": {"baseInfo": {"id": 1}}}, "baseInfo.status"),
    ({"success": "true"}, "result is missing"),
    ({"success": "true", "result": {"baseInfo": {"id": 1, "status": "waitsellersend"}, "productItems": {}}},
     "productItems"),
])
def test_status_given_a_malformed_order_names_what_was_wrong(adapter: AlibabaAdapter, api: respx.MockRouter,
                                                             body: dict[str, Any], words: str) -> None:
    _detail(api, body)

    with pytest.raises(ProtocolError, match=words):
        adapter.status("so-000042", ORDER)


# ---- cancel ---------------------------------------------------------------------------------------------


def test_cancel_given_an_unpaid_order_cancels_it(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerpay"))
    r = route(api, CANCEL).mock(return_value=httpx.Response(200, json={"success": True}))

    result = adapter.cancel("so-000042", ORDER, "buyer cancelled")

    assert result.outcome is CancelOutcome.CANCELLED
    sent = form(r.calls.last.request)
    assert (sent["tradeID"], sent["cancelReason"], sent["webSite"]) == (ORDER, "buyerCancel", "1688")


def test_cancel_within_ten_seconds_asks_to_retry(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerpay"))
    route(api, CANCEL).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "CLOSE_ORDER_TOO_FAST", "errorMessage": "订单创建后10秒内不能关闭"}))

    assert adapter.cancel("so-000042", ORDER, "x").outcome is CancelOutcome.RETRY


def test_cancel_given_a_paid_order_is_too_late_without_a_cancel_call(adapter: AlibabaAdapter,
                                                                     api: respx.MockRouter) -> None:
    _detail(api, _view("waitsellersend"))

    result = adapter.cancel("so-000042", ORDER, "x")

    assert result.outcome is CancelOutcome.TOO_LATE and "waitsellersend" in result.detail


def test_cancel_refused_by_1688_is_too_late_with_its_words(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    _detail(api, _view("waitbuyerpay"))
    route(api, CANCEL).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "ORDER_STATUS_NOT_SUPPORT", "errorMessage": "订单状态不支持"}))

    result = adapter.cancel("so-000042", ORDER, "x")

    assert result.outcome is CancelOutcome.TOO_LATE and "ORDER_STATUS_NOT_SUPPORT" in result.detail


def test_cancel_given_an_already_cancelled_order_is_cancelled(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    _detail(api, _view("cancel"))

    assert adapter.cancel("so-000042", ORDER, "x").outcome is CancelOutcome.CANCELLED


# ---- trace ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["logisticsTrace", "result"])
def test_trace_reads_steps_oldest_first_in_utc_with_the_state_from_the_words(
        adapter: AlibabaAdapter, api: respx.MockRouter, key: str) -> None:
    body = fixture("trace.json")
    body[key] = body.pop("logisticsTrace")
    body[key][0]["logisticsSteps"].reverse()
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json=body))

    result = adapter.trace(ORDER, "75123456789012")

    assert result is not None
    assert [e.at for e in result.events] == [SENT, SENT.replace(hour=16), SENT.replace(day=23, hour=16)]
    assert [e.state for e in result.events] == [LogisticsState.PICKED_UP, LogisticsState.IN_TRANSIT,
                                                LogisticsState.DELIVERING]
    assert result.state is LogisticsState.DELIVERING and not result.final


def test_trace_given_404_is_no_trace_yet(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "404", "errorMessage": "无法找到相对应的物流单跟踪信息"}))

    result = adapter.trace(ORDER, "75123456789012")

    assert result is not None and (result.state, result.events) == (LogisticsState.NONE, [])


def test_trace_of_another_tracking_number_is_none(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json=fixture("trace.json")))

    assert adapter.trace(ORDER, "99999") is None


def test_trace_given_a_foreign_order_is_rejected(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "order.nopermission.buyer", "errorMessage": "无权限"}))

    with pytest.raises(RejectedError, match=r"order\.nopermission\.buyer"):
        adapter.trace(ORDER, "75123456789012")


def test_trace_given_a_bad_accept_time_names_the_step(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    body = fixture("trace.json")
    body["logisticsTrace"][0]["logisticsSteps"][1]["acceptTime"] = "yesterday"
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match=r"logisticsSteps\[1\].acceptTime"):
        adapter.trace(ORDER, "75123456789012")


def test_a_delivered_trace_is_final(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    body = fixture("trace.json")
    body["logisticsTrace"][0]["logisticsSteps"].append({"acceptTime": "2025-11-24 12:00:00",
                                                        "remark": "快件已签收，签收人：本人"})
    route(api, LOGISTICS_TRACE).mock(return_value=httpx.Response(200, json=body))

    result = adapter.trace(ORDER, "75123456789012")

    assert result is not None and result.state is LogisticsState.DELIVERED and result.final


def test_pushes_are_refused(adapter: AlibabaAdapter) -> None:
    with pytest.raises(RejectedError, match="1688 pushes are not supported; syncd polls"):
        adapter.parse_callback({}, b"{}", NOW)
