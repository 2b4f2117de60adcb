"""Pure readers: 1688 times, SKUs, address, message, trace-step words, carriers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.adapters.alibaba import mapping as m
from syncd.domain import LogisticsState, SupplierLine
from syncd.errors import ProtocolError, RejectedError
from tests.adapters.alibaba.conftest import HOOK, MUG, make_config, receiver, request

AT = datetime(2018, 6, 14, 2, 19, 42, tzinfo=UTC)  # 10:19:42 in Beijing


@pytest.mark.parametrize("value", [
    "20180614101942000+0800", "20180614101942+0800", "20180614101942", "2018-06-14 10:19:42",
    "2018-06-14T10:19:42+08:00", 1528942782000, "1528942782000", 1528942782, "20180614021942000+0000"])
def test_parse_time_reads_every_1688_spelling_as_aware_utc(value: object) -> None:
    assert m.parse_time(value) == AT


def test_parse_time_keeps_millis_and_gives_none_for_absent() -> None:
    assert m.parse_time("20180614101942123+0800") == AT.replace(microsecond=123000)
    assert m.parse_time(None) is None and m.parse_time("") is None


@pytest.mark.parametrize("value", ["yesterday", True, {"t": 1}, "2018-13-45 10:00:00"])
def test_parse_time_refuses_garbage(value: object) -> None:
    with pytest.raises(ValueError):
        m.parse_time(value)


def test_format_time_writes_shanghai_compact_with_millis() -> None:
    assert m.format_time(AT) == "20180614101942000+0800"


def test_sku_round_trip_and_bad_sku() -> None:
    assert m.parse_sku(MUG) == (610000001, "a1b2c3d4e5f60718293a4b5c6d7e8f90")
    assert m.parse_sku(HOOK) == (610000004, None)
    assert m.sku_of(610000004, None) == HOOK and m.sku_of("610000001", "a1b2c3d4e5f60718293a4b5c6d7e8f90") == MUG
    with pytest.raises(RejectedError, match="offerId"):
        m.parse_sku("GZ-T001-RED-M")


def test_cargo_list_adds_up_repeated_skus_and_sends_offer_id_as_a_number() -> None:
    lines = [SupplierLine("L1", MUG, 2), SupplierLine("L2", HOOK, 1), SupplierLine("L3", MUG, 1)]

    assert m.cargo_list(lines) == [
        {"offerId": 610000001, "specId": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "quantity": 3},
        {"offerId": 610000004, "quantity": 1}]


def test_address_param_uses_text_fields_and_refuses_a_long_or_incomplete_address() -> None:
    assert m.address_param(receiver()) == {
        "fullName": "张小三", "mobile": "13812345678", "provinceText": "浙江省", "cityText": "杭州市",
        "areaText": "西湖区", "townText": "文新街道", "address": "文一西路 100 号 3 幢 501 室"}
    with pytest.raises(RejectedError, match="201 characters") as err:
        m.address_param(receiver(detail="路" * 201))
    assert "路路" not in str(err.value)
    with pytest.raises(RejectedError, match="phone"):
        m.address_param(receiver(phone=" "))


def test_message_is_the_remark_or_the_template_cut_at_500() -> None:
    assert m.message_for(make_config(), request()) == "请用中通"
    config = make_config(message_template="{platform}订单 {platform_order_id} {remark}")
    assert m.message_for(config, request()) == "douyin订单 6920000000000000001 请用中通"
    assert len(m.message_for(make_config(), request(remark="字" * 600)) or "") == 500
    assert m.message_for(make_config(), request(remark="  ")) is None


@pytest.mark.parametrize(("remark", "state"), [
    ("【义乌市】中通快递 义乌分拨中心 已揽收", LogisticsState.PICKED_UP),
    ("快递员已揽件", LogisticsState.PICKED_UP),
    ("【杭州市】快件已发往 杭州转运中心", LogisticsState.IN_TRANSIT),
    ("【杭州市】快递员正在派件", LogisticsState.DELIVERING),
    ("快件正在派送途中", LogisticsState.DELIVERING),
    ("快件已签收，签收人：本人", LogisticsState.DELIVERED),
    ("收件人拒签，快件退回中", LogisticsState.REFUSED),
    ("快件已退回寄件人", LogisticsState.RETURNING),
])
def test_step_state_reads_the_remark_words(remark: str, state: LogisticsState) -> None:
    assert m.step_state(remark) is state


def test_trace_given_a_delivery_failure_step_is_a_problem_not_delivering_and_hides_phones() -> None:
    steps = [{"acceptTime": "2024-05-05 09:00:00", "remark": "【义乌市】中通快递 义乌分拨中心 已揽收"},
             {"acceptTime": "2024-05-06 08:00:00", "remark": "【杭州市】快递员正在派件，电话 13812345678"},
             {"acceptTime": "2024-05-06 10:00:00", "remark": "【杭州市】派件异常：收件人电话无法接通，地址不详"}]
    result = m.trace_from([{"logisticsBillNo": "73001", "logisticsSteps": steps}], "73001", "trace")
    assert result is not None
    assert [e.state for e in result.events] == [LogisticsState.PICKED_UP, LogisticsState.DELIVERING,
                                                LogisticsState.PROBLEM]
    assert result.state is LogisticsState.PROBLEM
    assert result.events[1].text == "【杭州市】快递员正在派件，电话 138****5678"


def test_trace_given_only_a_printed_label_is_no_pickup() -> None:
    steps = [{"acceptTime": "2024-05-05 09:00:00", "remark": "【义乌市】商家已打印电子面单，等待快递员揽收"}]
    result = m.trace_from([{"logisticsBillNo": "73002", "logisticsSteps": steps}], "73002", "trace")
    assert result is not None and result.state is LogisticsState.NONE


@pytest.mark.parametrize(("name", "code", "expected"), [
    ("中通快递(ZTO)", "ZTO", "zhongtong"), ("圆通速递（YTO）", "", "yuantong"), ("", "YUNDA", "yunda"),
    ("某某物流(XX)", "XX", None)])
def test_carrier_of_strips_the_bracketed_suffix(name: str, code: str, expected: str | None) -> None:
    assert m.carrier_of(name, code) == expected


def test_yuan_to_fen_and_success_flag() -> None:
    assert m.yuan_to_fen(42.5) == 4250 and m.yuan_to_fen("0.1") == 10 and m.yuan_to_fen("x") is None
    assert m.is_true(True) and m.is_true("true") and not m.is_true("false") and not m.is_true(None)


def test_objects_refuses_a_non_list_naming_the_field() -> None:
    with pytest.raises(ProtocolError, match="1688 api: cargoList is not a list"):
        m.objects({"a": 1}, "api", "cargoList")
