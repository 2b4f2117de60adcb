"""TOP trades, refunds and carriers → syncd's domain."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.adapters.taobao.mapping import (
    carrier_table,
    items,
    map_refund,
    map_trade,
    needs_detail,
    oaid_of,
    refund_state,
    yuan_to_fen,
)
from syncd.domain import OrderStatus, PaymentMode, RefundState
from syncd.errors import ProtocolError
from tests.adapters.taobao.conftest import fixture, sample_trade


def _trade(**changes: Any) -> dict[str, Any]:
    trade = copy.deepcopy(sample_trade())
    trade.update(changes)
    return trade


@pytest.mark.parametrize(("status", "normalised", "ready", "reason"), [
    ("TRADE_NO_CREATE_PAY", OrderStatus.UNPAID, False, None),
    ("WAIT_BUYER_PAY", OrderStatus.UNPAID, False, None),
    ("PAY_PENDING", OrderStatus.UNPAID, False, None),
    ("WAIT_PRE_AUTH_CONFIRM", OrderStatus.UNPAID, False, None),
    ("WAIT_SELLER_SEND_GOODS", OrderStatus.PAID, True, None),
    ("SELLER_CONSIGNED_PART", OrderStatus.PAID, True, None),
    ("PAID_FORBID_CONSIGN", OrderStatus.PAID, False, "PAID_FORBID_CONSIGN"),
    ("WAIT_BUYER_CONFIRM_GOODS", OrderStatus.SHIPPED, False, None),
    ("TRADE_BUYER_SIGNED", OrderStatus.COMPLETED, False, None),
    ("TRADE_FINISHED", OrderStatus.COMPLETED, False, None),
    ("TRADE_CLOSED", OrderStatus.CANCELLED, False, None),
    ("TRADE_CLOSED_BY_TAOBAO", OrderStatus.CANCELLED, False, None),
])
def test_map_trade_given_each_status_gives_status_and_readiness(
        status: str, normalised: OrderStatus, ready: bool, reason: str | None) -> None:
    order = map_trade(_trade(status=status))

    assert (order.platform_status, order.status, order.ready_to_ship) == (status, normalised, ready)
    if reason is None:
        assert order.not_ready_reason is None
    else:
        assert order.not_ready_reason is not None and reason in order.not_ready_reason


@pytest.mark.parametrize(("value", "state"), [
    (None, RefundState.NONE), ("", RefundState.NONE), ("NO_REFUND", RefundState.NONE),
    ("CLOSED", RefundState.NONE), ("SELLER_REFUSE_BUYER", RefundState.NONE),
    ("WAIT_SELLER_AGREE", RefundState.REQUESTED), ("WAIT_BUYER_RETURN_GOODS", RefundState.REQUESTED),
    ("WAIT_SELLER_CONFIRM_GOODS", RefundState.REQUESTED), ("SUCCESS", RefundState.REFUNDED),
    ("SOMETHING_NEW", RefundState.REQUESTED),
])
def test_refund_state_given_each_refund_status_gives_its_state(value: str | None, state: RefundState) -> None:
    assert refund_state(value) is state


def test_map_trade_reads_the_sample_trade() -> None:
    order = map_trade(sample_trade())

    assert order.platform_order_id == "2451234567890123456"
    assert order.payment_mode is PaymentMode.PREPAID
    # 2025-11-22 16:40:12 in Asia/Shanghai is 08:40:12 UTC
    assert order.updated_at == datetime(2025, 11, 22, 8, 40, 12, tzinfo=UTC)
    assert order.created_at == datetime(2025, 11, 22, 8, 31, 5, tzinfo=UTC)
    assert order.paid_at == datetime(2025, 11, 22, 8, 32, 40, tzinfo=UTC)
    assert order.ship_by == datetime(2025, 11, 24, 8, 32, 40, tzinfo=UTC)
    assert (order.buyer_note, order.seller_memo) == ("请尽快发货", "老客户")
    first, second = order.lines
    assert (first.platform_line_id, first.merchant_sku, first.quantity) == ("2451234567890123457", "SB-TEE-RED-M", 2)
    assert (first.title, first.spec, first.platform_sku_id) == ("纯棉短袖T恤", "颜色分类:红色;尺码:M", "4987654321001")
    assert first.unit_price_fen == 3990
    assert first.refund_state is RefundState.NONE
    assert second.refund_state is RefundState.REQUESTED
    assert order.refund_state is RefundState.REQUESTED
    assert order.shipped_tracking == []
    assert order.raw["tid_str"] == "2451234567890123456"


def test_map_trade_given_only_numeric_tid_and_oid_reads_them() -> None:
    trade = _trade()
    del trade["tid_str"]
    for line in trade["orders"]["order"]:
        del line["oid_str"]

    order = map_trade(trade)

    assert order.platform_order_id == "2451234567890123456"
    assert order.lines[0].platform_line_id == "2451234567890123457"


def test_map_trade_given_no_outer_sku_id_uses_outer_iid() -> None:
    trade = _trade()
    trade["orders"]["order"][0]["outer_sku_id"] = ""

    assert map_trade(trade).lines[0].merchant_sku == "SB-TEE"


def test_map_trade_given_every_line_refunded_is_refunded() -> None:
    closed = fixture("trades_sold_increment_get.json")["trades_sold_increment_get_response"]["trades"]["trade"][1]

    order = map_trade(closed)

    assert order.status is OrderStatus.CANCELLED
    assert order.refund_state is RefundState.REFUNDED


def test_map_trade_given_cod_type_is_cod() -> None:
    assert map_trade(_trade(type="cod")).payment_mode is PaymentMode.COD


def test_map_trade_given_simplified_lists_reads_them() -> None:
    trade = _trade()
    trade["orders"] = trade["orders"]["order"]

    assert len(map_trade(trade).lines) == 2


def test_map_trade_receiver_keeps_the_oaid_and_masked_texts() -> None:
    ref = map_trade(sample_trade()).receiver

    assert oaid_of(ref) == "1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF"
    assert (ref.name_cipher, ref.phone_cipher, ref.address_cipher) == (oaid_of(ref),) * 3
    assert (ref.name_masked, ref.phone_masked, ref.address_masked) == ("张**", "138****1234", "文一西路********")
    assert (ref.province, ref.city, ref.district, ref.street) == ("浙江省", "杭州市", "西湖区", "文新街道")


def test_map_trade_receiver_given_empty_address_leaves_it_missing() -> None:
    ref = map_trade(_trade(receiver_address="")).receiver

    assert ref.address_cipher == "" and ref.address_masked == ""
    assert ref.name_cipher != ""


def test_map_trade_receiver_never_keeps_a_ciphertext_as_masked_text() -> None:
    ref = map_trade(_trade(receiver_name="~AgAAAAAwq8kPq0wZ+T6pGf3Y~1~~")).receiver

    assert ref.name_masked == ""
    assert ref.name_cipher == "1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF"


def test_map_trade_given_invoice_numbers_lists_each_once() -> None:
    shipped = fixture("trade_fullinfo_get_shipped.json")["trade_fullinfo_get_response"]["trade"]

    assert map_trade(shipped).shipped_tracking == ["SF1409876543210"]


@pytest.mark.parametrize(("changes", "match"), [
    ({"status": "SOMETHING_ELSE"}, "unknown status SOMETHING_ELSE"),
    ({"status": None}, "status is missing"),
    ({"modified": None}, "modified is missing"),
    ({"modified": "2025/11/22 16:40"}, "modified"),
    ({"modified": "2025-13-40 16:40:12"}, "not a valid time"),
    ({"orders": {"order": []}}, "orders"),
    ({"orders": None}, "orders"),
    ({"tid": None, "tid_str": None}, "tid"),
    ({"orders": {"order": [{"oid": 1, "num": 0}]}}, "num"),
    ({"orders": {"order": [{"num": 1}]}}, "oid"),
    ({"orders": {"order": [{"oid": 1, "num": 1, "price": "abc"}]}}, "price"),
    ({"orders": {"order": [{"oid": 1, "num": 1, "price": "1.234"}]}}, "price"),
    ({"orders": {"order": ["x"]}}, "expected an object"),
    ({"buyer_message": {"a": 1}}, "buyer_message"),
])
def test_map_trade_given_unreadable_field_raises_protocol_error_naming_it(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        map_trade(_trade(**changes))


@pytest.mark.parametrize(("text", "fen"), [("200.07", 20007), ("0", 0), ("39.9", 3990), ("0.00", 0), (15, 1500)])
def test_yuan_to_fen_given_yuan_text_gives_fen(text: Any, fen: int) -> None:
    assert yuan_to_fen({"price": text}, "price", "t") == fen


def test_needs_detail_given_complete_trade_says_no() -> None:
    assert needs_detail(sample_trade()) is None


def test_needs_detail_given_trade_to_ship_without_oaid_says_why() -> None:
    reason = needs_detail(_trade(oaid=None))

    assert reason is not None and "oaid" in reason


def test_needs_detail_given_closed_trade_without_oaid_says_no() -> None:
    assert needs_detail(_trade(oaid=None, status="TRADE_CLOSED")) is None


@pytest.mark.parametrize("orders", [None, {"order": []}, "garbage"])
def test_needs_detail_given_no_readable_sub_orders_says_why(orders: Any) -> None:
    reason = needs_detail(_trade(orders=orders))

    assert reason is not None and "sub-orders" in reason


def test_items_given_wrapped_simplified_single_or_absent_lists_reads_them() -> None:
    assert items({"trade": [1, 2]}, "trade", "w") == [1, 2]
    assert items([1], "trade", "w") == [1]
    assert items({"trade": {"tid": 1}}, "trade", "w") == [{"tid": 1}]
    assert items(None, "trade", "w") == [] and items({}, "trade", "w") == []
    with pytest.raises(ProtocolError):
        items(7, "trade", "w")


def test_map_refund_reads_each_refund_record() -> None:
    refunds = fixture("refunds_receive_get.json")["refunds_receive_get_response"]["refunds"]["refund"]

    events = [map_refund(r, f"refund {i}") for i, r in enumerate(refunds)]

    assert [(e.platform_order_id, e.platform_line_id, e.state) for e in events] == [
        ("2451234567890123456", "2451234567890123458", RefundState.REQUESTED),
        ("2451234567890124000", "2451234567890124001", RefundState.REFUNDED),
        ("2451234567890126000", "2451234567890126001", RefundState.NONE),
    ]
    assert events[0].updated_at == datetime(2025, 11, 22, 8, 40, 12, tzinfo=UTC)
    assert (events[0].kind, events[1].kind) == ("仅退款", "退货退款")


def test_map_refund_given_no_tid_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="tid"):
        map_refund({"status": "SUCCESS", "modified": "2025-11-22 16:40:12"}, "refund 0")


def test_carrier_table_maps_names_to_taobao_codes_preferring_the_carriers_own_name() -> None:
    companies = fixture("logistics_companies_get.json")["logistics_companies_get_response"][
        "logistics_companies"]["logistics_company"]

    table = carrier_table(companies)

    assert table["shunfeng"] == "SF" and table["zhongtong"] == "ZTO" and table["yunda"] == "YUNDA"
    assert table["ems"] == "EMS"
    assert table["youzhengguonei"] == "POSTB"  # 邮政快递包裹, not 中国邮政 POST
    assert table["debangkuaidi"] == "DBKD"  # 德邦快递, not 德邦物流 DBL
    assert table["huitongkuaidi"] == "HTKY"
    assert "jd" not in table and "jtexpress" not in table  # never guessed
    assert "OTHER" not in table.values()
