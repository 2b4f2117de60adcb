"""Uploading tracking: online.send, extra parcels, read-back before re-sending, already shipped, carriers."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.domain import Parcel, ParcelLine, ShipResult
from syncd.errors import RejectedError, TransientError
from tests.adapters.pdd.conftest import fail, fixture, form, ok, route, sample_order

ORDER = "251122-512345678901234"
LINE_A, LINE_B = "1176812345001", "1176812345002"
SEND, EXTRA, INFO = "pdd.logistics.online.send", "pdd.order.upload.extra.logistics", "pdd.order.information.get"
SEND_KEY, EXTRA_KEY, INFO_KEY = "logistics_online_send_response", "upload_extra_logistics_response", \
    "order_info_get_response"


def _parcel(carrier: str = "zhongtong", tracking: str = "ZT7881234567890", request_id: str = "p1",
            lines: tuple[tuple[str, int], ...] = ((LINE_A, 2), (LINE_B, 1)), attempted: bool = False) -> Parcel:
    return Parcel(carrier=carrier, tracking_no=tracking, request_id=request_id, attempted=attempted,
                  lines=[ParcelLine(platform_line_id=line, quantity=qty) for line, qty in lines])


def _info(status: int = 2, tracking: str = "ZT7881234567890", extra: tuple[str, ...] = ()) -> httpx.Response:
    """order.information.get of the order: shipped with ``tracking`` (status 1 and "" when not shipped)."""
    info = sample_order()
    info.update(order_status=status, tracking_number=tracking, logistics_id=115 if tracking else 0,
                extra_delivery_list=[{"logistics_id": 44, "tracking_number": t} for t in extra])
    return ok(INFO_KEY, {"order_info": info})


@pytest.fixture
def carriers(api: respx.MockRouter) -> respx.Route:
    return route(api, "pdd.logistics.companies.get").mock(
        return_value=httpx.Response(200, json=fixture("logistics_companies.json")))


def test_ship_given_a_whole_order_sends_it_with_the_carrier_id_without_reading_first(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SEND).mock(return_value=ok(SEND_KEY, {"is_success": True}))

    result = adapter.ship(ORDER, [_parcel()], whole_order=True)

    assert result == ShipResult(already_shipped=False)
    sent = form(send.calls.last.request)
    assert (sent["order_sn"], sent["logistics_id"], sent["tracking_number"]) == (ORDER, "115", "ZT7881234567890")
    assert "redelivery_type" not in sent


def test_ship_given_two_parcels_sends_the_first_then_the_second_as_an_extra_parcel_without_reading(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SEND).mock(return_value=ok(SEND_KEY, {"is_success": True}))
    extra = route(api, EXTRA).mock(return_value=ok(EXTRA_KEY, {"success": True}))
    parcels = [_parcel("zhongtong", "ZT0001000100", "p1", ((LINE_A, 2),)),
               _parcel("shunfeng", "SF0002000200", "p2", ((LINE_B, 1),))]

    result = adapter.ship(ORDER, parcels, whole_order=False)

    assert result == ShipResult(already_shipped=False)  # no pdd.order.information.get (assert_all_mocked)
    assert form(send.calls.last.request)["tracking_number"] == "ZT0001000100"
    sent = form(extra.calls.last.request)
    assert sent["order_sn"] == ORDER
    assert json.loads(sent["extra_track_list"]) == [{"shipping_id": 44, "tracking_number": "SF0002000200"}]


def test_ship_given_a_split_order_already_shipped_by_the_other_parcel_uploads_ours_as_extra(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    # shipped by another process (or before a restart): the first shipment is refused, the read-back shows why
    route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "订单已发货，请勿重复发货"))
    info = route(api, INFO).mock(return_value=_info(tracking="YT9999999999"))
    extra = route(api, EXTRA).mock(return_value=ok(EXTRA_KEY, {"success": True}))

    result = adapter.ship(ORDER, [_parcel(lines=((LINE_B, 1),))], whole_order=False)

    assert result == ShipResult(already_shipped=False)
    assert json.loads(form(extra.calls.last.request)["extra_track_list"]) == [
        {"shipping_id": 115, "tracking_number": "ZT7881234567890"}]
    assert info.call_count == 1


def test_ship_given_a_later_parcel_of_an_order_this_process_shipped_sends_it_as_extra_at_once(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SEND).mock(return_value=ok(SEND_KEY, {"is_success": True}))
    extra = route(api, EXTRA).mock(return_value=ok(EXTRA_KEY, {"success": True}))
    adapter.ship(ORDER, [_parcel("zhongtong", "ZT0001000100", "p1", ((LINE_A, 2),))], whole_order=False)

    result = adapter.ship(ORDER, [_parcel("shunfeng", "SF0002000200", "p2", ((LINE_B, 1),))], whole_order=False)

    assert result == ShipResult(already_shipped=False)  # neither read nor refused first
    assert send.call_count == 1 and extra.call_count == 1


def test_ship_given_attempted_and_our_number_on_the_order_reads_back_and_sends_nothing(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    info = route(api, INFO).mock(return_value=_info(tracking="zt7881234567890"))

    result = adapter.ship(ORDER, [_parcel(attempted=True)], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert form(info.calls.last.request)["order_sn"] == ORDER  # no send route: a send would fail as unmocked


def test_ship_given_attempted_but_nothing_on_the_order_sends_once(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    info = route(api, INFO).mock(return_value=_info(status=1, tracking=""))
    send = route(api, SEND).mock(return_value=ok(SEND_KEY, {"is_success": True}))

    assert adapter.ship(ORDER, [_parcel(attempted=True)], whole_order=True) == ShipResult(already_shipped=False)
    assert (info.call_count, send.call_count) == (1, 1)


def test_ship_given_attempted_whole_order_shipped_with_another_number_raises_rejected_without_sending(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, INFO).mock(return_value=_info(tracking="YT5555555555"))

    with pytest.raises(RejectedError, match="already shipped with a different tracking number") as caught:
        adapter.ship(ORDER, [_parcel(attempted=True)], whole_order=True)
    assert "YT5555555555" in str(caught.value) and "ZT7881234567890" in str(caught.value)


def test_ship_given_an_attempted_extra_parcel_already_there_sends_only_the_missing_one(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, INFO).mock(return_value=_info(tracking="ZT0001000100", extra=("SF0002000200",)))
    extra = route(api, EXTRA).mock(return_value=ok(EXTRA_KEY, {"success": True}))
    parcels = [_parcel("zhongtong", "ZT0001000100", "p1", attempted=True),
               _parcel("shunfeng", "SF0002000200", "p2", attempted=True),
               _parcel("yuantong", "YT0003000300", "p3")]

    assert adapter.ship(ORDER, parcels, whole_order=False) == ShipResult(already_shipped=False)
    assert json.loads(form(extra.calls.last.request)["extra_track_list"]) == [
        {"shipping_id": 85, "tracking_number": "YT0003000300"}]


@pytest.mark.parametrize("message", ["订单已发货，请勿重复发货", "某个没见过的拒绝"])
def test_ship_given_a_refusal_and_our_number_already_on_the_order_reports_already_shipped(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route, message: str) -> None:
    route(api, SEND).mock(return_value=fail(52101, "业务处理失败", message))
    route(api, INFO).mock(return_value=_info(tracking="ZT7881234567890"))

    assert adapter.ship(ORDER, [_parcel()], whole_order=True) == ShipResult(already_shipped=True)


def test_ship_given_already_shipped_with_another_number_raises_rejected_with_the_platform_message(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "订单已发货，请勿重复发货"))
    route(api, INFO).mock(return_value=_info(tracking="YT5555555555"))

    with pytest.raises(RejectedError, match="already shipped with a different tracking number") as caught:
        adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert caught.value.platform_message == "业务处理失败: 订单已发货，请勿重复发货"


def test_ship_given_a_refusal_on_an_unshipped_order_raises_it(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    send = route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "运单号格式错误"))
    route(api, INFO).mock(return_value=_info(status=1, tracking=""))

    with pytest.raises(RejectedError) as caught:
        adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert caught.value.platform_message == "业务处理失败: 运单号格式错误"
    assert send.call_count == 1


def test_ship_given_a_lost_answer_then_already_shipped_counts_as_done_not_twice(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    # The first send was applied but its answer lost (transient): the retry is refused, the read-back settles it.
    send = route(api, SEND).mock(side_effect=[fail(50000, "系统繁忙"), fail(52101, "订单已发货")])
    route(api, INFO).mock(return_value=_info(tracking="ZT7881234567890"))

    assert adapter.ship(ORDER, [_parcel()], whole_order=True) == ShipResult(already_shipped=True)
    assert send.call_count == 2


def test_ship_given_an_extra_parcel_refused_but_present_counts_as_done(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "订单已发货，请勿重复发货"))
    info = route(api, INFO).mock(side_effect=[_info(tracking="YT1111111111"),
                                              _info(tracking="YT1111111111", extra=("ZT7881234567890",))])
    route(api, EXTRA).mock(return_value=fail(52101, "运单号重复"))

    assert adapter.ship(ORDER, [_parcel()], whole_order=False) == ShipResult(already_shipped=True)
    assert info.call_count == 2


def test_ship_given_an_extra_parcel_refused_and_missing_raises_it(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "订单已发货，请勿重复发货"))
    route(api, INFO).mock(return_value=_info(tracking="YT1111111111"))
    route(api, EXTRA).mock(return_value=fail(52101, "运单号格式错误"))

    with pytest.raises(RejectedError, match="运单号格式错误"):
        adapter.ship(ORDER, [_parcel()], whole_order=False)


@pytest.mark.parametrize(("api_type", "key", "flag"), [(SEND, SEND_KEY, "is_success"), (EXTRA, EXTRA_KEY, "success")])
def test_ship_given_the_platform_answers_false_raises_rejected(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route, api_type: str, key: str,
        flag: str) -> None:
    route(api, api_type).mock(return_value=ok(key, {flag: False}))
    if api_type == EXTRA:  # a split order already shipped by its other parcel
        route(api, SEND).mock(return_value=fail(52101, "业务处理失败", "订单已发货，请勿重复发货"))
        route(api, INFO).mock(return_value=_info(tracking="YT1111111111"))

    with pytest.raises(RejectedError, match=f"{flag}=false"):
        adapter.ship(ORDER, [_parcel()], whole_order=api_type == SEND)


def test_ship_given_a_transient_failure_every_time_raises_transient(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route(api, SEND).mock(return_value=httpx.Response(503))

    with pytest.raises(TransientError):
        adapter.ship(ORDER, [_parcel()], whole_order=True)


@pytest.mark.parametrize("carrier", ["fengwang", "jtexpress"])  # unknown to PDD / marked available: 0
def test_ship_given_a_carrier_not_in_the_platform_list_raises_rejected_before_shipping(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route, carrier: str) -> None:
    with pytest.raises(RejectedError, match=f"carrier '{carrier}' is not in Pinduoduo's carrier list"):
        adapter.ship(ORDER, [_parcel(carrier=carrier)], whole_order=True)


def test_ship_given_several_shipments_fetches_the_carrier_list_once_until_it_ages(
        adapter: PddAdapter, api: respx.MockRouter, carriers: respx.Route, clock_at: time_machine.Traveller) -> None:
    route(api, SEND).mock(return_value=ok(SEND_KEY, {"is_success": True}))

    for carrier in ("zhongtong", "shunfeng", "yunda"):
        adapter.ship(ORDER, [_parcel(carrier=carrier)], whole_order=True)
    assert carriers.call_count == 1
    clock_at.shift(timedelta(hours=24))
    adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert carriers.call_count == 2


def test_ship_given_no_parcels_is_a_programming_error(adapter: PddAdapter) -> None:
    with pytest.raises(ValueError, match="no parcels"):
        adapter.ship(ORDER, [], whole_order=True)
