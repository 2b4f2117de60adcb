"""Uploading tracking: taobao.logistics.offline.send, split parcels, B04, attempted parcels, carrier codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import respx
import time_machine

from syncd.adapters.taobao.adapter import TaobaoAdapter, is_already_shipped
from syncd.domain import Parcel, ParcelLine, ShipResult
from syncd.errors import RejectedError
from tests.adapters.taobao.conftest import COMPANIES, FULLINFO, SHIP, answer, fail, form, ok, route

TID = "2451234567890123456"
LINE_A, LINE_B = "2451234567890123457", "2451234567890123458"
SHIPPED = ok(SHIP, {"shipping": {"is_success": True}})


def _parcel(carrier: str = "zhongtong", tracking: str = "78812345678901", request_id: str = "p1",
            lines: tuple[str, ...] = (LINE_A, LINE_B), attempted: bool = False) -> Parcel:
    return Parcel(carrier=carrier, tracking_no=tracking, request_id=request_id, attempted=attempted,
                  lines=[ParcelLine(platform_line_id=line, quantity=1) for line in lines])


def _sent(route_: respx.Route) -> list[dict[str, str]]:
    keys = ("tid", "out_sid", "company_code", "is_split", "sub_tid")
    return [{k: v for k, v in form(c.request).items() if k in keys} for c in route_.calls]


@pytest.fixture
def carriers(api: respx.MockRouter) -> respx.Route:
    return route(api, COMPANIES).mock(return_value=answer("logistics_companies_get.json"))


def test_ship_given_whole_order_in_one_parcel_sends_it_without_split(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=SHIPPED)

    result = adapter.ship(TID, [_parcel()], whole_order=True)

    assert result == ShipResult(already_shipped=False)
    assert _sent(send) == [{"tid": TID, "out_sid": "78812345678901", "company_code": "ZTO"}]
    assert form(carriers.calls.last.request)["fields"] == "id,code,name,reg_mail_no"


def test_ship_given_split_parcels_sends_each_with_is_split_and_its_sub_orders(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=SHIPPED)
    parcels = [_parcel("zhongtong", "788001", "p1", (LINE_A,)), _parcel("shunfeng", "SF0002", "p2", (LINE_B,))]

    adapter.ship(TID, parcels, whole_order=True)

    assert _sent(send) == [
        {"tid": TID, "out_sid": "788001", "company_code": "ZTO", "is_split": "1", "sub_tid": LINE_A},
        {"tid": TID, "out_sid": "SF0002", "company_code": "SF", "is_split": "1", "sub_tid": LINE_B}]


def test_ship_given_part_of_the_order_in_one_parcel_lists_its_sub_orders(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=SHIPPED)

    adapter.ship(TID, [_parcel(lines=(LINE_A, LINE_B, LINE_A))], whole_order=False)

    assert _sent(send) == [{"tid": TID, "out_sid": "78812345678901", "company_code": "ZTO", "is_split": "1",
                            "sub_tid": f"{LINE_A},{LINE_B}"}]


def test_ship_given_b04_with_our_tracking_number_reports_already_shipped(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=answer("error_already_shipped.json"))
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get_shipped.json"))

    result = adapter.ship(TID, [_parcel("shunfeng", "sf1409876543210")], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert send.call_count == 1
    assert form(detail.calls.last.request)["tid"] == TID


def test_ship_given_b04_with_another_tracking_number_raises_rejected(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SHIP).mock(return_value=answer("error_already_shipped.json"))
    route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get_shipped.json"))

    with pytest.raises(RejectedError, match="already shipped or closed") as caught:
        adapter.ship(TID, [_parcel("zhongtong", "78800000000001")], whole_order=True)

    assert caught.value.code == "isv.logistics-offline-service-error:B04"
    assert caught.value.platform_message == "物流订单状态不对，已发货或已关闭，不能再次发货"
    assert "SF1409876543210" in str(caught.value) and "78800000000001" in str(caught.value)


def test_ship_given_attempted_parcel_already_on_the_trade_reads_back_and_never_sends(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    # No offline.send route: with assert_all_mocked a send would fail the test.
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get_shipped.json"))

    result = adapter.ship(TID, [_parcel("shunfeng", "SF1409876543210", attempted=True)], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert detail.call_count == 1
    assert [form(c.request)["method"] for c in api.calls] == [COMPANIES, FULLINFO]


def test_ship_given_attempted_parcel_missing_from_the_trade_reads_back_then_sends_once(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    detail = route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get.json"))
    send = route(api, SHIP).mock(return_value=SHIPPED)

    result = adapter.ship(TID, [_parcel(attempted=True)], whole_order=True)

    assert result == ShipResult(already_shipped=False)
    assert (detail.call_count, send.call_count) == (1, 1)


def test_ship_given_lost_reply_then_b04_on_retry_accepts_our_number_without_a_third_send(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(side_effect=[answer("error_remote_timeout.json"),
                                              answer("error_already_shipped.json")])
    route(api, FULLINFO).mock(return_value=answer("trade_fullinfo_get_shipped.json"))

    result = adapter.ship(TID, [_parcel("shunfeng", "SF1409876543210")], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert send.call_count == 2


def test_ship_given_other_refusal_raises_it_without_reading_the_trade(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=fail(15, "Remote service error",
                                                   "isv.logistics-offline-service-error:B60", "运单号不符合规则"))

    with pytest.raises(RejectedError) as caught:
        adapter.ship(TID, [_parcel()], whole_order=True)

    assert caught.value.code == "isv.logistics-offline-service-error:B60"
    assert send.call_count == 1


def test_ship_given_is_success_false_raises_rejected(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SHIP).mock(return_value=ok(SHIP, {"shipping": {"is_success": False}}))

    with pytest.raises(RejectedError, match="is_success false"):
        adapter.ship(TID, [_parcel()], whole_order=True)


def test_ship_given_carrier_missing_from_the_platform_list_raises_before_sending(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    with pytest.raises(RejectedError, match="carrier 'jd' is not in Taobao's carrier list"):
        adapter.ship(TID, [_parcel(), _parcel(carrier="jd", tracking="JD0001", lines=(LINE_B,))], whole_order=False)


def test_ship_given_one_sub_order_in_two_parcels_raises_before_sending(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    parcels = [_parcel(tracking="788001", lines=(LINE_A,)), _parcel(tracking="788002", lines=(LINE_A, LINE_B))]

    with pytest.raises(RejectedError, match=f"sub-order {LINE_A} is in two parcels") as caught:
        adapter.ship(TID, parcels, whole_order=False)

    assert caught.value.code == "sub-order-split"


def test_ship_given_several_shipments_fetches_the_carrier_list_once(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SHIP).mock(return_value=SHIPPED)

    for carrier in ("zhongtong", "shunfeng", "youzhengguonei"):
        adapter.ship(TID, [_parcel(carrier=carrier)], whole_order=True)

    assert carriers.call_count == 1


def test_ship_given_the_carrier_cache_has_aged_fetches_the_list_again(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route,
        clock_at: time_machine.Traveller) -> None:
    route(api, SHIP).mock(return_value=SHIPPED)

    adapter.ship(TID, [_parcel()], whole_order=True)
    clock_at.shift(timedelta(hours=23))
    adapter.ship(TID, [_parcel()], whole_order=True)
    assert carriers.call_count == 1
    clock_at.shift(timedelta(hours=1))
    adapter.ship(TID, [_parcel()], whole_order=True)
    assert carriers.call_count == 2


def test_is_already_shipped_knows_b04_of_every_logistics_route() -> None:
    for kind in ("offline", "online", "dummy"):
        assert is_already_shipped(f"isv.logistics-{kind}-service-error:B04")
    assert not is_already_shipped("isv.logistics-offline-service-error:B040")
    assert not is_already_shipped("isv.logistics-offline-service-error:B60")
    assert not is_already_shipped(None)


def test_ship_given_b98_for_a_cash_on_delivery_trade_raises_rejected_saying_what_to_do_without_retrying(
        adapter: TaobaoAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SHIP).mock(return_value=fail(15, "Remote service error",
                                                   "isv.logistics-offline-service-error:B98",
                                                   "货到付款订单不能使用自己联系物流发货"))

    with pytest.raises(RejectedError) as caught:
        adapter.ship(TID, [_parcel()], whole_order=True)

    assert caught.value.code == "isv.logistics-offline-service-error:B98"
    assert "货到付款订单不能使用自己联系物流发货" in str(caught.value)
    assert "cash-on-delivery" in str(caught.value) and "syncd orders release" in str(caught.value)
    assert send.call_count == 1
