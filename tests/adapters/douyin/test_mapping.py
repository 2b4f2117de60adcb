"""Douyin payload → domain mapping: statuses, after-sale codes, receiver, lines, carriers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.adapters.douyin.mapping import carrier_table, line_refund_state, map_order, order_refund_state
from syncd.domain import OrderStatus, PaymentMode, RefundState
from syncd.errors import ProtocolError
from tests.adapters.douyin.conftest import fixture, sample_order

R = RefundState


@pytest.mark.parametrize(("code", "status", "ready", "reason"), [
    (1, OrderStatus.UNPAID, False, None),
    (105, OrderStatus.PAID, False, "paid, not yet released for shipping (105)"),
    (2, OrderStatus.PAID, True, None),
    (101, OrderStatus.PAID, True, None),
    (3, OrderStatus.SHIPPED, False, None),
    (4, OrderStatus.CANCELLED, False, None),
    (5, OrderStatus.COMPLETED, False, None),
])
def test_map_order_given_order_status_sets_status_and_readiness(
        code: int, status: OrderStatus, ready: bool, reason: str | None) -> None:
    order = map_order({**sample_order(), "order_status": code})

    assert (order.status, order.ready_to_ship, order.not_ready_reason) == (status, ready, reason)
    assert order.platform_status == str(code)


def test_map_order_given_unknown_order_status_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown order_status 7"):
        map_order({**sample_order(), "order_status": 7})


@pytest.mark.parametrize(("info", "expected"), [
    (None, R.NONE),
    ({}, R.NONE),
    ({"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0}, R.NONE),
    ({"after_sale_status": 6, "after_sale_type": 2, "refund_status": 1}, R.REQUESTED),
    ({"after_sale_status": 7, "after_sale_type": 0, "refund_status": 0}, R.REQUESTED),
    ({"after_sale_status": 11, "after_sale_type": 0, "refund_status": 0}, R.REQUESTED),
    ({"after_sale_status": 12, "after_sale_type": 2, "refund_status": 0}, R.REFUNDED),
    ({"after_sale_status": 53, "after_sale_type": 1, "refund_status": 0}, R.REFUNDED),
    ({"after_sale_status": 12, "after_sale_type": 3, "refund_status": 0}, R.NONE),  # exchange done
    ({"after_sale_status": 0, "after_sale_type": 2, "refund_status": 3}, R.REFUNDED),
    ({"after_sale_status": 12, "after_sale_type": 4, "refund_status": 3}, R.REFUNDED),  # system cancel
    ({"after_sale_status": 27, "after_sale_type": 2, "refund_status": 0}, R.NONE),
    ({"after_sale_status": 28, "after_sale_type": 2, "refund_status": 4}, R.NONE),
    ({"after_sale_status": 29, "after_sale_type": 0, "refund_status": 4}, R.NONE),
    ({"after_sale_status": 51, "after_sale_type": 2, "refund_status": 0}, R.NONE),
    ({"after_sale_status": 0, "after_sale_type": 0, "refund_status": 1}, R.REQUESTED),
    ({"after_sale_status": 99, "after_sale_type": 2, "refund_status": 0}, R.REQUESTED),  # unknown: look
])
def test_line_refund_state_given_after_sale_info_maps_to_refund_state(
        info: dict[str, Any] | None, expected: RefundState) -> None:
    assert line_refund_state(info) is expected


@pytest.mark.parametrize(("lines", "expected"), [
    ([R.REFUNDED, R.REFUNDED], R.REFUNDED),
    ([R.REFUNDED, R.NONE], R.REQUESTED),
    ([R.NONE, R.REQUESTED], R.REQUESTED),
    ([R.NONE, R.NONE], R.NONE),
])
def test_order_refund_state_given_line_states_combines_them(lines: list[RefundState], expected: RefundState) -> None:
    assert order_refund_state(lines) is expected


def test_map_order_given_one_line_refunding_marks_line_and_order() -> None:
    raw = sample_order()
    raw["sku_order_list"][1]["after_sale_info"] = {"after_sale_status": 6, "after_sale_type": 2, "refund_status": 1}

    order = map_order(raw)

    assert [line.refund_state for line in order.lines] == [R.NONE, R.REQUESTED]
    assert order.refund_state is R.REQUESTED


def test_map_order_given_every_line_refunded_marks_the_order_refunded() -> None:
    raw = sample_order()
    for line in raw["sku_order_list"]:
        line["after_sale_info"] = {"after_sale_status": 12, "after_sale_type": 2, "refund_status": 3}

    assert map_order(raw).refund_state is R.REFUNDED


def test_map_order_given_fixture_order_reads_times_notes_and_payment() -> None:
    order = map_order(sample_order())

    assert order.platform_order_id == "6921234567890123456"
    assert order.updated_at == datetime.fromtimestamp(1763798520, UTC)
    assert order.created_at == datetime.fromtimestamp(1763798400, UTC)
    assert order.paid_at == datetime.fromtimestamp(1763798460, UTC)
    assert order.ship_by == datetime.fromtimestamp(1763971260, UTC)
    assert order.updated_at.tzinfo is not None
    assert (order.buyer_note, order.seller_memo) == ("请用顺丰，谢谢", "老客户")
    assert order.payment_mode is PaymentMode.PREPAID
    assert order.shipped_tracking == []
    assert order.raw["order_id"] == "6921234567890123456"


def test_map_order_given_pay_type_zero_and_pay_time_zero_is_cod_without_paid_at() -> None:
    second = fixture("order_search_list.json")["data"]["shop_order_list"][1]

    order = map_order(second)

    assert order.payment_mode is PaymentMode.COD
    assert order.paid_at is None
    assert order.ship_by is None


def test_map_order_given_fixture_order_reads_the_receiver_ciphers_and_masks() -> None:
    receiver = map_order(sample_order()).receiver

    assert receiver.name_cipher == "#ML3B#rMa4KcTnvQ1RwXw6+J9bCtA==#1##"
    assert receiver.phone_cipher == "$$wN3ptHvh2Yg1hOXrF0oTfQ==$1$$"
    assert receiver.address_cipher == "#Z7EP#Hn3lS0x0gB5Wd1qz4Kc9Bw==#1##"
    assert (receiver.name_masked, receiver.phone_masked, receiver.address_masked) == ("张*", "1********78",
                                                                                      "文一西路***号")
    assert (receiver.province, receiver.city, receiver.district, receiver.street) == ("浙江省", "杭州市",
                                                                                      "西湖区", "文新街道")


def test_map_order_given_only_post_fields_falls_back_to_them_for_ciphers() -> None:
    raw = sample_order()
    raw["encrypt_post_receiver"] = ""
    del raw["encrypt_post_tel"]
    raw["post_receiver"], raw["post_tel"] = "#N#1##", "$T$1$$"
    raw["post_addr"] = {**raw["post_addr"], "encrypt_detail": "", "detail": "#D#1##"}

    receiver = map_order(raw).receiver

    assert (receiver.name_cipher, receiver.phone_cipher, receiver.address_cipher) == ("#N#1##", "$T$1$$", "#D#1##")


def test_map_order_given_fixture_order_maps_each_sku_order_to_a_line() -> None:
    first, second = map_order(sample_order()).lines

    assert first.platform_line_id == "6921234567890123457"
    assert first.merchant_sku == "TS-WHT-L"
    assert (first.quantity, first.unit_price_fen) == (2, 2990)
    assert first.title == "纯棉圆领T恤 男款"
    assert first.spec == "颜色:白色;尺码:L"
    assert first.platform_sku_id == "1768123456789012"
    assert second.merchant_sku == "SOCK-3P"  # no code: falls back to out_sku_id


def test_map_order_given_logistics_info_lists_its_tracking_numbers() -> None:
    detail = fixture("order_detail_shipped.json")["data"]["shop_order_detail"]

    assert map_order(detail).shipped_tracking == ["SF1409876543210"]


@pytest.mark.parametrize(("change", "field"), [
    ({"order_id": None}, "order_id"),
    ({"update_time": "yesterday"}, "update_time"),
    ({"sku_order_list": []}, "sku_order_list"),
    ({"post_addr": "浙江省杭州市"}, "post_addr"),
    ({"pay_time": 1763798460000}, "pay_time"),
])
def test_map_order_given_unreadable_field_raises_protocol_error_naming_it(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        map_order({**sample_order(), **change})


def test_map_order_given_line_without_quantity_raises_protocol_error() -> None:
    raw = sample_order()
    del raw["sku_order_list"][0]["item_num"]

    with pytest.raises(ProtocolError, match="item_num"):
        map_order(raw)


def test_carrier_table_given_platform_list_maps_internal_codes_and_skips_unknown_names() -> None:
    table = carrier_table(fixture("logistics_company_list.json")["data"])

    assert table["shunfeng"] == "shunfeng"
    assert table["zhongtong"] == "zhongtong"
    assert table["yuantong"] == "yuantong"  # listed as 圆通快递, an alias
    assert table["jtexpress"] == "jtexpress"
    assert "tongcheng_local" not in table.values()


def test_carrier_table_given_unknown_name_falls_back_to_the_code() -> None:
    assert carrier_table([{"id": 1, "name": "ZTO物流(旧)", "code": "ZTO"}]) == {"zhongtong": "ZTO"}


def test_carrier_table_given_non_list_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        carrier_table({"list": []})
