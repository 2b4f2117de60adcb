"""order.searchList / orderDetail / batchDecrypt and their limits (reference/storefronts.md §1.4)."""

from __future__ import annotations

import re

from syncd.adapters.sandbox import cipher
from syncd.adapters.sandbox.seed import classify, generate_orders, make_order, receiver_of

DAY = 86400


def _window(clock, **extra):
    return {"update_time_start": int(clock()) - 2 * DAY, "update_time_end": int(clock()), **extra}


def test_search_pages_from_zero_and_reports_the_total(douyin, clock):
    sim, client = douyin
    seen: list[str] = []
    page, total = 0, None
    for page in range(100):  # bounded: 60 orders / 7 per page
        data = client.call("order.searchList", _window(clock, page=page, size=7, order_by="update_time",
                                                       order_asc=True))["data"]
        assert (data["page"], data["size"]) == (page, 7)
        total = data["total"]
        seen += [o["order_id"] for o in data["shop_order_list"]]
        if (page + 1) * 7 >= total:
            break
    assert total == len(sim.book.orders) == 60
    assert sorted(seen) == sorted(sim.book.orders)
    times = [sim.book.orders[o]["update_time"] for o in seen]
    assert times == sorted(times)


def test_search_is_descending_by_create_time_by_default(douyin, clock):
    _, client = douyin
    orders = client.call("order.searchList", _window(clock, size=100))["data"]["shop_order_list"]
    created = [o["create_time"] for o in orders]
    assert created == sorted(created, reverse=True)


def test_update_time_window_is_inclusive_at_both_ends(douyin, clock):
    sim, client = douyin
    some = sorted(sim.book.orders.values(), key=lambda o: o["update_time"])[10]
    t = some["update_time"]
    data = client.call("order.searchList", {"update_time_start": t, "update_time_end": t, "size": 100})["data"]
    assert some["order_id"] in [o["order_id"] for o in data["shop_order_list"]]
    assert all(o["update_time"] == t for o in data["shop_order_list"])


def test_search_without_a_start_time_is_20011(douyin):
    _, client = douyin
    answer = client.call("order.searchList", {"page": 0, "size": 10})
    assert answer["code"] == 40002 and answer["sub_code"].endswith("20011")


def test_search_limits_size_depth_lookback_and_combine_status(douyin, clock):
    _, client = douyin
    assert client.call("order.searchList", _window(clock, size=101))["sub_code"].endswith("20008")
    assert client.call("order.searchList", _window(clock, size=100))["code"] == 10000
    assert client.call("order.searchList", _window(clock, page=499, size=100))["code"] == 10000
    assert client.call("order.searchList", _window(clock, page=500, size=100))["sub_code"].endswith("20013")
    old = {"update_time_start": int(clock()) - 91 * DAY, "size": 10}
    assert client.call("order.searchList", old)["sub_code"].endswith("20022")
    two = _window(clock, combine_status=[{"order_status": "2"}, {"order_status": "105"}])
    assert client.call("order.searchList", two)["sub_code"].endswith("20012")
    assert client.call("order.searchList", _window(clock, combine_status={"order_status": "2"}))["sub_code"].endswith(
        "20012")


def test_combine_status_filters_by_comma_list(douyin, clock):
    sim, client = douyin
    data = client.call("order.searchList", _window(clock, size=100, combine_status=[{"order_status": "1,105"}]))
    got = {o["order_status"] for o in data["data"]["shop_order_list"]}
    assert got <= {1, 105} and got
    assert data["data"]["total"] == sum(1 for o in sim.book.orders.values() if o["order_status"] in (1, 105))


def test_order_detail_returns_the_shop_order(douyin):
    sim, client = douyin
    oid = next(iter(sim.book.orders))
    answer = client.call("order.orderDetail", {"shop_order_id": oid})
    assert answer["data"]["shop_order_detail"]["order_id"] == oid
    assert client.call("order.orderDetail", {"shop_order_id": "1234567890123456789"})["code"] == 40004


def test_batch_decrypt_refuses_more_than_50(douyin):
    sim, client = douyin
    order = next(iter(sim.book.orders.values()))
    infos = [{"auth_id": order["order_id"], "cipher_text": order["encrypt_post_tel"]}] * 51
    answer = client.call("order.batchDecrypt", {"cipher_infos": infos})
    assert answer["code"] == 40004
    assert client.call("order.batchDecrypt", {"cipher_infos": infos[:50]})["code"] == 10000


