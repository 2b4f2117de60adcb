"""The seeded Taobao trades: deterministic, TOP-shaped, readable by the adapter, holding every case."""

from __future__ import annotations

import re
from collections import Counter

from syncd.adapters.sandbox.seed import CASES, CATALOG, UNMAPPED
from syncd.adapters.sandbox.taobao_seed import (
    classify,
    decrypt_table,
    generate_taobao_orders,
    parse,
    receiver_for,
    text,
)
from syncd.adapters.taobao.mapping import map_trade, needs_detail
from syncd.domain import OrderStatus, RefundState

NOW = 1_800_000_000


def test_same_seed_same_trades_other_seed_other_trades() -> None:
    assert generate_taobao_orders(120, 1, NOW) == generate_taobao_orders(120, 1, NOW)
    assert generate_taobao_orders(120, 1, NOW) != generate_taobao_orders(120, 2, NOW)


def test_every_case_is_present_in_the_douyin_generators_mix() -> None:
    trades = generate_taobao_orders(200, 1, NOW)
    counts = Counter(classify(t) for t in trades)

    assert set(counts) == set(CASES)
    plain = sum(counts[c] for c in ("normal", "multi", "split", "twopack"))
    assert 0.78 <= plain / len(trades) <= 0.86


def test_trades_are_top_shaped_and_map_through_the_adapter() -> None:
    span = 24 * 3600
    expected = {"unpaid": OrderStatus.UNPAID, "paid_pending": OrderStatus.PAID, "cancelled": OrderStatus.CANCELLED}
    for trade in generate_taobao_orders(200, 4, NOW):
        assert re.fullmatch(r"\d{19}", trade["tid_str"]) and trade["tid"] == int(trade["tid_str"])
        assert NOW - span <= parse(trade["created"]) <= parse(trade["modified"]) <= NOW - 120
        assert trade["modified"] == text(parse(trade["modified"]))
        assert re.fullmatch(r"\d+\.\d{2}", trade["payment"])
        assert "****" in trade["receiver_mobile"] and "*" in trade["receiver_name"]
        assert trade["oaid"] and needs_detail(trade) is None
        order = map_trade(trade)
        case = classify(trade)
        assert order.status is expected.get(case, OrderStatus.PAID)
        assert order.ready_to_ship is (case not in expected)
        if case == "refund_requested":
            assert order.refund_state is RefundState.REQUESTED
        if case == "cancelled":
            assert order.refund_state is RefundState.REFUNDED
        for line in order.lines:
            assert line.merchant_sku in CATALOG or line.merchant_sku in UNMAPPED
            assert line.unit_price_fen > 0 and line.quantity >= 1


def test_decrypt_table_gives_each_trades_plaintext_receiver_and_an_empty_address_when_incomplete() -> None:
    trades = generate_taobao_orders(100, 3, NOW)
    table = decrypt_table(trades)

    assert len(table) == 100
    for trade in trades:
        plain = table[(trade["tid_str"], trade["oaid"])]
        assert plain == receiver_for(trade["tid_str"], trade["receiver_address"] == "")
        assert plain["name"].startswith(trade["receiver_name"][0])
        assert (plain["address_detail"] == "") is (classify(trade) == "address_incomplete")
        assert plain["state"] == trade["receiver_state"] and plain["city"] == trade["receiver_city"]
