"""Hold details: stored in English from one template, read in the reader's language."""

from __future__ import annotations

import pytest

from syncd import details, i18n
from syncd.details import detail_text
from syncd.domain import Receiver
from syncd.i18n import _


def test_detail_given_chinese_renders_the_template_with_its_values_translated():
    stored = details.AFTER_DECRYPTION.format(problem=details.RECEIVER_LACKS.format(fields="phone, street address"))
    assert stored == "after decryption: receiver lacks phone, street address"  # what the database keeps
    with i18n.use("zh-CN"):
        assert detail_text(stored) == "解密后发现：收件信息缺少收件人电话、详细地址"
        assert detail_text(details.NO_ROUTE.format(skus="SB-HAT-NEW, SB-BAG")) == "SKU SB-HAT-NEW, SB-BAG 没有配置路由"
    assert detail_text(stored) == stored  # English: as stored


def test_detail_given_words_of_a_platform_shows_them_as_they_are():
    with i18n.use("zh-CN"):
        assert detail_text("风控审核中") == "风控审核中"
        assert detail_text("") == ""
        assert detail_text(None) == ""


@pytest.mark.parametrize("template", details.TEMPLATES)
def test_every_template_reads_back_in_chinese(template: str):
    values = {name: "X1" for name in ("fields", "problem", "skus", "suppliers", "shop", "order", "parts", "code")}
    stored = template.format(**values)
    with i18n.use("zh-CN"):
        shown = detail_text(stored)
        assert shown == _(template).format(**{k: detail_text(v) if k == "problem" else v for k, v in values.items()})
        assert shown != stored


def test_platform_not_ready_reasons_read_in_chinese_each_one_of_several():
    from adapters.douyin.mapping import ORDER_STATUS
    from adapters.pdd.mapping import not_ready_reasons
    from adapters.taobao.mapping import TRADE_STATUS

    pdd = details.REASONS_JOINED.join(not_ready_reasons(
        {"confirm_status": 1, "group_status": 0, "risk_control_status": 1, "order_tag_list": []}, "order 1"))
    assert pdd == "group buy still forming (group_status 0); under risk review (risk_control_status 1)"  # as stored
    with i18n.use("zh-CN"):
        assert detail_text(pdd) == "拼团尚未成团（group_status 0）；平台风控审核中（risk_control_status 1）"
        assert detail_text(ORDER_STATUS[105][2]) == "已付款，平台尚未放单（105）"
        forbid = detail_text(TRADE_STATUS["PAID_FORBID_CONSIGN"][2])
        assert forbid.startswith("已付款，但淘宝暂不允许发货（PAID_FORBID_CONSIGN")
        assert detail_text("风控审核中; X") == "风控审核中; X"  # no part is ours: as it is
    assert detail_text(pdd) == pdd


def test_receiver_problem_names_the_missing_fields_or_the_platforms_reason():
    full = Receiver("张三", "13800001234", "浙江省", "杭州市", "西湖区", "", "文三路1号")
    assert details.receiver_problem(full) is None
    assert details.receiver_problem(Receiver("张三", "", "浙江省", "杭州市", "", "", "")) == (
        "receiver lacks phone, detail")
    assert details.receiver_problem("decrypt quota used up") == "decrypt quota used up"
    assert details.receiver_problem(None) == "no receiver"