def test_batch_decrypt_partial_failure_keeps_the_good_items(douyin):
    sim, client = douyin
    order = next(iter(sim.book.orders.values()))
    oid = order["order_id"]
    infos = [{"auth_id": oid, "cipher_text": order["encrypt_post_receiver"]},
             {"auth_id": oid, "cipher_text": "#AAAA#bm90LWEtY2lwaGVyLXRleHQtYXQtYWxs#1##"},
             {"auth_id": "1111111111111111111", "cipher_text": order["encrypt_post_tel"]}]
    answer = client.call("order.batchDecrypt", {"cipher_infos": infos})
    assert answer["code"] == 10001
    items = answer["data"]["decrypt_infos"]
    assert items[0]["err_no"] == 0 and all(i["err_no"] != 0 for i in items[1:])
    assert items[0]["decrypt_text"] == receiver_of(order)["name"]
    assert {"auth_id", "cipher_text", "decrypt_text", "err_no", "err_msg", "is_virtual_tel"} <= set(items[0])


def test_batch_decrypt_marks_virtual_numbers(douyin):
    sim, client = douyin
    virtual = [o for o in sim.book.orders.values() if "-" in receiver_of(o)["tel"]]
    assert virtual
    order = virtual[0]
    item = client.call("order.batchDecrypt", {"cipher_infos": [
        {"auth_id": order["order_id"], "cipher_text": order["encrypt_post_tel"]}]})["data"]["decrypt_infos"][0]
    assert item["is_virtual_tel"] is True
    assert re.fullmatch(r"1\d{10}-\d{4}", item["decrypt_text"])
    assert item["phone_no_a"] + "-" + item["phone_no_b"] == item["decrypt_text"]


def test_paid_pending_orders_are_released_after_the_delay_with_update_time_bumped(make_sim, clock):
    orders = generate_orders(200, 3, clock())
    sim, client = make_sim(orders=orders, release_after=60, release_fraction=1.0)
    client.login()
    pending = [o["order_id"] for o in orders if classify(o) == "paid_pending"]
    assert pending
    clock.advance(59)
    assert all(sim.book.orders[o]["order_status"] == 105 for o in pending)
    start = int(clock())
    clock.advance(60 + len(pending))
    data = client.call("order.searchList", {"update_time_start": start, "size": 100,
                                            "combine_status": [{"order_status": "2"}]})["data"]
    released = {o["order_id"] for o in data["shop_order_list"]}
    assert set(pending) <= released


def test_refund_requests_appear_after_the_delay(make_sim, clock):
    sim, client = make_sim(n=40, refund_after=10, refund_fraction=0.5)
    client.login()
    before = {o: [ln["after_sale_info"]["after_sale_status"] for ln in v["sku_order_list"]]
              for o, v in sim.book.orders.items()}
    clock.advance(100)
    client.call("order.searchList", {"update_time_start": int(clock()) - 100, "size": 1})
    changed = [o for o, v in sim.book.orders.items()
               if [ln["after_sale_info"]["after_sale_status"] for ln in v["sku_order_list"]] != before[o]]
    assert changed
    assert all(sim.book.orders[o]["update_time"] >= int(clock()) - 100 for o in changed)


def test_admin_adds_and_changes_orders(douyin, clock):
    sim, client = douyin
    added = client.admin("orders", {"generate": 5, "seed": 99}).json()["added"]
    assert len(added) == 5 and all(a in sim.book.orders for a in added)
    import random
    extra = make_order(random.Random(1), "4000000000000000001", "normal", int(clock()) - 60, int(clock()))
    assert client.admin("orders", {"orders": [extra]}).json()["added"] == ["4000000000000000001"]
    target = next(o for o in sim.book.orders.values() if o["order_status"] == 2)
    clock.advance(30)
    order = client.admin(f"order/{target['order_id']}", {"action": "cancel"}).json()["order"]
    assert order["order_status"] == 4 and order["update_time"] == int(clock())
    assert client.admin(f"order/{target['order_id']}", {"action": "nope"}).status_code == 400
    assert client.http.get("/_sandbox/nothing").status_code == 404


def test_seeded_ciphertexts_decrypt_only_for_their_order(clock):
    order = generate_orders(1, 5, clock())[0]
    ct = order["encrypt_post_tel"]
    assert ct.startswith("$") and ct.endswith("$1$$")
    assert cipher.decrypt(order["order_id"], ct) is not None
    assert cipher.decrypt("1" * 19, ct) is None


def test_aftersale_list_shows_refund_requests_by_apply_time(douyin, clock):
    sim, client = douyin
    target = next(o for o in sim.book.orders.values() if classify(o) == "normal")
    clock.advance(60)
    client.admin(f"order/{target['order_id']}", {"action": "refund"})
    data = client.call("afterSale.List", {"update_start_time": int(clock()) - 10, "size": 50})["data"]
    assert data["total"] == 1 and data["has_more"] is False
    item = data["items"][0]
    assert item["order_info"]["shop_order_id"] == target["order_id"]
    assert (item["aftersale_info"]["aftersale_status"], item["aftersale_info"]["aftersale_type"]) == (6, 2)
    assert client.call("afterSale.List", {"size": 101})["code"] == 40004
