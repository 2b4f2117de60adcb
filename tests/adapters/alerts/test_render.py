"""Rendering: each service's body, size limits in bytes with CJK text, whole lines and "… N more"."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from syncd import i18n
from syncd.adapters.alerts import render
from syncd.domain import Message, Severity
from tests.adapters.alerts.conftest import message

CJK_LINE = "订单 6921734857 已付款 49 小时仍未发货，供应商：义乌小商品"  # 3 bytes per CJK char


def lines_of(n: int) -> list[str]:
    return [f"{i:04d} {CJK_LINE}" for i in range(n)]


def _json_len(body: Any) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def test_clip_never_cuts_inside_a_utf8_character() -> None:
    text = "订单超时" * 10  # 120 bytes
    for limit in range(4, 40):
        out = render.clip(text, limit)
        assert len(out.encode()) <= limit
        assert out.endswith("…")
        assert out[:-1] == text[: len(out) - 1]  # a whole-character prefix
    assert render.clip("short", 10) == "short"


def test_fit_keeps_whole_leading_lines_and_counts_the_rest() -> None:
    lines = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]

    def build(kept: Any, omitted: int) -> str:
        return "\n".join([*kept, *([render.more_line(omitted)] if omitted else [])])

    def size(text: str) -> int:
        return len(text.encode())

    # the whole is 24 bytes; "… N more" is 10 ("…" is 3 bytes) and replaces the lines that do not fit
    assert render.fit(lines, build, size, 24) == "aaaa\nbbbb\ncccc\ndddd\neeee"
    assert render.fit(lines, build, size, 23) == "aaaa\nbbbb\n… 3 more"  # 3 lines + "… 2 more" is 25
    assert render.fit(lines, build, size, 20) == "aaaa\nbbbb\n… 3 more"
    assert render.fit(lines, build, size, 19) == "aaaa\n… 4 more"
    assert render.fit(lines, build, size, 10) == "… 5 more"


def test_fit_given_a_limit_below_the_title_raises() -> None:
    with pytest.raises(ValueError, match="cannot hold even the title"):
        render.fit(["x"], lambda kept, omitted: "a long title " + str(omitted), len, 5)


def test_wecom_markdown_with_cjk_stays_within_4096_bytes_and_says_how_many_were_left_out() -> None:
    body = render.wecom(Message("订单超时未发货", lines_of(300)), msgtype="markdown", user_ids=["zhangsan"])
    content = body["markdown"]["content"]
    raw = content.encode()
    assert len(raw) <= 4096
    raw.decode()  # whole characters only
    shown = content.split("\n")
    kept = [line for line in shown if line.endswith(CJK_LINE)]
    assert kept == lines_of(300)[: len(kept)]  # whole lines, in order
    assert shown[-2] == f"… {300 - len(kept)} more"
    assert shown[-1] == "<@zhangsan>"  # mentions survive truncation
    assert 4096 - len(raw) < len(lines_of(1)[0].encode()) + 10  # and the room was used


def test_wecom_text_is_limited_to_2048_bytes_and_carries_the_mention_lists() -> None:
    body = render.wecom(Message("t", lines_of(100)), msgtype="text", user_ids=["lisi"], mobiles=["13800000000"],
                        at_all=True)
    assert body["msgtype"] == "text"
    assert len(body["text"]["content"].encode()) <= 2048
    assert body["text"]["content"].endswith("more")
    assert body["text"]["mentioned_list"] == ["lisi", "@all"]
    assert body["text"]["mentioned_mobile_list"] == ["13800000000"]


def test_wecom_markdown_shows_the_severity_in_colour() -> None:
    body = render.wecom(message(1, severity=Severity.INFO), msgtype="markdown")
    assert body["markdown"]["content"].startswith('**<font color="info">[INFO]</font> 订单超时未发货**\n')


def test_dingtalk_markdown_has_the_title_a_list_and_the_mentions_in_text() -> None:
    body = render.dingtalk(message(2, severity=Severity.CRITICAL), msgtype="markdown", keyword=None,
                           mobiles=["13800000000"], user_ids=["u1"], at_all=False)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[CRITICAL] 订单超时未发货"
    assert body["markdown"]["text"] == ("#### [CRITICAL] 订单超时未发货\n\n- 订单 1 已付款 49 小时仍未发货\n"
                                        "- 订单 2 已付款 49 小时仍未发货\n\n@13800000000 @u1")
    assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["u1"], "isAtAll": False}


def test_dingtalk_request_body_stays_under_20000_bytes() -> None:
    body = render.dingtalk(Message("t", lines_of(2000)), msgtype="markdown", keyword=None)
    assert _json_len(body) <= render.DINGTALK_MAX_BYTES
    assert body["markdown"]["text"].rsplit("\n", 1)[1].startswith("… ")
    text_body = render.dingtalk(Message("t", lines_of(2000)), msgtype="text", keyword=None)
    assert _json_len(text_body) <= render.DINGTALK_MAX_BYTES
    assert text_body["text"]["content"].endswith(" more")


def test_keyword_is_put_in_front_of_a_title_that_lacks_it() -> None:
    with_kw = render.dingtalk(message(1, title="库存不足"), msgtype="text", keyword="告警")
    assert with_kw["text"]["content"].startswith("[WARNING] 告警 库存不足\n")
    already = render.dingtalk(message(1, title="告警：库存不足"), msgtype="text", keyword="告警")
    assert already["text"]["content"].startswith("[WARNING] 告警：库存不足\n")


def test_long_title_is_clipped_at_a_character_boundary() -> None:
    body = render.feishu(Message("超" * 1000, ["x"]), msg_type="post", keyword=None)
    title = body["content"]["post"]["zh_cn"]["title"]
    assert len(title.encode()) <= render.TITLE_MAX_BYTES and title.endswith("…")


def test_a_newline_inside_a_line_does_not_break_the_list() -> None:
    body = render.slack(Message("t", ["first\nsecond", "third"]))
    assert body["text"] == "*[WARNING] t*\n• first second\n• third"


def test_feishu_post_has_one_paragraph_per_line_and_the_at_tags() -> None:
    body = render.feishu(message(2), msg_type="post", keyword=None, user_ids=["ou_1"], at_all=True)
    post = body["content"]["post"]["zh_cn"]
    assert body["msg_type"] == "post"
    assert post["title"] == "[WARNING] 订单超时未发货"
    assert post["content"] == [[{"tag": "text", "text": "订单 1 已付款 49 小时仍未发货"}],
                               [{"tag": "text", "text": "订单 2 已付款 49 小时仍未发货"}],
                               [{"tag": "at", "user_id": "ou_1"}, {"tag": "at", "user_id": "all"}]]


def test_feishu_text_and_its_limit_keep_room_for_the_signature() -> None:
    body = render.feishu(Message("t", lines_of(1000)), msg_type="text", keyword=None, at_all=True)
    assert _json_len(body) + render.FEISHU_SIGN_RESERVE <= render.FEISHU_MAX_BYTES
    assert body["content"]["text"].endswith('<at user_id="all">所有人</at>')
    signed_extra = ',"timestamp":"1700000000","sign":"G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="'
    assert len(signed_extra.encode()) <= render.FEISHU_SIGN_RESERVE


def test_slack_escapes_control_characters_but_not_mentions() -> None:
    body = render.slack(Message("a<b>&c", ["<!everyone> & more"]), user_ids=["U123"], at_all=True)
    assert body["text"] == "*[WARNING] a&lt;b&gt;&amp;c*\n• &lt;!everyone&gt; &amp; more\n<@U123> <!channel>"


def test_email_has_subject_plain_and_escaped_html() -> None:
    subject, plain, page = render.email(Message("库存<不足>", ["a & b", "<script>"], Severity.CRITICAL),
                                        subject_prefix="[syncd]")
    assert subject == "[syncd] [CRITICAL] 库存<不足>"
    assert plain == "[CRITICAL] 库存<不足>\n\n- a & b\n- <script>"
    assert "<li>a &amp; b</li><li>&lt;script&gt;</li>" in page
    assert "<script>" not in page


def test_email_limit_counts_both_bodies() -> None:
    _, plain, page = render.email(Message("t", lines_of(500)), subject_prefix="", limit=8000)
    assert len(plain.encode()) + len(page.encode()) <= 8000
    assert plain.endswith(" more") and " more</p>" in page


def test_webhook_body_has_the_documented_fields_and_ends_a_cut_list_with_the_count() -> None:
    body = render.webhook(Message("t", lines_of(500), Severity.INFO), sent_at="2023-11-14T22:13:20+00:00",
                          limit=4000)
    assert set(body) == {"title", "severity", "lines", "text", "sent_at"}
    assert body["severity"] == "info" and body["title"] == "t"
    assert _json_len(body) <= 4000
    kept = body["lines"][:-1]
    assert kept == lines_of(500)[: len(kept)]
    assert body["lines"][-1] == f"… {500 - len(kept)} more"
    assert body["text"].endswith(body["lines"][-1])


def test_webhook_body_untouched_when_it_fits() -> None:
    body = render.webhook(message(2), sent_at="s", limit=64_000)
    assert body["lines"] == message(2).lines
    assert body["text"] == "[WARNING] 订单超时未发货\n- 订单 1 已付款 49 小时仍未发货\n- 订单 2 已付款 49 小时仍未发货"


# ---- the words of our own in the active language ----------------------------------------------------


def test_in_chinese_the_severity_label_and_the_more_line_are_chinese_and_still_fit() -> None:
    title = "订单 4829（店铺 dy1）已发货但无揽收记录（圆通 YT123），请联系供应商"
    msg = Message(title, [f"第 {i} 行" * 40 for i in range(300)], Severity.CRITICAL)
    with i18n.use("zh-CN"):
        body = render.dingtalk(msg, msgtype="text", keyword="告警")
        assert render.headline(msg, "告警") == f"[严重] 告警 {title}"
        assert render.headline(Message(" ", [], Severity.INFO)) == "[通知] （无标题）"
        wecom = render.wecom(msg, msgtype="markdown")
    content = body["text"]["content"]
    assert content.startswith("[严重] 告警 订单 4829") and len(render.encode_json(body)) <= render.DINGTALK_MAX_BYTES
    assert re.search(r"… 还有 \d+ 条$", content)
    assert '<font color="warning">[严重]</font>' in wecom["markdown"]["content"]
    with i18n.use("en"):
        assert render.headline(msg).startswith("[CRITICAL] ")
        assert render.more_line(3) == "… 3 more"
