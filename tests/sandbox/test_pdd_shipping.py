"""pdd.logistics.online.send and pdd.order.upload.extra.logistics rules (reference/storefronts.md §2.5–2.6)."""

from __future__ import annotations

import json
from typing import Any

from syncd.adapters.sandbox.pdd_seed import classify
from syncd.adapters.sandbox.pdd_sim import PddSimulator
from tests.adapters.pdd import simclient
from tests.adapters.pdd.simclient import MakePdd, PddSignedClient
from tests.sandbox.helpers import FakeClock

make_pdd = simclient.make_pdd
pdd = simclient.pdd  # the shared fixtures

SEND, EXTRA = "pdd.logistics.online.send", "pdd.order.upload.extra.logistics"
Pdd = tuple[PddSimulator, PddSignedClient]


def _first(sim: PddSimulator, case: str) -> dict[str, Any]:
    return next(o for o in sim.book.orders.values() if classify(o) == case)


def _send(client: PddSignedClient, order_sn: str, tracking: str = "ZT7881234567890", logistics_id: int = 115,
          **extra: str) -> dict[str, Any]:
    return client.call(SEND, {"order_sn": order_sn, "logistics_id": str(logistics_id), "tracking_number": tracking,
                              **extra})


def _extra(client: PddSignedClient, order_sn: str, *tracks: tuple[int, str]) -> dict[str, Any]:
    return client.call(EXTRA, {"order_sn": order_sn, "extra_track_list": json.dumps(
        [{"shipping_id": i, "tracking_number": t} for i, t in tracks])})


def test_online_send_ships_a_ready_order_once_then_refuses_as_already_shipped(pdd: Pdd, clock: FakeClock) -> None:
    sim, client = pdd
    order = _first(sim, "normal")
    clock.advance(10)
    assert _send(client, order["order_sn"])["logistics_online_send_response"]["is_success"] is True
    info = client.ok("pdd.order.information.get", {"order_sn": order["order_sn"]})["order_info"]
    assert (info["order_status"], info["tracking_number"], info["logistics_id"]) == (2, "ZT7881234567890", 115)
    assert sim.book.updated[order["order_sn"]] == int(clock())
    assert info["receiver_name"] == "" and info["receiver_name_mask"]  # ciphertexts only while 待发货
    again = _send(client, order["order_sn"], tracking="YT1234567890")["error_response"]
    assert "已发货" in again["sub_msg"]
    assert sim.tracking_numbers(order["order_sn"]) == ["ZT7881234567890"]
    state = sim.state()
    assert state["ship_calls"] == {order["order_sn"]: 1}
    assert [(s["tracking_no"], s["kind"], s["effective"]) for s in state["shipments"][order["order_sn"]]] == [
        ("ZT7881234567890", "main", True)]


def test_online_send_refuses_orders_not_ready_to_ship(pdd: Pdd) -> None:
    sim, client = pdd
    for i, case in enumerate(("paid_pending", "cancelled", "unpaid", "refund_requested")):
        answer = _send(client, _first(sim, case)["order_sn"], tracking=f"ZT78812345678{i}")
        assert "error_response" in answer, case
        assert answer["error_response"]["error_code"] == 52101
    assert sim.state()["ship_calls"] == {}


def test_online_send_refuses_unknown_or_unavailable_carriers_and_bad_numbers(pdd: Pdd) -> None:
    sim, client = pdd
    sn = _first(sim, "normal")["order_sn"]
    assert _send(client, sn, logistics_id=777)["error_response"]["sub_msg"] == "快递公司不存在或不可用"
    assert _send(client, sn, logistics_id=3)["error_response"]["sub_msg"] == "快递公司不存在或不可用"  # available 0
    assert _send(client, sn, tracking="zt-12")["error_response"]["sub_msg"] == "运单号格式错误"
    assert _send(client, sn, tracking="SF1234567890")["error_response"]["sub_msg"] == "运单号与快递公司不匹配"
    assert _send(client, sn, logistics_id="x")["error_response"]["error_code"] == 10000  # type: ignore[arg-type]
    assert sim.state()["ship_calls"] == {}


