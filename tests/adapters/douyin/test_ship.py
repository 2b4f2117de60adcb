"""Uploading tracking: logisticsAdd, logisticsAddMultiPack, already-shipped, carrier codes."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.douyin.adapter import DouyinAdapter, multipack_request_id
from syncd.domain import Parcel, ParcelLine, ShipResult
from syncd.errors import RejectedError
from tests.adapters.douyin.conftest import fail, fixture, ok

ORDER = "6921234567890123456"
LINE_A, LINE_B = "6921234567890123457", "6921234567890123458"


def _parcel(carrier: str = "zhongtong", tracking: str = "78812345678901", request_id: str = "so-1-p1",
            lines: tuple[tuple[str, int], ...] = ((LINE_A, 2), (LINE_B, 1))) -> Parcel:
    return Parcel(carrier=carrier, tracking_no=tracking, request_id=request_id,
                  lines=[ParcelLine(platform_line_id=line, quantity=qty) for line, qty in lines])


@pytest.fixture
def carriers(api: respx.MockRouter) -> respx.Route:
    return api.post("/order/logisticsCompanyList").mock(
        return_value=httpx.Response(200, json=fixture("logistics_company_list.json")))


def test_ship_given_whole_order_in_one_parcel_calls_logistics_add(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route = api.post("/order/logisticsAdd").mock(return_value=ok(None))

    result = adapter.ship(ORDER, [_parcel()], whole_order=True)

    assert result == ShipResult(already_shipped=False)
    assert json.loads(route.calls.last.request.content) == {
        "order_id": ORDER, "company_code": "zhongtong", "logistics_code": "78812345678901"}
    assert json.loads(carriers.calls.last.request.content) == {}


def test_ship_given_several_parcels_calls_multipack_with_each_parcels_lines(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route = api.post("/order/logisticsAddMultiPack").mock(return_value=ok({"pack_list": []}))
    parcels = [_parcel("zhongtong", "788001", "so-1-p1", ((LINE_A, 2),)),
               _parcel("shunfeng", "SF0002", "so-2-p1", ((LINE_B, 1),))]

    adapter.ship(ORDER, parcels, whole_order=True)

    body = json.loads(route.calls.last.request.content)
    assert body == {
        "order_id": ORDER,
        "request_id": multipack_request_id(ORDER, parcels),
        "pack_list": [
            {"shipped_order_info": [{"shipped_order_id": LINE_A, "shipped_num": 2}],
             "logistics_code": "788001", "company_code": "zhongtong"},
            {"shipped_order_info": [{"shipped_order_id": LINE_B, "shipped_num": 1}],
             "logistics_code": "SF0002", "company_code": "shunfeng"},
        ],
    }


def test_ship_given_part_of_the_order_in_one_parcel_calls_multipack(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route = api.post("/order/logisticsAddMultiPack").mock(return_value=ok({"pack_list": []}))

    adapter.ship(ORDER, [_parcel(lines=((LINE_A, 1),))], whole_order=False)

    assert route.call_count == 1


def test_ship_given_the_same_parcels_again_sends_the_same_request_id(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route = api.post("/order/logisticsAddMultiPack").mock(return_value=ok({"pack_list": []}))
    one, two = _parcel(request_id="so-1-p1"), _parcel(carrier="shunfeng", tracking="SF1", request_id="so-2-p1")

    adapter.ship(ORDER, [one, two], whole_order=False)
    adapter.ship(ORDER, [two, one], whole_order=False)
    adapter.ship(ORDER, [one, _parcel(request_id="so-3-p1")], whole_order=False)

    ids = [json.loads(c.request.content)["request_id"] for c in route.calls]
    assert ids[0] == ids[1] != ids[2]
    assert all(0 < len(i) <= 64 for i in ids)


def test_multipack_request_id_given_another_order_differs() -> None:
    parcels = [_parcel()]
    assert multipack_request_id("1", parcels) != multipack_request_id("2", parcels)


def test_ship_given_60110_with_the_same_tracking_reports_already_shipped(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/logisticsAdd").mock(
        return_value=fail(50002, "isv.business-failed:60110", "订单已发货，不允许再次执行发货"))
    detail = api.post("/order/orderDetail").mock(
        return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))

    result = adapter.ship(ORDER, [_parcel("shunfeng", "sf1409876543210")], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert json.loads(detail.calls.last.request.content) == {"shop_order_id": ORDER}


def test_ship_given_60110_with_another_tracking_raises_rejected(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/logisticsAdd").mock(
        return_value=fail(50002, "isv.business-failed:60110", "订单已发货，不允许再次执行发货"))
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))

    with pytest.raises(RejectedError, match="already shipped with a different tracking number") as caught:
        adapter.ship(ORDER, [_parcel("zhongtong", "78800000000001")], whole_order=True)

    assert caught.value.code == "isv.business-failed:60110"
    assert caught.value.platform_message == "订单已发货，不允许再次执行发货"


def test_ship_given_60110_on_multipack_with_one_tracking_missing_raises_rejected(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/logisticsAddMultiPack").mock(return_value=fail(50002, "isv.business-failed:60110", "已发货"))
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))
    parcels = [_parcel("shunfeng", "SF1409876543210", "p1", ((LINE_A, 2),)),
               _parcel("shunfeng", "SF9999", "p2", ((LINE_B, 1),))]

    with pytest.raises(RejectedError, match="SF9999"):
        adapter.ship(ORDER, parcels, whole_order=False)


def test_ship_given_other_business_refusal_raises_it_without_reading_the_order(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/logisticsAdd").mock(return_value=fail(50002, "isv.business-failed:60017", "运单号不符合规则"))

    with pytest.raises(RejectedError) as caught:
        adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert caught.value.code == "isv.business-failed:60017"


def test_ship_given_carrier_missing_from_the_platform_list_raises_rejected_before_shipping(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    with pytest.raises(RejectedError, match="carrier 'fengwang' is not in Douyin Shop's carrier list"):
        adapter.ship(ORDER, [_parcel(carrier="fengwang")], whole_order=True)


def test_ship_given_several_shipments_fetches_the_carrier_list_once(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/logisticsAdd").mock(return_value=ok(None))

    for carrier in ("zhongtong", "shunfeng", "jtexpress"):
        adapter.ship(ORDER, [_parcel(carrier=carrier)], whole_order=True)

    assert carriers.call_count == 1


def test_ship_given_the_carrier_cache_has_aged_fetches_the_list_again(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route,
        clock_at: time_machine.Traveller) -> None:
    api.post("/order/logisticsAdd").mock(return_value=ok(None))

    adapter.ship(ORDER, [_parcel()], whole_order=True)
    clock_at.shift(timedelta(hours=23))
    adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert carriers.call_count == 1
    clock_at.shift(timedelta(hours=1))
    adapter.ship(ORDER, [_parcel()], whole_order=True)
    assert carriers.call_count == 2


# ---- a parcel sent before with an unknown outcome (Parcel.attempted) ------------------------------


def test_ship_given_attempted_parcel_already_on_the_order_returns_already_shipped_without_sending(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    # No logisticsAdd or carrier-list route: respx refuses any call that is not mocked.
    detail = api.post("/order/orderDetail").mock(
        return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))
    parcel = _parcel("shunfeng", "SF1409876543210")
    parcel.attempted = True

    result = adapter.ship(ORDER, [parcel], whole_order=True)

    assert result == ShipResult(already_shipped=True)
    assert json.loads(detail.calls.last.request.content) == {"shop_order_id": ORDER}


def test_ship_given_attempted_parcel_not_on_the_order_sends_it_once(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    unshipped = fixture("order_detail_shipped.json")
    unshipped["data"]["shop_order_detail"].update(order_status=2, logistics_info=[])
    detail = api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json=unshipped))
    add = api.post("/order/logisticsAdd").mock(return_value=ok(None))
    parcel = _parcel()
    parcel.attempted = True

    result = adapter.ship(ORDER, [parcel], whole_order=True)

    assert result == ShipResult(already_shipped=False)
    assert detail.call_count == 1
    assert add.call_count == 1
    assert json.loads(add.calls.last.request.content)["logistics_code"] == "78812345678901"


def test_ship_given_attempted_parcel_and_another_tracking_on_the_order_lets_the_platform_refuse(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    api.post("/order/orderDetail").mock(return_value=httpx.Response(200, json=fixture("order_detail_shipped.json")))
    api.post("/order/logisticsAdd").mock(
        return_value=fail(50002, "isv.business-failed:60110", "订单已发货，不允许再次执行发货"))
    parcel = _parcel("zhongtong", "78800000000001")
    parcel.attempted = True

    with pytest.raises(RejectedError, match="already shipped with a different tracking number"):
        adapter.ship(ORDER, [parcel], whole_order=True)


def test_ship_given_attempted_parcels_on_multipack_relies_on_the_request_id_and_reads_nothing(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    route = api.post("/order/logisticsAddMultiPack").mock(return_value=ok({"pack_list": []}))
    parcels = [_parcel("zhongtong", "788001", "so-1-p1", ((LINE_A, 2),)),
               _parcel("shunfeng", "SF0002", "so-2-p1", ((LINE_B, 1),))]
    for p in parcels:
        p.attempted = True

    assert adapter.ship(ORDER, parcels, whole_order=False) == ShipResult(already_shipped=False)
    assert json.loads(route.calls.last.request.content)["request_id"] == multipack_request_id(ORDER, parcels)


def test_ship_given_fresh_parcel_never_reads_the_order_first(
        adapter: DouyinAdapter, api: respx.MockRouter, carriers: respx.Route) -> None:
    add = api.post("/order/logisticsAdd").mock(return_value=ok(None))

    adapter.ship(ORDER, [_parcel()], whole_order=True)

    assert add.call_count == 1  # an orderDetail call would have failed: it is not mocked
