"""The Douyin simulator's StorefrontSim hooks (adapters/sandbox/control.py), driven over real HTTP."""

from __future__ import annotations

import pytest

from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.adapters.sandbox.control import StorefrontSim
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, receiver_of

SPREAD = 3000


def _empty(make_sim):
    sim, client = make_sim(orders=[], release_after=None)
    client.login()
    return sim, client


def _list(client, start, end, page=0, size=100):
    data = client.call("order.searchList", {"update_time_start": start, "update_time_end": end, "page": page,
                                            "size": size, "order_by": "update_time", "order_asc": True})
    assert data["code"] == 10000, data
    return data["data"]


def _ship(client, order_id, tracking="75312345678901"):
    return client.call("order.logisticsAdd", {"order_id": order_id, "company_code": "zhongtong",
                                              "logistics_code": tracking})


def test_simulator_is_a_storefront_sim_named_douyin(make_sim):
    sim, _ = make_sim(n=1)
    assert isinstance(sim, StorefrontSim)
    assert (sim.platform, sim.prefix) == ("douyin", "/douyin")


@pytest.mark.parametrize("root", ["http://127.0.0.1:8765", "http://127.0.0.1:8765/", "http://127.0.0.1:8765/douyin"])
def test_shop_config_is_a_valid_douyin_shop_with_the_sandbox_credentials(make_sim, root):
    sim, _ = make_sim(n=1)
    config = DouyinShopConfig.model_validate(sim.shop_config(root))
    assert config.base_url == "http://127.0.0.1:8765/douyin"
    assert (config.app_key, config.app_secret.get_secret_value(), config.shop_id) == (
        SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID)
    assert config.auth.grant == "self"


def test_seed_ready_adds_ready_orders_spread_evenly_in_update_order(make_sim, clock):
    sim, client = _empty(make_sim)
    now = clock()
    ids = sim.seed_ready(5, now=now, spread_seconds=SPREAD, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    assert len(set(ids)) == 5
    times = [sim.book.orders[i]["update_time"] for i in ids]
    assert times == [now - SPREAD, now - SPREAD + 735, now - SPREAD + 1470, now - SPREAD + 2205, now - 60]
    for oid in ids:
        order = sim.book.orders[oid]
        assert order["order_status"] == 2
        assert [(ln["code"], ln["item_num"]) for ln in order["sku_order_list"]] == [("SB-TEE-RED-M", 1),
                                                                                   ("SB-MUG-WHT", 1)]
        assert all(receiver_of(order).values())  # name, tel and address detail all decrypt
    listed = _list(client, int(now) - SPREAD, int(now))["shop_order_list"]
    assert [o["order_id"] for o in listed] == ids


def test_seed_ready_twice_never_reuses_an_id(make_sim, clock):
    sim, _ = _empty(make_sim)
    first = sim.seed_ready(50, now=clock(), spread_seconds=600)
    second = sim.seed_ready(50, now=clock(), spread_seconds=600)
    assert len(set(first) | set(second)) == 100
    assert len({ln for o in first + second for ln in sim.line_ids(o)}) == 100


def test_set_updated_moves_an_order_to_an_exact_second(make_sim, clock):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600)
    sim.set_updated(oid, clock() - 1000)
    t = int(clock()) - 1000
    assert [o["order_id"] for o in _list(client, t, t)["shop_order_list"]] == [oid]
    assert _list(client, t + 1, int(clock()))["total"] == 0


def test_touch_when_paging_moves_the_order_once_before_that_list_call(make_sim, clock):
    sim, client = _empty(make_sim)
    ids = sim.seed_ready(30, now=clock(), spread_seconds=SPREAD)
    start, end = int(clock()) - SPREAD, int(clock()) + 600
    sim.touch_when_paging(ids[0], 1)
    clock.advance(5)
    page0 = _list(client, start, end, page=0, size=10)["shop_order_list"]
    assert page0[0]["order_id"] == ids[0]  # not yet moved
    page1 = _list(client, start, end, page=1, size=10)["shop_order_list"]
    assert sim.book.orders[ids[0]]["update_time"] == int(clock())
    assert page1[0]["order_id"] == ids[11]  # everything slid one place forward
    clock.advance(5)
    _list(client, start, end, page=1, size=10)
    assert sim.book.orders[ids[0]]["update_time"] == int(clock()) - 5  # once only