def test_a_tracking_number_of_another_order_is_refused(pdd: Pdd) -> None:
    sim, client = pdd
    first, second = [o["order_sn"] for o in sim.book.orders.values() if classify(o) == "normal"][:2]
    assert "error_response" not in _send(client, first)
    assert _send(client, second)["error_response"]["sub_msg"] == "运单号已被其他订单使用"


def test_extra_parcels_need_the_main_shipment_first_then_are_recorded_once(pdd: Pdd) -> None:
    sim, client = pdd
    sn = _first(sim, "split")["order_sn"]
    assert _extra(client, sn, (44, "SF0002000200"))["error_response"]["sub_msg"] == "订单未发货，不能上传额外运单"
    assert "error_response" not in _send(client, sn, tracking="ZT0001000100")
    answer = _extra(client, sn, (44, "SF0002000200"), (85, "YT0003000300"))
    assert answer["upload_extra_logistics_response"]["success"] is True
    assert _extra(client, sn, (44, "SF0002000200"))["error_response"]["sub_msg"] == "运单号重复"
    assert _extra(client, sn, (115, "ZT0001000100"))["error_response"]["sub_msg"] == "运单号重复"
    assert sim.tracking_numbers(sn) == ["ZT0001000100", "SF0002000200", "YT0003000300"]
    info = client.ok("pdd.order.information.get", {"order_sn": sn})["order_info"]
    assert info["extra_delivery_list"] == [{"logistics_id": 44, "tracking_number": "SF0002000200"},
                                           {"logistics_id": 85, "tracking_number": "YT0003000300"}]
    assert sim.state()["ship_calls"] == {sn: 2}


def test_extra_track_list_must_be_a_json_list_of_carrier_and_number(pdd: Pdd) -> None:
    sim, client = pdd
    sn = _first(sim, "normal")["order_sn"]
    _send(client, sn)
    assert client.error(EXTRA, {"order_sn": sn, "extra_track_list": "not json"})["error_code"] == 10000
    assert client.error(EXTRA, {"order_sn": sn, "extra_track_list": '[{"shipping_id": "44"}]'})["error_code"] == 10000


def test_redelivery_type_2_changes_the_shipment_of_a_shipped_order_only(pdd: Pdd) -> None:
    sim, client = pdd
    shipped, waiting = [o["order_sn"] for o in sim.book.orders.values() if classify(o) == "normal"][:2]
    assert "error_response" in _send(client, waiting, redelivery_type="2")
    _send(client, shipped)
    assert "error_response" not in _send(client, shipped, tracking="YT5555555555", logistics_id=85,
                                         redelivery_type="2")
    assert sim.tracking_numbers(shipped) == ["YT5555555555"]


def test_a_lost_reply_still_ships(make_pdd: MakePdd) -> None:
    sim, client = make_pdd(lost_reply_rate=1.0)
    sn = _first(sim, "normal")["order_sn"]
    assert _send(client, sn)["error_response"]["error_code"] == 50000
    assert sim.book.orders[sn]["order_status"] == 2
    assert sim.tracking_numbers(sn) == ["ZT7881234567890"]


def test_order_status_get_answers_up_to_50_orders(pdd: Pdd) -> None:
    sim, client = pdd
    sns = list(sim.book.orders)[:3]
    got = client.ok("pdd.order.status.get", {"order_sns": ",".join([*sns, "unknown"])})["order_status_list"]
    assert [(g["orderSn"], g["order_status"]) for g in got] == [(sn, 1) for sn in sns] + [("unknown", 0)]
    assert client.error("pdd.order.status.get", {"order_sns": ",".join(["x"] * 51)})["error_code"] == 10000
