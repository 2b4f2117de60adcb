"""WeCom robot sink over respx: URL with the key, markdown / text bodies, errcodes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.config import WeComChannel
from syncd.adapters.alerts.wecom import WeComSink
from syncd.errors import RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import WECOM_KEY, FakeMonotonic, assert_no_secret, message, sent_json

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"


def make(ctx: AdapterContext, mono: FakeMonotonic, **changes: Any) -> WeComSink:
    raw: dict[str, Any] = {"id": "ops-wecom", "kind": "wecom", "key": WECOM_KEY}
    raw.update(changes)
    return WeComSink(WeComChannel.model_validate(raw), ctx, monotonic=mono)


def answer(code: int, msg: str = "ok") -> httpx.Response:
    return httpx.Response(200, json={"errcode": code, "errmsg": msg})


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Every test here runs at the frozen NOW."""


def test_markdown_goes_to_the_key_url_with_user_mentions_in_the_content(
        ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    sink = make(ctx, mono, mentions={"user_ids": ["zhangsan"]})

    sink.send(message(1))

    request = route.calls.last.request
    assert request.url.query.decode() == f"key={WECOM_KEY}"
    content = '**<font color="warning">[WARNING]</font> 订单超时未发货**\n订单 1 已付款 49 小时仍未发货\n<@zhangsan>'
    assert sent_json(request) == {"msgtype": "markdown", "markdown": {"content": content}}
    assert sink.max_bytes == 4096


def test_text_carries_the_mention_lists_and_a_2048_byte_limit(ctx: AdapterContext, mono: FakeMonotonic,
                                                              api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    sink = make(ctx, mono, msgtype="text", mentions={"user_ids": ["lisi"], "mobiles": ["13800000000"], "all": True})
    sink.send(message(1))
    body = sent_json(route.calls.last.request)
    assert body["text"] == {"content": "[WARNING] 订单超时未发货\n订单 1 已付款 49 小时仍未发货",
                            "mentioned_list": ["lisi", "@all"], "mentioned_mobile_list": ["13800000000"]}
    assert sink.max_bytes == 2048


def test_45009_is_rate_limited_for_at_least_a_minute(ctx: AdapterContext, mono: FakeMonotonic,
                                                     api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(45009, "api freq out of limit"))
    sink = make(ctx, mono)
    with pytest.raises(RateLimitedError) as caught:
        sink.send(message())
    assert caught.value.retry_after is not None and caught.value.retry_after >= 60
    assert caught.value.code == "45009"
    assert str(caught.value).startswith("wecom robot 'ops-wecom': error 45009 (api freq out of limit)")
    assert route.call_count == 1
    with pytest.raises(RateLimitedError):
        sink.send(message())
    assert route.call_count == 1  # quiet for the minute
    mono.advance(60)
    route.mock(return_value=answer(0))
    sink.send(message())
    assert route.call_count == 2


def test_93000_bad_key_is_rejected_and_hides_the_key(ctx: AdapterContext, mono: FakeMonotonic,
                                                     api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(
        return_value=answer(93000, f"invalid webhook url, hint: [1700000000_{WECOM_KEY}]"))
    with pytest.raises(RejectedError, match="check key") as caught:
        make(ctx, mono).send(message())
    assert route.call_count == 1
    assert caught.value.code == "93000"
    assert_no_secret(str(caught.value))


def test_unknown_errcode_is_rejected_with_the_service_words(ctx: AdapterContext, mono: FakeMonotonic,
                                                            api: respx.MockRouter) -> None:
    api.post(url__startswith=URL).mock(return_value=answer(40058, "markdown.content exceed max length 4096"))
    with pytest.raises(RejectedError, match=r"error 40058 \(markdown.content exceed max length 4096\)"):
        make(ctx, mono).send(message())


def test_minus_one_is_transient(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(-1, "system busy"))
    with pytest.raises(TransientError):
        make(ctx, mono).send(message())
    assert route.call_count == 3


def test_20_a_minute_then_held_back(ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = api.post(url__startswith=URL).mock(return_value=answer(0))
    sink = make(ctx, mono)
    for _ in range(20):
        sink.send(message())
    with pytest.raises(RateLimitedError, match="20 messages a minute"):
        sink.send(message())
    assert route.call_count == 20