def test_touch_when_paging_counts_the_calls_of_each_window_apart(make_sim, clock):
    sim, client = _empty(make_sim)
    ids = sim.seed_ready(3, now=clock(), spread_seconds=SPREAD)
    sim.touch_when_paging(ids[1], 1)
    _list(client, 0 + int(clock()) - 5000, int(clock()))  # another window's first call
    assert sim.book.orders[ids[1]]["update_time"] < int(clock()) - 60
    _list(client, int(clock()) - SPREAD, int(clock()))
    assert sim.book.orders[ids[1]]["update_time"] < int(clock()) - 60
    _list(client, int(clock()) - SPREAD, int(clock()))  # the second call of this window
    assert sim.book.orders[ids[1]]["update_time"] == int(clock())


def test_expire_access_token_expires_every_token_but_refresh_still_works(make_sim, clock):
    sim, client = _empty(make_sim)
    refresh = sim.tokens.snapshot(clock())[0]["refresh_token"]
    sim.expire_access_token()
    answer = client.call("order.searchList", {"update_time_start": int(clock()) - 60})
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.access-token-expired")
    renewed = client.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": refresh})
    assert renewed["code"] == 10000
    client.token = renewed["data"]["access_token"]
    assert client.call("order.searchList", {"update_time_start": int(clock()) - 60})["code"] == 10000


@pytest.mark.parametrize(("kind", "code", "sub_code"), [
    ("transient", 20000, "isp.service-error:20004"),
    ("rate_limited", 60000, "isv.traffic-limited"),
    ("auth_revoked", 30001, "dop.authorization-closed"),
])
def test_fail_next_answers_douyin_codes_for_count_calls_before_any_effect(make_sim, clock, kind, code, sub_code):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600)
    sim.fail_next(kind, 2)
    for _ in range(2):
        answer = _ship(client, oid)
        assert (answer["code"], answer["sub_code"]) == (code, sub_code)
    assert sim.tracking_numbers(oid) == [] and sim.book.orders[oid]["order_status"] == 2
    assert _ship(client, oid)["code"] == 10000
    assert sim.tracking_numbers(oid) == ["75312345678901"]


def test_fail_next_spares_calls_that_fail_the_gateway_checks(make_sim, clock):
    sim, client = _empty(make_sim)
    sim.fail_next("transient")
    bad = client.call("order.searchList", {"update_time_start": int(clock())}, sign="0" * 64)
    assert bad["sub_code"] == "isv.signature-invalid"
    assert client.call("order.searchList", {"update_time_start": int(clock())})["code"] == 20000


def test_fail_next_rejects_an_unknown_kind(make_sim):
    sim, _ = make_sim(n=1)
    with pytest.raises(ValueError, match="unknown failure kind"):
        sim.fail_next("teapot")  # type: ignore[arg-type]


def test_line_ids_and_tracking_numbers_follow_the_shipments(make_sim, clock):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    lines = sim.line_ids(oid)
    assert lines == [str(ln["order_id"]) for ln in sim.book.orders[oid]["sku_order_list"]]
    packs = [{"shipped_order_info": [{"shipped_order_id": line, "shipped_num": 1}],
              "logistics_code": tracking, "company_code": "zhongtong"}
             for line, tracking in zip(lines, ("75300000000001", "75300000000002"), strict=True)]
    request = {"order_id": oid, "request_id": "req-1", "pack_list": packs}
    assert client.call("order.logisticsAddMultiPack", request)["code"] == 10000
    assert client.call("order.logisticsAddMultiPack", request)["code"] == 10000  # replayed, not shipped again
    assert sim.tracking_numbers(oid) == ["75300000000001", "75300000000002"]
    assert sim.book.orders[oid]["order_status"] == 3


