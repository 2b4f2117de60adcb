"""PDD order payloads → OrderIn: statuses, the ready-to-ship predicate, refunds, times, money, lines."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.adapters.pdd.mapping import (
    after_sales_state,
    carrier_table,
    line_ids,
    map_order,
    map_refund,
    parse_time,
    yuan_to_fen,
)
from syncd.domain import OrderStatus, PaymentMode, RefundState
from syncd.errors import ProtocolError
from tests.adapters.pdd.conftest import fixture, sample_order


def _order(**changes: Any) -> dict[str, Any]:
    order = sample_order()
    order.update(changes)
    return order


def test_map_order_given_the_ready_fixture_order_maps_every_field() -> None:
    order = map_order(sample_order())

    assert order.platform_order_id == "251122-512345678901234"
    assert (order.status, order.ready_to_ship, order.not_ready_reason) == (OrderStatus.PAID, True, None)
    assert order.platform_status == "1"
    assert order.refund_state is RefundState.NONE
    assert order.payment_mode is PaymentMode.PREPAID
    assert order.updated_at == datetime(2025, 11, 22, 8, 2, tzinfo=UTC)
    assert order.created_at == datetime(2025, 11, 22, 8, 0, tzinfo=UTC)
    assert order.paid_at == datetime(2025, 11, 22, 8, 1, tzinfo=UTC)
    assert order.ship_by == datetime(2025, 11, 24, 8, 1, tzinfo=UTC)
    assert (order.buyer_note, order.seller_memo) == ("请用顺丰，谢谢", "老客户")
    assert order.shipped_tracking == []
    first, second = order.lines
    assert (first.platform_line_id, first.merchant_sku, first.quantity, first.unit_price_fen) == (
        "1176812345001", "TS-WHT-L", 2, 2990)
    assert (first.title, first.spec, first.platform_sku_id) == ("纯棉圆领T恤 男款", "白色,L", "1176812345001")
    assert (second.platform_line_id, second.merchant_sku, second.quantity, second.unit_price_fen) == (
        "1176812345002", "SOCK-5P", 1, 3000)  # outer_id empty: the goods-level code
    receiver = order.receiver
    assert receiver.name_cipher.startswith("~") and receiver.phone_cipher and receiver.address_cipher
    assert (receiver.name_masked, receiver.phone_masked, receiver.address_masked) == (
        "张*", "138****1234", "文一西路***号")
    assert (receiver.province, receiver.city, receiver.district, receiver.street) == ("浙江省", "杭州市", "西湖区", "")
    assert order.raw["order_sn"] == "251122-512345678901234"


def test_map_order_given_host_time_zone_converts_beijing_time_the_same(host_tz: str) -> None:
    assert time.strftime("%Z") != "" and host_tz
    assert map_order(sample_order()).updated_at == datetime(2025, 11, 22, 8, 2, tzinfo=UTC)
    assert parse_time("2025-01-01 00:30:00", "t") == datetime(2024, 12, 31, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["²", "１７００００００００", "١٧٠٠٠٠٠٠٠٠", "9" * 23, 10**22])
def test_parse_time_given_non_ascii_digits_or_an_impossible_epoch_is_a_protocol_error(value: object) -> None:
    # '²'.isdigit() is True (int() then raised ValueError) and int() reads full-width digits as a 1970-ish time
    with pytest.raises(ProtocolError):
        parse_time(value, "t")
    assert parse_time("1700000000", "t") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(("changes", "status", "ready", "reason"), [
    ({}, OrderStatus.PAID, True, None),
    ({"risk_control_status": 1}, OrderStatus.PAID, False, "under risk review (risk_control_status 1)"),
    ({"order_tag_list": [{"name": "ship_hold", "value": 1}]}, OrderStatus.PAID, False, "ship_hold"),
    ({"order_tag_list": ["ship_hold"]}, OrderStatus.PAID, False, "ship_hold"),
    ({"stock_out_handle_status": 0}, OrderStatus.PAID, False, "stock-out report pending"),
    ({"stock_out_handle_status": 1}, OrderStatus.PAID, True, None),
    ({"refund_status": 2}, OrderStatus.PAID, False, "after-sale in progress (refund_status 2)"),
    ({"refund_status": 3}, OrderStatus.PAID, False, "refund_status 3"),
    ({"group_status": 0}, OrderStatus.PAID, False, "group buy still forming"),
    ({"confirm_status": 0, "pay_time": ""}, OrderStatus.UNPAID, False, None),
    ({"trade_type": 1, "step_order_info": {"step_trade_status": 1}}, OrderStatus.UNPAID, False, None),
    ({"trade_type": 1, "step_order_info": {"step_trade_status": 2}}, OrderStatus.PAID, True, None),
    ({"refund_status": 4}, OrderStatus.CANCELLED, False, None),
    ({"confirm_status": 2}, OrderStatus.CANCELLED, False, None),
    ({"group_status": 2}, OrderStatus.CANCELLED, False, None),
    ({"order_status": 2, "tracking_number": "ZT1"}, OrderStatus.SHIPPED, False, None),
    ({"order_status": 3}, OrderStatus.COMPLETED, False, None),
    ({"order_status": 2, "refund_status": 4}, OrderStatus.SHIPPED, False, None),
])
def test_map_order_given_status_fields_derives_status_and_the_ready_predicate(
        changes: dict[str, Any], status: OrderStatus, ready: bool, reason: str | None) -> None:
    order = map_order(_order(**changes))

    assert (order.status, order.ready_to_ship) == (status, ready)
    if reason is None:
        assert order.not_ready_reason is None
    else:
        assert order.not_ready_reason is not None and reason in order.not_ready_reason


def test_map_order_given_several_blockers_names_each() -> None:
    order = map_order(_order(risk_control_status=1, order_tag_list=[{"name": "ship_hold", "value": "1"}]))

    assert order.not_ready_reason == "under risk review (risk_control_status 1); shipping paused by the platform " \
                                     "(ship_hold)"


@pytest.mark.parametrize(("refund_status", "after_sales", "state"), [
    (1, 0, RefundState.NONE), (2, 2, RefundState.REQUESTED), (3, 4, RefundState.REQUESTED),
    (4, 10, RefundState.REFUNDED), (7, 0, RefundState.REQUESTED), (None, 10, RefundState.REFUNDED),
    (None, 5, RefundState.REQUESTED), (None, 11, RefundState.NONE), (None, None, RefundState.NONE),
])
def test_map_order_given_refund_fields_sets_the_refund_state_of_order_and_lines(
        refund_status: int | None, after_sales: int | None, state: RefundState) -> None:
    order = map_order(_order(refund_status=refund_status, after_sales_status=after_sales))

    assert order.refund_state is state
    assert all(line.refund_state is state for line in order.lines)


@pytest.mark.parametrize(("code", "state"), [
    (0, RefundState.NONE), (2, RefundState.REQUESTED), (3, RefundState.REQUESTED), (4, RefundState.REQUESTED),
    (5, RefundState.REQUESTED), (6, RefundState.REQUESTED), (7, RefundState.REQUESTED), (8, RefundState.REQUESTED),
    (9, RefundState.NONE), (10, RefundState.REFUNDED), (11, RefundState.NONE), (12, RefundState.NONE),
    (13, RefundState.NONE), (14, RefundState.NONE), (16, RefundState.NONE), (21, RefundState.NONE),
    (31, RefundState.REQUESTED), (33, RefundState.REFUNDED), (77, RefundState.REQUESTED), (None, RefundState.NONE),
])
def test_after_sales_state_given_each_code_maps_money_flow(code: int | None, state: RefundState) -> None:
    assert after_sales_state(code) is state


def test_map_order_given_shipped_order_lists_main_and_extra_tracking_numbers() -> None:
    info = fixture("order_information_shipped.json")["order_info_get_response"]["order_info"]

    order = map_order(info)

    assert order.shipped_tracking == ["ZT7881234567890", "SF1409876543210"]
    assert order.receiver.name_cipher == "" and order.receiver.name_masked == "张*"


def test_line_ids_given_the_same_sku_twice_numbers_the_second() -> None:
    items = [{"sku_id": 11, "goods_id": 1}, {"sku_id": "11", "goods_id": 1}, {"sku_id": 0, "goods_id": 7}]

    assert line_ids(items) == ["11", "11#2", "7"]


def test_line_ids_given_neither_sku_nor_goods_id_raises() -> None:
    with pytest.raises(ProtocolError, match="sku_id and goods_id are missing"):
        line_ids([{"goods_name": "x"}])


@pytest.mark.parametrize(("value", "fen"), [("39.90", 3990), (39.9, 3990), (40, 4000), ("0.005", 1), ("0", 0),
                                            (29.99, 2999), ("1234.5", 123450)])
def test_yuan_to_fen_given_amounts_rounds_half_up(value: Any, fen: int) -> None:
    assert yuan_to_fen(value, "amount") == fen


@pytest.mark.parametrize("value", ["abc", "-1", True, None, [1], "NaN"])
def test_yuan_to_fen_given_garbage_raises(value: Any) -> None:
    with pytest.raises(ProtocolError, match="amount"):
        yuan_to_fen(value, "amount")


@pytest.mark.parametrize(("changes", "where"), [
    ({"order_status": 4}, "unknown order_status 4"),
    ({"order_status": None}, "order_status is missing"),
    ({"updated_at": ""}, "updated_at is missing"),
    ({"updated_at": "2025/11/22 16:02"}, "is not yyyy-MM-dd HH:mm:ss"),
    ({"item_list": []}, "item_list is missing"),
    ({"order_sn": ""}, "order_sn is missing"),
    ({"order_tag_list": "ship_hold"}, "order_tag_list"),
    ({"extra_delivery_list": "x"}, "extra_delivery_list"),
])
def test_map_order_given_an_unreadable_field_raises_naming_it(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ProtocolError, match=where):
        map_order(_order(**changes))


def test_map_order_given_a_line_without_quantity_raises_naming_the_line() -> None:
    order = _order()
    order["item_list"][1]["goods_count"] = 0

    with pytest.raises(ProtocolError, match="line 1: goods_count"):
        map_order(order)


def test_map_refund_given_the_fixture_entries_maps_state_line_and_kind() -> None:
    entries = fixture("refund_increment.json")["refund_increment_get_response"]["refund_list"]

    events = [map_refund(e) for e in entries]

    assert [(e.platform_order_id, e.platform_line_id, e.state, e.kind) for e in events] == [
        ("251122-587654321098765", "1176898765001", RefundState.REQUESTED, "仅退款"),
        ("251121-500000000000001", "1176800000001", RefundState.REFUNDED, "退货退款"),
        ("251121-500000000000002", "1176800000002", RefundState.NONE, "仅退款"),
    ]
    assert events[0].updated_at == datetime(2025, 11, 22, 8, 20, 5, tzinfo=UTC)


def test_carrier_table_maps_names_to_internal_codes_and_leaves_out_unavailable_and_unknown() -> None:
    table = carrier_table(fixture("logistics_companies.json")["logistics_companies_get_response"])

    assert table["zhongtong"] == 115 and table["shunfeng"] == 44 and table["jd"] == 120
    assert table["youzhengguonei"] == 132 and table["ems"] == 118 and table["debangkuaidi"] == 131
    assert "jtexpress" not in table  # available: 0
    assert 999 not in table.values()  # a name no one knows is never guessed
