"""Carrier trace lines → states: trouble words before the step words they share a sentence with."""

from __future__ import annotations

import pytest

from syncd.domain import LogisticsState as S
from syncd.trace_words import classify, mask_phones, state_of

# Lines as carriers write them in 1688 traces and Kuaidi100 contexts (numbers and names made up).
LINES = [
    # label printed, nobody collected it: not a pickup
    ("【义乌市】商家已打印电子面单，等待快递员揽收", S.NONE),
    ("您的包裹已下单，待揽收", S.NONE),
    # picked up
    ("【义乌市】中通快递 义乌分拨中心 已揽收", S.PICKED_UP),
    ("【金华市】韵达快递 浙江金华义乌公司-某某 已揽件", S.PICKED_UP),
    ("顺丰速运 已收取快件", S.PICKED_UP),
    ("【义乌市】快递员已取件，感谢使用圆通速递", S.PICKED_UP),
    ("【义乌市】中国邮政 已收寄", S.PICKED_UP),
    # in transit
    ("【杭州市】快件已发往 杭州转运中心", S.IN_TRANSIT),
    ("【杭州转运中心】已到达，下一站【杭州市西湖区公司】", S.IN_TRANSIT),
    ("快件在【上海浦东转运中心】完成分拣，准备发往【北京顺义集散中心】", S.IN_TRANSIT),
    ("运输中，干线运输 已离开【广州白云区中转场】", S.IN_TRANSIT),
    # out for delivery, or waiting in a locker / station
    ("【杭州市】快递员正在派件，请保持电话畅通", S.DELIVERING),
    ("【杭州市】西湖区公司派件员：王师傅 电话：138****5678 正在为您派送", S.DELIVERING),
    ("【杭州市】您的快件已存放至【菜鸟驿站·文三路店】，请凭取件码 3-2-1018 及时领取", S.DELIVERING),
    ("【杭州市】快件已到达【文三路代收点】，请及时取件", S.DELIVERING),
    ("您的快件已放入丰巢快递柜【文三路1号柜】，取件码 12345678", S.DELIVERING),
    # delivered
    ("【杭州市】快件已签收，签收人：本人，如有疑问请电联快递员", S.DELIVERED),
    ("已签收，签收人凭取货码签收。感谢使用中通快递，期待再次为您服务", S.DELIVERED),
    ("【杭州市】您的快件已由菜鸟驿站代收点签收，如有问题请联系站点", S.DELIVERED),
    ("快件已妥投", S.DELIVERED),
    ("派件异常后签收，签收人：门卫", S.DELIVERED),
    # trouble: the step word (派件 / 派送 / 签收 / 驿站) is there too
    ("【杭州市】派件异常：收件人电话无法接通，地址不详", S.PROBLEM),
    ("【杭州市】快件派送不成功（地址不详），待再次派送", S.PROBLEM),
    ("【杭州市】快递员联系不上收件人，快件暂存网点", S.PROBLEM),
    ("【北京市】快件滞留：因天气原因延误派送", S.PROBLEM),
    ("【成都市】问题件：外包装破损，已联系寄件人", S.PROBLEM),
    ("【成都市】快件丢失，请联系客服处理", S.PROBLEM),
    ("【乌鲁木齐市】收件地址超区，无法派送", S.PROBLEM),
    ("您的快件在【文三路驿站】超时未取", S.PROBLEM),
    ("快件已被拦截，等待处理", S.PROBLEM),
    ("疑难件：收件人电话错误", S.PROBLEM),
    ("揽收失败：商家未交件", S.PROBLEM),
    ("【武汉市】因天气原因暂停派送，恢复后尽快为您派送", S.PROBLEM),
    # refused, returning, returned
    ("【杭州市】收件人拒收，快件将退回", S.REFUSED),
    ("收件人拒签，快件退回中", S.REFUSED),
    ("【杭州市】快件已退回寄件人，正在派送途中", S.RETURNING),
    ("【金华市】退件：地址错误，原件返回", S.RETURNING),
    ("【义乌市】退回件已签收，签收人：寄件人", S.RETURNED),
    ("【义乌市】快件已退回至寄件人，签收人：原寄件人", S.RETURNED),
]


@pytest.mark.parametrize(("line", "state"), LINES, ids=[line for line, _ in LINES])
def test_a_realistic_trace_line_reads_as_its_state(line: str, state: S) -> None:
    assert state_of(line) is state


def test_the_table_covers_every_state_with_many_lines() -> None:
    assert len(LINES) >= 30 and {state for _, state in LINES} == set(S)


def test_a_condition_a_person_wrote_is_no_fact_about_the_parcel() -> None:
    assert state_of("【杭州市】快件已到达【杭州转运中心】，如有异常请拨打客服电话") is S.IN_TRANSIT
    assert state_of("快件已签收。若需退回请联系寄件人") is S.DELIVERED
    assert state_of("【安检】快件安检无异常，已发往杭州") is S.IN_TRANSIT


def test_a_line_without_known_words_is_none_for_the_caller_to_decide() -> None:
    assert classify("【杭州市】已发出") is None
    assert state_of("【杭州市】已发出", S.DELIVERING) is S.DELIVERING


def test_mask_phones_hides_the_middle_of_mobiles_only() -> None:
    assert mask_phones("派件员 13812345678，座机 0571-88888888") == "派件员 138****5678，座机 0571-88888888"
