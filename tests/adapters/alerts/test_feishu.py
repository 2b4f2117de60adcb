"""Feishu / Lark bot sink over respx: signature in the body, codes, the 5-a-second guard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.config import FeishuChannel
from syncd.adapters.alerts.feishu import FeishuSink
from syncd.errors import RateLimitedError, RejectedError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import FEISHU_TOKEN, SECRET, FakeMonotonic, assert_no_secret, message, sent_json

URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"


def make(ctx: AdapterContext, mono: FakeMonotonic, **changes: Any) -> FeishuSink:
    raw: dict[str, Any] = {"id": "ops-feishu", "kind": "feishu", "token": FEISHU_TOKEN, "secret": SECRET}
    raw.update(changes)
    return FeishuSink(FeishuChannel.model_validate(raw), ctx, monotonic=mono)


def answer(code: int, msg: str = "success") -> httpx.Response:
    return httpx.Response(200, json={"code": code, "msg": msg, "data": {}})


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Every test here runs at the frozen NOW (1700000000, the reference vector's time)."""


def test_signed_post_carries_timestamp_seconds_and_the_feishu_sign_in_the_body(
        ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=answer(0))

    make(ctx, mono).send(message(1))

    body = sent_json(route.calls.last.request)
    assert body["timestamp"] == "1700000000"  # a string, in seconds
    assert body["sign"] == "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="
    assert body["sign"] != "4a+I/5ws+NoapnHErfi4wLu5as2XKn44STmnPCuf/ew="  # not DingTalk's variant
    assert body["msg_type"] == "post"
    assert body["content"]["post"]["zh_cn"]["title"] == "[WARNING] 订单超时未发货"
    assert route.calls.last.request.url.query == b""


def test_unsigned_bot_sends_no_signature_fields(ctx: AdapterContext, mono: FakeMonotonic,
                                                api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=answer(0))
    make(ctx, mono, secret=None, msg_type="text").send(message(1))
    assert sent_json(route.calls.last.request) == {
        "msg_type": "text", "content": {"text": "[WARNING] 订单超时未发货\n订单 1 已付款 49 小时仍未发货"}}


def test_lark_posts_to_the_larksuite_host(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(f"https://open.larksuite.com/open-apis/bot/v2/hook/{FEISHU_TOKEN}").mock(
        return_value=answer(0))
    sink = make(ctx, mono, kind="lark")
    sink.send(message())
    assert route.call_count == 1
    assert sink.kind == "lark" and sink.label == "lark robot 'ops-feishu'"


def test_older_statuscode_answer_is_success(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, json={"StatusCode": 0, "StatusMessage": "success"}))
    make(ctx, mono).send(message())
    assert route.call_count == 1


def test_19021_signature_refused_is_rejected_with_the_hint(ctx: AdapterContext, mono: FakeMonotonic,
                                                           api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=answer(
        19021, "sign match fail or timestamp is not within one hour from current time"))
    with pytest.raises(RejectedError) as caught:
        make(ctx, mono).send(message())
    assert route.call_count == 1
    assert caught.value.code == "19021"
    assert "check secret" in str(caught.value) and "clock" in str(caught.value)
    assert str(caught.value).startswith("feishu robot 'ops-feishu': error 19021")
    assert_no_secret(str(caught.value))


def test_older_statuscode_failure_is_read_too(ctx: AdapterContext, mono: FakeMonotonic,
                                              api: respx.MockRouter) -> None:
    api.post(URL).mock(return_value=httpx.Response(200, json={"StatusCode": 19021, "StatusMessage": "sign fail"}))
    with pytest.raises(RejectedError, match=r"error 19021 \(sign fail\)"):
        make(ctx, mono).send(message())


@pytest.mark.parametrize("code", [11232, 9499])
def test_rate_codes_are_rate_limited(code: int, ctx: AdapterContext, mono: FakeMonotonic,
                                     api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=answer(code, "frequency limited"))
    with pytest.raises(RateLimitedError) as caught:
        make(ctx, mono).send(message())
    assert caught.value.retry_after == 60 and caught.value.code == str(code)
    assert route.call_count == 1


def test_keyword_refusal_says_to_set_the_keyword(ctx: AdapterContext, mono: FakeMonotonic,
                                                 api: respx.MockRouter) -> None:
    api.post(URL).mock(return_value=answer(19024, "Key Words Not Found"))
    with pytest.raises(RejectedError, match="set keyword in the channel"):
        make(ctx, mono).send(message())


def test_at_most_five_a_second(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter,
                               waits: list[float]) -> None:
    route = api.post(URL).mock(return_value=answer(0))
    sink = make(ctx, mono)
    for _ in range(6):
        sink.send(message())
    # the 6th waited (a fake sleep) for the 1-second window, with headroom, instead of drawing 11232
    assert route.call_count == 6
    assert waits == [pytest.approx(1.25)]
