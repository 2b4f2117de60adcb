"""The seeded orders: deterministic, Douyin-shaped, and holding every case the daemon must handle."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from syncd.adapters.sandbox import cipher
from syncd.adapters.sandbox.alibaba_seed import DEFAULT_CATALOGUE
from syncd.adapters.sandbox.seed import CASES, CATALOG, PRICES, UNMAPPED, classify, generate_orders, receiver_of
from syncd.config.models import Route

NOW = 1_800_000_000
ROUTES = Path(__file__).resolve().parents[2] / "config" / "sandbox" / "routes.yaml"


def test_same_seed_same_orders_other_seed_other_orders():
    assert generate_orders(120, 1, NOW) == generate_orders(120, 1, NOW)
    assert generate_orders(120, 1, NOW) != generate_orders(120, 2, NOW)


def test_every_case_is_present_and_about_82_percent_are_plain():
    orders = generate_orders(200, 1, NOW)
    counts = Counter(classify(o) for o in orders)
    assert set(counts) == set(CASES)
    plain = sum(counts[c] for c in ("normal", "multi", "split", "twopack"))
    assert 0.78 <= plain / len(orders) <= 0.86


def test_orders_have_the_fields_the_daemon_reads():
    span = 24 * 3600
    for order in generate_orders(200, 4, NOW):
        assert re.fullmatch(r"\d{19}", order["order_id"])
        assert NOW - span <= order["create_time"] <= order["update_time"] <= NOW - 120
        if order["order_status"] != 1:
            assert order["create_time"] <= order["pay_time"] <= order["update_time"]
            assert order["exp_ship_time"] == order["pay_time"] + 48 * 3600
        for key in ("buyer_words", "seller_words", "mask_post_receiver", "mask_post_tel", "logistics_info"):
            assert key in order
        for key in ("encrypt_post_receiver", "encrypt_post_tel"):
            assert cipher.is_cipher(order[key])
        addr = order["post_addr"]
        assert {"province", "city", "town", "street", "detail", "encrypt_detail"} <= set(addr)
        assert set(addr["province"]) == {"name", "id"}
        assert "****" in order["mask_post_tel"]
        for line in order["sku_order_list"]:
            assert re.fullmatch(r"\d{19}", line["order_id"]) and line["order_id"] != order["order_id"]
            assert line["code"] in CATALOG or line["code"] in UNMAPPED
            assert line["item_num"] >= 1 and line["origin_amount"] > 0
            assert all(set(s) == {"name", "value"} for s in line["spec"])
            assert set(line["after_sale_info"]) == {"after_sale_status", "after_sale_type", "refund_status"}


def test_bad_cases_look_the_way_the_platform_shows_them():
    orders = generate_orders(200, 1, NOW)
    by_case: dict[str, dict] = {}
    for o in orders:
        by_case.setdefault(classify(o), o)
    assert receiver_of(by_case["address_incomplete"])["detail"] == ""
    assert by_case["unpaid"]["order_status"] == 1 and by_case["unpaid"]["pay_time"] == 0
    assert by_case["paid_pending"]["order_status"] == 105
    assert by_case["cancelled"]["order_status"] == 4
    refund = by_case["refund_requested"]["sku_order_list"][0]["after_sale_info"]
    assert (refund["after_sale_status"], refund["after_sale_type"]) == (6, 2)
    split = by_case["split"]["sku_order_list"]
    assert {CATALOG[ln["code"]].supplier for ln in split} == {"yiwu-goods", "gz-apparel"}
    assert any(CATALOG[ln["code"]].multiplier == 2 for ln in by_case["twopack"]["sku_order_list"])
    assert all(ln["code"] not in CATALOG for ln in by_case["unmapped"]["sku_order_list"])


def test_receivers_include_virtual_numbers_and_plain_mobiles():
    tels = [receiver_of(o)["tel"] for o in generate_orders(200, 1, NOW)]
    assert all(re.fullmatch(r"1[3-9]\d{9}(-\d{4})?", t) for t in tels)
    assert any("-" in t for t in tels) and any("-" not in t for t in tels)


def test_routes_yaml_matches_the_catalog():
    routes = [Route(**r) for r in yaml.safe_load(ROUTES.read_text(encoding="utf-8"))["routes"]]
    assert {r.sku: (r.multiplier, r.cost) for r in routes} == {
        code: (item.multiplier, PRICES[code][1]) for code, item in CATALOG.items()}
    # Drop-folder SKUs as the catalogue says; the API suppliers' SKUs are ones their simulators sell
    # (1688 "offerId:specId" of its catalogue; the webhook warehouse "HZ-", the bottle falling back to yiwu-goods).
    for r in routes:
        item = CATALOG[r.sku]
        if r.supplier == "ali-factory":
            assert r.supplier_sku in DEFAULT_CATALOGUE and DEFAULT_CATALOGUE[r.supplier_sku][0] == item.title
        elif r.supplier == "hz-warehouse":
            assert r.supplier_sku.startswith("HZ-") and r.supplier_sku[3:] == item.supplier_sku[3:]
            assert r.fallback_supplier in (None, item.supplier) and r.fallback_sku in (None, item.supplier_sku)
        else:
            assert (r.supplier, r.supplier_sku) == (item.supplier, item.supplier_sku)
    assert not set(UNMAPPED) & {r.sku for r in routes}
