"""A carrier's trace line (Chinese free text) → the normalised state it speaks of.

Used where a source gives no state code of its own: 1688's getLogisticsTraceInfo steps (only a remark), and
Kuaidi100 nodes without a status. Carriers write trouble into the same sentence as the step it happened on
("【杭州市】派件异常：收件人电话无法接通，地址不详"), so the table is read in order and trouble comes before the
ordinary steps: a line that names a problem is a problem whatever step it also names. Words a person wrote as a
condition ("如有疑问请联系…", "如需退回…") are no fact about the parcel and are dropped before matching.
"""

from __future__ import annotations

import re

from syncd.domain import LogisticsState

S = LogisticsState

# Read in order after _RETURNED, first match wins. Each row is one reason to be where it is in the order:
WORDS: tuple[tuple[tuple[str, ...], LogisticsState], ...] = (
    # back with the sender (before 签收 and before 退回; see also _RETURNED)
    (("退回成功", "已退回妥投", "已退回至寄件人"), S.RETURNED),
    # refused by the receiver (before 签收: "拒签" and "拒绝签收" hold 签 / 签收)
    (("拒收", "拒签", "拒绝签收", "拒绝接收", "拒付"), S.REFUSED),
    # on its way back (before 签收 and the moving words: "退回中，正在派送" is a return)
    (("退回", "退件", "退货", "返回寄件", "返还寄件", "原件返回", "退寄", "退还寄件"), S.RETURNING),
    # delivered after a failed attempt: 302 派件异常后签收 is a delivery, not trouble
    (("异常后签收", "后已签收", "最终签收"), S.DELIVERED),
    # trouble: before every ordinary step word (派件 / 派送 / 签收 / 揽收 / 驿站 appear in these lines too)
    (("异常", "疑难", "问题件", "问题快件", "无法联系", "联系不上", "联系不到", "无人接听", "电话无法接通",
      "电话不通", "电话错误", "电话有误", "电话停机", "电话空号", "号码错误", "地址不详", "地址错误", "地址有误",
      "地址不全", "地址不准确", "地址不清", "超区", "超派", "超出派送范围", "滞留", "破损", "损坏", "丢失",
      "遗失", "丢件", "失败", "不成功", "无法派送", "无法投递", "无法送达", "未妥投", "未能派送", "未能投递",
      "拦截", "延误", "暂停派送", "暂停揽收", "无法发出", "无法揽收", "超时未取", "超时未签收", "错分", "错发",
      "禁运", "违禁", "安检不通过", "扣件", "扣留", "家中无人", "无人签收", "无人收件"), S.PROBLEM),
    # not signed for yet (before 签收)
    (("待签收", "等待签收", "未签收"), S.DELIVERING),
    # delivered: signed for, or collected from a locker by the buyer
    (("签收", "已妥投", "妥投", "已领取", "已提取"), S.DELIVERED),
    # a label printed, nobody collected it yet (before 揽收: "等待快递员揽收" is no pickup)
    (("待揽收", "等待揽收", "等待快递员揽收", "等待揽件", "待揽件", "已下单", "电子面单", "面单已打印",
      "已打单"), S.NONE),
    # out for delivery, or waiting in a locker or pick-up station
    (("派送", "派件", "投递中", "正在投递", "配送中", "驿站", "代收点", "快递柜", "丰巢", "自提", "待取件",
      "请及时取件", "请及时领取", "取件码", "投柜", "已存放"), S.DELIVERING),
    # picked up by the carrier
    (("揽收", "揽件", "已收件", "已收取", "收寄", "已揽", "快递员已取件"), S.PICKED_UP),
)

# Signed for after a return, or by the sender: back home ("退回件已签收，签收人：寄件人")
_RETURNED = re.compile(r"(?:退回|退件|退货|返回寄件|原件返回)[^，。,;；]*(?:签收|妥投)|寄件人[^，。,;；]{0,4}签收"
                       r"|签收人[:：]\s*(?:原)?寄件人")
# A clause that starts with one of these is a condition ("如有疑问请联系派件员"), read up to its punctuation.
_CONDITIONAL = re.compile(r"(?:如有|如需|如遇|如您|如果|若有|若需|若遇|若您)[^，。,.;；！!？?\n]*")
# Phrases that hold a word of the table but say the opposite
_NOISE = ("无异常", "未见异常", "没有异常", "未发现异常")

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")

# States that call for a person; a text that says one of these outranks a moving state given without a reason
ALARMING = frozenset({S.PROBLEM, S.REFUSED, S.RETURNING, S.RETURNED})


def classify(text: str) -> LogisticsState | None:
    """The state a trace line speaks of; None when it names no known step (the caller decides: in transit)."""
    words = _CONDITIONAL.sub("", text)
    for noise in _NOISE:
        words = words.replace(noise, "")
    if _RETURNED.search(words):
        return S.RETURNED
    for table, state in WORDS:
        if any(w in words for w in table):
            return state
    return None


def mask_phones(text: str) -> str:
    """Courier and receiver mobiles inside trace text lose their middle four digits."""
    return _MOBILE.sub(r"\1****\2", text)


def state_of(text: str, default: LogisticsState = S.IN_TRANSIT) -> LogisticsState:
    """:func:`classify`, or ``default`` for a line without known words (a scan between two hubs)."""
    found = classify(text)
    return default if found is None else found


__all__ = ["ALARMING", "WORDS", "classify", "mask_phones", "state_of"]
