"""DingTalk robot sink over respx: signed URL, body, every error code, the 20-a-minute guard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.config import DingTalkChannel
from syncd.adapters.alerts.dingtalk import DingTalkSink
from syncd.errors import RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import (
    DING_TOKEN,
    NOW,
    SECRET,
    FakeMonotonic,
    assert_no_secret,
    message,
    sent_json,
)

URL = "https://oapi.dingtalk.com/robot/send"


def make(ctx: AdapterContext, mono: FakeMonotonic, **changes: Any) -> DingTalkSink:
    raw: dict[str, Any] = {"id": "ops-ding", "kind": "dingtalk", "access_token": DING_TOKEN, "secret": SECRET}
    raw.update(changes)
    return DingTalkSink(DingTalkChannel.model_validate(raw), ctx, monotonic=mono)


def answer(code: int, msg: str = "ok") -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": msg})


@pytest.fixture
def sink(ctx: AdapterContext, mono: FakeMonotonic, clock_at: time_machine.Traveller) -> DingTalkSink:
    return make(ctx, mono)


def test_send_posts_markdown_to_the_signed_robot_url(sink: DingTalkSink, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))

    sink.send(message(2))

    request = route.calls.last.request
    # the reference vector: secret SECtest at 1700000000000 ms, '=' of the Base64 URL-encoded
    assert request.url.query.decode() == (f"access_token={DING_TOKEN}&timestamp=1700000000000"
                                          "&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    body = sent_json(request)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "[WARNING] 订单超时未发货"
    assert "- 订单 2 已付款 49 小时仍未发货" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}


def test_send_counts_the_call_in_call_stats(sink: DingTalkSink, ctx: AdapterContext, api: respx.MockRouter) -> None:
    api.post(url__startswith=URL).mock(return_value=answer(0))
    sink.send(message())
    assert ctx.stats.calls[("alerts", "dingtalk")] == 1


def test_signature_plus_slash_and_equals_are_percent_encoded(ctx: AdapterContext, mono: FakeMonotonic,
                                                             api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    with time_machine.travel(1_700_000.0, tick=False):  # 1700000000 ms: sign 4a+I/5ws+…/ew=
        make(ctx, mono).send(message())
    query = route.calls.last.request.url.query.decode()
    assert query.endswith("&timestamp=1700000000&sign=4a%2BI%2F5ws%2BNoapnHErfi4wLu5as2XKn44STmnPCuf%2Few%3D")


def test_timestamp_is_exact_milliseconds(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    with time_machine.travel(NOW + timedelta(milliseconds=123), tick=False):
        make(ctx, mono).send(message())
    assert route.calls.last.request.url.params["timestamp"] == "1700000000123"


def test_unsigned_robot_sends_only_the_token(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter,
                                             clock_at: time_machine.Traveller) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    make(ctx, mono, secret=None, msgtype="text", keyword="告警",
         mentions={"mobiles": ["13800000000"], "all": True}).send(message(1, title="库存不足"))
    request = route.calls.last.request
    assert request.url.query.decode() == f"access_token={DING_TOKEN}"
    body = sent_json(request)
    assert body["text"]["content"] == "[WARNING] 告警 库存不足\n订单 1 已付款 49 小时仍未发货\n@13800000000"
    assert body["at"] == {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": True}


@pytest.mark.parametrize(("code", "msg", "hint"), [
    (310000, "keywords not in content", "keyword"),
    (310000, "sign not match", "secret"),
    (310000, "invalid timestamp", "clock"),
    (310000, "ip 203.0.113.9 not in whitelist", "whitelist"),
    (400402, "缺少参数 markdown.title", "title"),
    (300001, "token is not exist", "access_token"),
    (123456, "something new", ""),
])
def test_refusals_are_rejected_without_retry_and_say_what_to_fix(
        sink: DingTalkSink, api: respx.MockRouter, code: int, msg: str, hint: str) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(code, msg))

    with pytest.raises(RejectedError) as caught:
        sink.send(message())

    assert route.call_count == 1
    text = str(caught.value)
    assert text.startswith(f"dingtalk robot 'ops-ding': error {code} ({msg})")
    assert hint in text
    assert caught.value.code == str(code)
    assert_no_secret(text)


def test_130101_is_rate_limited_for_ten_minutes_and_the_sink_stays_quiet(
        sink: DingTalkSink, api: respx.MockRouter, mono: FakeMonotonic) -> None:
    route = api.post(url__startswith=URL).mock(side_effect=[
        answer(130101, "send too fast, exceed 20 times per minute"), answer(0)])

    with pytest.raises(RateLimitedError) as caught:
        sink.send(message())
    assert caught.value.retry_after == 600
    assert caught.value.code == "130101"
    assert route.call_count == 1  # 600 s is beyond the retry budget: not retried now

    with pytest.raises(RateLimitedError) as quiet:
        sink.send(message())
    assert route.call_count == 1  # refused locally: another request would prolong the mute
    assert quiet.value.code == "local" and quiet.value.retry_after == pytest.approx(600)

    mono.advance(600)
    sink.send(message())
    assert route.call_count == 2


def test_the_21st_message_in_a_minute_is_held_back_locally(
        sink: DingTalkSink, api: respx.MockRouter, mono: FakeMonotonic, waits: list[float]) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    for _ in range(20):
        sink.send(message())
        mono.advance(1)

    # the first send leaves the window (a minute and 3 s of headroom) 43 s from now: the retry policy
    # (limit 20 s) gives up at once
    with pytest.raises(RateLimitedError, match="at its limit of 20 messages a minute") as caught:
        sink.send(message())
    assert route.call_count == 20
    assert caught.value.retry_after == pytest.approx(43)
    assert waits == []

    mono.advance(43)
    sink.send(message())
    assert route.call_count == 21


def test_lowered_per_minute_is_respected(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter,
                                         clock_at: time_machine.Traveller) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    sink = make(ctx, mono, per_minute=2)
    assert sink.per_minute == 2
    sink.send(message())
    sink.send(message())
    with pytest.raises(RateLimitedError):
        sink.send(message())
    assert route.call_count == 2


def test_system_busy_is_retried_then_delivered(sink: DingTalkSink, api: respx.MockRouter, waits: list[float]) -> None:
    route = api.post(url__startswith=URL).mock(side_effect=[answer(-1, "系统繁忙"), answer(0)])
    sink.send(message())
    assert route.call_count == 2
    assert len(waits) == 1


def test_system_busy_every_time_is_transient_after_the_attempts(sink: DingTalkSink, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(-1, "系统繁忙"))
    with pytest.raises(TransientError, match=r"dingtalk robot 'ops-ding': error -1 \(系统繁忙\)") as caught:
        sink.send(message())
    assert not isinstance(caught.value, RateLimitedError)
    assert route.call_count == 3


def test_each_attempt_is_signed_afresh(sink: DingTalkSink, api: respx.MockRouter,
                                       clock_at: time_machine.Traveller) -> None:
    stamps: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        stamps.append(request.url.params["timestamp"])
        clock_at.shift(2)
        return answer(-1, "系统繁忙") if len(stamps) == 1 else answer(0)

    api.post(url__startswith=URL).mock(side_effect=reply)
    sink.send(message())
    assert stamps == ["1700000000000", "1700000002000"]


def test_an_errmsg_echoing_the_token_is_scrubbed(sink: DingTalkSink, api: respx.MockRouter) -> None:
    api.post(url__startswith=URL).mock(return_value=answer(300001, f"token {DING_TOKEN} is not exist"))
    with pytest.raises(RejectedError) as caught:
        sink.send(message())
    assert_no_secret(str(caught.value))
    assert_no_secret(str(caught.value.platform_message))
    assert "token *** is not exist" in str(caught.value)


def test_repr_of_sink_and_config_hide_the_credentials(sink: DingTalkSink) -> None:
    assert repr(sink) == "<DingTalkSink dingtalk robot 'ops-ding'>"
    config = DingTalkChannel.model_validate({"id": "x", "kind": "dingtalk", "access_token": DING_TOKEN,
                                             "secret": SECRET})
    assert_no_secret(repr(config))
    assert_no_secret(str(config.model_dump()))
