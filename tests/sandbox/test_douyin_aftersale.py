"""afterSale.List of the Douyin simulator: filters, ordering, paging (reference/storefronts.md §1.4)."""

from __future__ import annotations

import pytest


@pytest.fixture
def shop(make_sim, clock):
    """An empty shop with 3 ready orders of 2 lines each, and a logged-in client."""
    sim, client = make_sim(orders=[], release_after=None)
    client.login()
    ids = sim.seed_ready(3, now=clock(), spread_seconds=600, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))
    return sim, client, ids


def _list(client, **params):
    answer = client.call("afterSale.List", {"size": 100, **params})
    assert answer["code"] == 10000, answer
    return answer["data"]


def _ids(data):
    return [i["aftersale_info"]["aftersale_id"] for i in data["items"]]


def test_update_window_finds_an_after_sale_by_its_last_change_not_its_application(shop, clock):
    sim, client, ids = shop
    applied = int(clock())
    sim.set_refund(ids[0], sim.line_ids(ids[0])[0], "requested")
    clock.advance(600)
    sim.set_refund(ids[0], sim.line_ids(ids[0])[0], "refunded")
    changed = int(clock())

    by_update = _list(client, update_start_time=changed, update_end_time=changed)
    assert by_update["total"] == 1
    info = by_update["items"][0]["aftersale_info"]
    assert (info["apply_time"], info["update_time"], info["aftersale_status"]) == (applied, changed, 12)
    assert _list(client, update_start_time=applied, update_end_time=changed - 1)["total"] == 0
    assert _list(client, start_time=applied, end_time=applied)["total"] == 1  # apply-time window
    assert _list(client, start_time=applied + 1)["total"] == 0


def test_update_window_is_inclusive_at_both_ends(shop, clock):
    sim, client, ids = shop
    sim.set_refund(ids[0], None, "requested")
    t = int(clock())
    assert _list(client, update_start_time=t, update_end_time=t)["total"] == 2
    assert _list(client, update_start_time=t + 1)["total"] == 0
    assert _list(client, update_end_time=t - 1)["total"] == 0


def test_pages_by_update_time_with_total_and_has_more(shop, clock):
    sim, client, ids = shop
    for oid in ids:
        clock.advance(10)
        sim.set_refund(oid, None, "requested")
    seen = []
    for page in range(10):  # bounded: 6 after-sales, 4 a page
        data = _list(client, page=page, size=4, order_by=["update_time asc"])
        assert (data["page"], data["size"], data["total"]) == (page, 4, 6)
        seen += data["items"]
        if not data["has_more"]:
            break
    assert page == 1
    assert len({i["aftersale_info"]["aftersale_id"] for i in seen}) == 6
    times = [i["aftersale_info"]["update_time"] for i in seen]
    assert times == sorted(times)
    newest_first = _list(client, order_by=["update_time desc"])
    assert [i["aftersale_info"]["update_time"] for i in newest_first["items"]] == sorted(times, reverse=True)


def test_filters_by_order_status_and_type(shop, clock):
    sim, client, ids = shop
    sim.set_refund(ids[0], sim.line_ids(ids[0])[0], "requested")
    sim.set_refund(ids[1], sim.line_ids(ids[1])[0], "refunded")
    sim.set_refund(ids[2], sim.line_ids(ids[2])[0], "closed")
    assert [i["order_info"]["shop_order_id"] for i in _list(client, order_id=ids[1])["items"]] == [ids[1]]
    only_open = _list(client, standard_aftersale_status=[6, 7])["items"]
    assert [i["order_info"]["shop_order_id"] for i in only_open] == [ids[0]]
    assert _list(client, standard_aftersale_status=[12, 28])["total"] == 2
    assert _list(client, aftersale_type=2)["total"] == 3
    assert _list(client, aftersale_type=0)["total"] == 0


def test_a_new_application_after_a_closed_one_gets_a_new_id(shop, clock):
    sim, client, ids = shop
    line = sim.line_ids(ids[0])[0]
    sim.set_refund(ids[0], line, "closed")
    first = _ids(_list(client))
    clock.advance(60)
    sim.set_refund(ids[0], line, "requested")
    second = _ids(_list(client))
    assert len(first) == len(second) == 1 and first != second


def test_limits_size_depth_and_bad_parameters(shop):
    _, client, _ = shop
    assert client.call("afterSale.List", {"size": 101})["code"] == 40004
    assert client.call("afterSale.List", {"size": 100, "page": 500})["sub_code"] == "isv.parameter-invalid:page"
    assert client.call("afterSale.List", {"size": 100, "page": 499})["code"] == 10000
    assert client.call("afterSale.List", {"order_by": ["status asc"]})["code"] == 40004
    assert client.call("afterSale.List", {"update_start_time": 10, "update_end_time": 5})["code"] == 40004
    assert client.call("afterSale.List", {"standard_aftersale_status": ["x"]})["code"] == 40004


def test_merchant_refusing_a_refund_by_shipping_updates_the_after_sale(shop, clock):
    sim, client, ids = shop
    sim.set_refund(ids[0], sim.line_ids(ids[0])[0], "requested")
    clock.advance(60)
    shipped = client.call("order.logisticsAdd", {"order_id": ids[0], "company_code": "zhongtong",
                                                 "logistics_code": "75312345678901", "is_reject_refund": True})
    assert shipped["code"] == 10000
    (item,) = _list(client, update_start_time=int(clock()))["items"]
    assert (item["aftersale_info"]["aftersale_status"], item["aftersale_info"]["update_time"]) == (27, int(clock()))


def test_admin_cancel_of_a_paid_order_lists_its_refunds(shop, clock):
    _, client, ids = shop
    clock.advance(60)
    assert client.admin(f"order/{ids[0]}", {"action": "cancel"}).status_code == 200
    data = _list(client, update_start_time=int(clock()))
    assert data["total"] == 2
    assert {(i["aftersale_info"]["aftersale_status"], i["aftersale_info"]["refund_status"])
            for i in data["items"]} == {(12, 3)}
