"""generate_pdd_orders: deterministic, PDD-shaped, the same mix of cases as the Douyin generator."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from syncd.adapters.pdd.mapping import map_order
from syncd.adapters.sandbox import cipher
from syncd.adapters.sandbox.pdd_seed import classify, decrypt_table, encrypt, generate_pdd_orders, receiver_of
from syncd.adapters.sandbox.seed import CASES, UNMAPPED
from syncd.domain import OrderStatus, RefundState

NOW = 1_800_000_000


def test_generate_given_the_same_arguments_gives_the_same_orders() -> None:
    assert generate_pdd_orders(50, 3, NOW) == generate_pdd_orders(50, 3, NOW)
    assert generate_pdd_orders(50, 3, NOW) != generate_pdd_orders(50, 4, NOW)


def test_generate_given_200_orders_holds_every_case() -> None:
    orders = generate_pdd_orders(200, 1, NOW)

    counts = Counter(classify(o) for o in orders)
    assert set(counts) == set(CASES)
    assert counts["normal"] > 100
    assert len({o["order_sn"] for o in orders}) == 200


def test_generated_orders_are_pdd_shaped_and_inside_the_span() -> None:
    orders = generate_pdd_orders(100, 2, NOW, span_hours=6)

    for order in orders:
        assert re.fullmatch(r"\d{6}-\d{15}", order["order_sn"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", order["updated_at"])
        mapped = map_order(order)  # the adapter reads every generated order
        assert NOW - 6 * 3600 <= mapped.updated_at.timestamp() <= NOW - 120
        assert all(line.merchant_sku for line in mapped.lines)
        assert isinstance(order["pay_amount"], float | int)


def test_generated_cases_map_to_what_the_daemon_must_do() -> None:
    by_case: dict[str, list[dict[str, Any]]] = {}
    for order in generate_pdd_orders(200, 1, NOW):
        by_case.setdefault(classify(order), []).append(order)

    def mapped(case: str) -> list[tuple[OrderStatus, bool, RefundState]]:
        return [(m.status, m.ready_to_ship, m.refund_state) for m in map(map_order, by_case[case])]

    assert set(mapped("normal")) == {(OrderStatus.PAID, True, RefundState.NONE)}
    assert set(mapped("unpaid")) == {(OrderStatus.UNPAID, False, RefundState.NONE)}
    assert set(mapped("paid_pending")) == {(OrderStatus.PAID, False, RefundState.NONE)}
    assert set(mapped("refund_requested")) == {(OrderStatus.PAID, False, RefundState.REQUESTED)}
    assert set(mapped("cancelled")) == {(OrderStatus.CANCELLED, False, RefundState.REFUNDED)}
    assert all(len(o["item_list"]) == 2 for o in by_case["split"])
    assert all(i["outer_id"] in UNMAPPED for o in by_case["unmapped"] for i in o["item_list"])


def test_receivers_are_ciphertexts_that_decrypt_only_with_their_order() -> None:
    orders = generate_pdd_orders(30, 5, NOW)
    table = decrypt_table(orders)

    for order in orders:
        for key in ("receiver_name", "receiver_phone", "receiver_address", "address"):
            text = order[key]
            assert text.startswith("~") and text.endswith("~~") and cipher.is_cipher(text)
            assert (order["order_sn"], text) in table
        assert cipher.decrypt(orders[0]["order_sn"] if order is not orders[0] else orders[1]["order_sn"],
                              order["receiver_name"]) is None
    plain = receiver_of(orders[0])
    assert table[(orders[0]["order_sn"], orders[0]["receiver_name"])] == (plain["name"], 5)
    assert plain["name"] not in str(orders[0])


def test_encrypt_keeps_the_pdd_delimiter_and_decrypts_back() -> None:
    text = encrypt("251122-1", "张三", "name")
    assert text.count("~") == 5 and cipher.decrypt("251122-1", text) == "张三"