def test_hooks_given_an_unknown_order_raise_key_error(make_sim):
    sim, _ = make_sim(n=1)
    with pytest.raises(KeyError):
        sim.line_ids("1")
    with pytest.raises(KeyError):
        sim.set_refund("1", None, "requested")


def _aftersales(client, start):
    data = client.call("afterSale.List", {"update_start_time": start, "size": 100,
                                          "order_by": ["update_time asc"]})
    assert data["code"] == 10000, data
    return data["data"]["items"]


@pytest.mark.parametrize(("kind", "status", "refund_status"), [
    ("requested", 6, 1), ("refunded", 12, 3), ("closed", 28, 0)])
def test_set_refund_on_one_line_shows_in_the_order_and_in_aftersale_list(make_sim, clock, kind, status,
                                                                          refund_status):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    line = sim.line_ids(oid)[1]
    clock.advance(30)
    sim.set_refund(oid, line, kind)
    order = sim.book.orders[oid]
    assert order["update_time"] == int(clock())
    infos = {str(ln["order_id"]): ln["after_sale_info"] for ln in order["sku_order_list"]}
    assert (infos[line]["after_sale_status"], infos[line]["refund_status"]) == (status, refund_status)
    assert infos[sim.line_ids(oid)[0]]["after_sale_status"] == 0
    (item,) = _aftersales(client, int(clock()) - 5)
    assert item["order_info"]["shop_order_id"] == oid
    assert item["order_info"]["related_order_info"][0]["sku_order_id"] == line
    info = item["aftersale_info"]
    assert (info["aftersale_status"], info["aftersale_type"], info["update_time"]) == (status, 2, int(clock()))


def test_set_refund_on_the_whole_unshipped_order_refunds_every_line_and_cancels_it(make_sim, clock):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    sim.set_refund(oid, None, "refunded")
    assert sim.book.orders[oid]["order_status"] == 4
    items = _aftersales(client, int(clock()) - 5)
    assert sorted(i["order_info"]["related_order_info"][0]["sku_order_id"] for i in items) == sorted(
        sim.line_ids(oid))
    assert {i["aftersale_info"]["aftersale_status"] for i in items} == {12}


def test_set_refund_after_shipping_is_a_shipped_refund(make_sim, clock):
    sim, client = _empty(make_sim)
    (oid,) = sim.seed_ready(1, now=clock(), spread_seconds=600)
    assert _ship(client, oid)["code"] == 10000
    sim.set_refund(oid, None, "requested")
    (item,) = _aftersales(client, int(clock()) - 5)
    assert item["aftersale_info"]["aftersale_type"] == 1  # 已发货仅退款


def test_api_qps_limits_one_api_and_leaves_the_others_alone(make_sim, clock):
    _, client = make_sim(orders=[], release_after=None, api_qps={"order.searchList": 2})
    client.login()
    window = {"update_time_start": int(clock()) - 60}
    assert [client.call("order.searchList", window)["code"] for _ in range(3)] == [10000, 10000, 60000]
    assert client.call("afterSale.List", {"size": 10})["code"] == 10000
    clock.advance(0.5)
    assert client.call("order.searchList", window)["code"] == 10000
    assert client.call("order.searchList", window)["sub_code"] == "isv.traffic-limited"


def test_admin_faults_set_per_api_qps(make_sim, clock):
    _, client = _empty(make_sim)
    answer = client.admin("faults", {"api_qps": {"afterSale.List": 1}}).json()
    assert answer["api_qps"] == {"afterSale.List": 1.0}
    assert [client.call("afterSale.List", {"size": 10})["code"] for _ in range(2)] == [10000, 60000]
    assert client.admin("faults", {"api_qps": {"afterSale.List": -1}}).status_code == 400
    client.admin("faults", {"api_qps": None})
    assert client.call("afterSale.List", {"size": 10})["code"] == 10000
