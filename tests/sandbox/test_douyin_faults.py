"""Fault injection is reproducible by seed; the QPS limit answers 60000 (reference §1.7)."""

from __future__ import annotations

LIST = {"update_time_start": 1_799_900_000, "page": 0, "size": 1}


def _codes(client, n=80):
    return [client.call("order.searchList", LIST)["code"] for _ in range(n)]


def _faulty(make_sim, seed):
    sim, client = make_sim(seed=seed, fault_rate=0.3)
    sim.fault_rate = 0.0
    client.login()
    sim.fault_rate = 0.3
    return client


def test_fault_injection_is_deterministic_by_seed(make_sim):
    a = _codes(_faulty(make_sim, 11))
    b = _codes(_faulty(make_sim, 11))
    c = _codes(_faulty(make_sim, 12))
    assert a == b
    assert a != c
    assert {20000, 60000, 10000} == set(a)
    assert 0.5 < a.count(10000) / len(a) < 0.9


def test_faults_answer_transient_codes_with_their_sub_codes(make_sim):
    client = _faulty(make_sim, 11)
    answers = [client.call("order.searchList", LIST) for _ in range(40)]
    subs = {(x["code"], x["sub_code"]) for x in answers if x["code"] != 10000}
    assert subs == {(20000, "isp.service-error:20004"), (60000, "isv.traffic-limited")}
    state = client.admin_state()
    assert state["errors"]["20000"] + state["errors"]["60000"] == sum(1 for x in answers if x["code"] != 10000)


def test_faults_strike_before_any_effect(make_sim):
    sim, client = make_sim(fault_rate=1.0)
    assert client.call("token.create", {"code": "", "grant_type": "authorization_self", "shop_id": "880001"})[
        "code"] in (20000, 60000)
    assert sim.tokens.snapshot(0) == []


def test_no_faults_when_rate_is_zero(douyin):
    _, client = douyin
    assert set(_codes(client, 30)) == {10000}


def test_qps_limit_answers_60000_until_the_bucket_refills(make_sim, clock):
    _, client = make_sim(qps=2)
    client.login()  # one token used
    assert client.call("order.searchList", LIST)["code"] == 10000
    limited = client.call("order.searchList", LIST)
    assert (limited["code"], limited["sub_code"]) == (60000, "isv.traffic-limited")
    clock.advance(1)
    assert client.call("order.searchList", LIST)["code"] == 10000
    assert client.call("order.searchList", LIST)["code"] == 10000
    assert client.call("order.searchList", LIST)["code"] == 60000


def test_lost_reply_after_a_ship_still_ships(make_sim):
    sim, client = make_sim(lost_reply_rate=1.0)
    client.login()
    order = next(o for o in sim.book.orders.values() if o["order_status"] == 2
                 and all(ln["after_sale_info"]["after_sale_status"] == 0 for ln in o["sku_order_list"]))
    answer = client.call("order.logisticsAdd", {"order_id": order["order_id"], "company_code": "yunda",
                                                "logistics_code": "4312345678901"})
    assert answer["code"] == 20001
    assert sim.book.orders[order["order_id"]]["order_status"] == 3
