"""order.logisticsAdd / logisticsAddMultiPack rules and codes (reference/storefronts.md §1.5–1.6)."""

from __future__ import annotations

from syncd.adapters.sandbox.seed import classify


def _first(sim, case):
    return next(o for o in sim.book.orders.values() if classify(o) == case)


def _ship(client, order_id, tracking="75312345678901", company="zhongtong", **extra):
    return client.call("order.logisticsAdd", {"order_id": order_id, "company_code": company,
                                              "logistics_code": tracking, **extra})


def test_company_list_uses_pinyin_codes_and_chinese_names(douyin):
    _, client = douyin
    data = client.call("order.logisticsCompanyList", {})["data"]
    assert isinstance(data, list)
    by_code = {c["code"]: c for c in data}
    assert by_code["zhongtong"]["name"] == "中通快递"
    assert {"shunfeng", "yuantong", "yunda", "jtexpress", "ems"} <= set(by_code)
    assert all(isinstance(c["id"], int) for c in data)


def test_logistics_add_ships_a_status_2_order_once_then_60110(douyin, clock):
    sim, client = douyin
    order = _first(sim, "normal")
    clock.advance(10)
    assert _ship(client, order["order_id"])["code"] == 10000
    shipped = sim.book.orders[order["order_id"]]
    assert shipped["order_status"] == 3 and shipped["update_time"] == int(clock())
    assert shipped["logistics_info"][0]["tracking_no"] == "75312345678901"
    again = _ship(client, order["order_id"])
    assert (again["code"], again["sub_code"]) == (50002, "isv.business-failed:60110")
    state = client.admin_state()
    assert state["ship_calls"] == {order["order_id"]: 1}
    assert [(s["tracking_no"], s["company_code"], s["effective"]) for s in state["shipments"][order["order_id"]]] == [
        ("75312345678901", "zhongtong", True)]


def test_logistics_add_refuses_orders_not_ready_to_ship(douyin):
    sim, client = douyin
    expect = {"paid_pending": "60109", "cancelled": "60021", "unpaid": "60137", "refund_requested": "60040"}
    for i, (case, sub) in enumerate(expect.items()):
        answer = _ship(client, _first(sim, case)["order_id"], tracking=f"7531234567890{i}")
        assert (answer["code"], answer["sub_code"]) == (50002, f"isv.business-failed:{sub}"), case
    assert client.admin_state()["ship_calls"] == {}


def test_logistics_add_with_reject_refund_ships_despite_a_refund_request(douyin):
    sim, client = douyin
    order = _first(sim, "refund_requested")
    assert _ship(client, order["order_id"], is_reject_refund=True)["code"] == 10000
    assert all(ln["after_sale_info"]["after_sale_status"] != 6 for ln in sim.book.orders[order["order_id"]][
        "sku_order_list"])


def test_logistics_add_validates_carrier_and_tracking_number(douyin):
    sim, client = douyin
    oid = _first(sim, "normal")["order_id"]
    assert _ship(client, oid, company="huoxing")["sub_code"] == "isv.business-failed:60018"
    assert _ship(client, oid, tracking="7.73061E+14")["sub_code"] == "isv.business-failed:60017"
    assert _ship(client, oid, tracking="abc123456789")["sub_code"] == "isv.business-failed:60017"
    assert _ship(client, oid, tracking="1234567")["sub_code"] == "isv.business-failed:60017"
    assert _ship(client, oid, tracking="SF123456789012")["sub_code"] == "isv.business-failed:60128"
    missing = client.call("order.logisticsAdd", {"order_id": oid, "logistics_code": "75312345678901"})
    assert (missing["code"], missing["sub_code"]) == (40002, "isv.missing-parameter:60011")
    assert sim.book.orders[oid]["order_status"] == 2


def test_a_tracking_number_cannot_go_to_a_second_order(douyin):
    sim, client = douyin
    a, b = [o["order_id"] for o in sim.book.orders.values() if classify(o) == "normal"][:2]
    assert _ship(client, a, tracking="75300000000001")["code"] == 10000
    assert _ship(client, b, tracking="75300000000001")["sub_code"] == "isv.business-failed:70022"


def _pack(sub_ids, tracking, company="yunda"):
    return {"shipped_order_info": [{"shipped_order_id": s, "shipped_num": n} for s, n in sub_ids],
            "logistics_code": tracking, "company_code": company}


def test_multipack_same_request_id_returns_the_first_result_and_ships_once(douyin):
    sim, client = douyin
    order = _first(sim, "split")
    lines = order["sku_order_list"]
    params = {"order_id": order["order_id"], "request_id": "req-1",
              "pack_list": [_pack([(lines[0]["order_id"], lines[0]["item_num"])], "4300000000001")]}
    first = client.call("order.logisticsAddMultiPack", params)
    assert first["code"] == 10000
    assert sim.book.orders[order["order_id"]]["order_status"] == 101
    second = client.call("order.logisticsAddMultiPack", params)
    assert second["data"] == first["data"]
    state = client.admin_state()
    assert state["ship_calls"] == {order["order_id"]: 1}
    assert state["ship_replays"] == {order["order_id"]: 1}
    assert len(state["shipments"][order["order_id"]]) == 1


def test_multipack_ships_each_sub_order_once_and_completes_at_status_3(douyin):
    sim, client = douyin
    order = _first(sim, "split")
    oid = order["order_id"]
    l0, l1 = order["sku_order_list"]
    p1 = {"order_id": oid, "request_id": "r1",
          "pack_list": [_pack([(l0["order_id"], l0["item_num"])], "4300000000011")]}
    assert client.call("order.logisticsAddMultiPack", p1)["code"] == 10000
    again = {"order_id": oid, "request_id": "r2", "pack_list": [_pack([(l0["order_id"], 1)], "4300000000012")]}
    answer = client.call("order.logisticsAddMultiPack", again)
    assert (answer["code"], answer["sub_code"]) == (50002, "isv.business-failed:60110")
    assert _ship(client, oid)["sub_code"] == "isv.business-failed:60110"  # whole-order call on 101
    p3 = {"order_id": oid, "request_id": "r3",
          "pack_list": [_pack([(l1["order_id"], l1["item_num"])], "4300000000013")]}
    assert client.call("order.logisticsAddMultiPack", p3)["code"] == 10000
    assert sim.book.orders[oid]["order_status"] == 3
    assert len(sim.book.orders[oid]["logistics_info"]) == 2


def test_multipack_requires_request_id_and_refuses_foreign_sub_orders(douyin):
    sim, client = douyin
    order = _first(sim, "normal")
    line = order["sku_order_list"][0]
    no_id = {"order_id": order["order_id"], "pack_list": [_pack([(line["order_id"], 1)], "4300000000021")]}
    assert client.call("order.logisticsAddMultiPack", no_id)["code"] == 40002
    foreign = {"order_id": order["order_id"], "request_id": "x",
               "pack_list": [_pack([("6000000000000000000", 1)], "4300000000022")]}
    assert client.call("order.logisticsAddMultiPack", foreign)["code"] == 40004
    refund = _first(sim, "refund_requested")
    blocked = {"order_id": refund["order_id"], "request_id": "y",
               "pack_list": [_pack([(refund["sku_order_list"][0]["order_id"], 1)], "4300000000023")]}
    assert client.call("order.logisticsAddMultiPack", blocked)["sub_code"] == "isv.business-failed:60040"
