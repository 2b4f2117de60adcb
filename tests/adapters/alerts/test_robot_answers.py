"""What every HTTP channel does with unreadable answers, HTTP failures and network errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.base import HttpSink
from syncd.adapters.alerts.config import DingTalkChannel, FeishuChannel, SlackChannel, WebhookChannel, WeComChannel
from syncd.adapters.alerts.dingtalk import DingTalkSink
from syncd.adapters.alerts.feishu import FeishuSink
from syncd.adapters.alerts.slack import SlackSink
from syncd.adapters.alerts.webhook import WebhookSink
from syncd.adapters.alerts.wecom import WeComSink
from syncd.errors import ProtocolError, RateLimitedError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import (
    DING_TOKEN,
    FEISHU_TOKEN,
    HOOK_SECRET,
    HOOK_URL,
    SECRET,
    SLACK_URL,
    WECOM_KEY,
    FakeMonotonic,
    assert_no_secret,
    message,
)


@dataclass(frozen=True)
class Kind:
    name: str
    url: str
    label: str
    make: Callable[[AdapterContext, FakeMonotonic], HttpSink]
    ok: Callable[[], httpx.Response]
    json_robot: bool  # the verdict is a code in a JSON body
    secret: str  # a credential the service might echo back


KINDS = [
    Kind("dingtalk", "https://oapi.dingtalk.com/robot/send", "dingtalk robot 'r'",
         lambda c, m: DingTalkSink(DingTalkChannel.model_validate(
             {"id": "r", "kind": "dingtalk", "access_token": DING_TOKEN, "secret": SECRET}), c, monotonic=m),
         lambda: httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}), True, DING_TOKEN),
    Kind("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "wecom robot 'r'",
         lambda c, m: WeComSink(WeComChannel.model_validate({"id": "r", "kind": "wecom", "key": WECOM_KEY}), c,
                                monotonic=m),
         lambda: httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}), True, WECOM_KEY),
    Kind("feishu", f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}", "feishu robot 'r'",
         lambda c, m: FeishuSink(FeishuChannel.model_validate(
             {"id": "r", "kind": "feishu", "token": FEISHU_TOKEN, "secret": SECRET}), c, monotonic=m),
         lambda: httpx.Response(200, json={"code": 0, "msg": "success", "data": {}}), True, FEISHU_TOKEN),
    Kind("slack", SLACK_URL, "slack webhook 'r'",
         lambda c, m: SlackSink(SlackChannel.model_validate({"id": "r", "kind": "slack", "webhook_url": SLACK_URL}), c,
                                monotonic=m),
         lambda: httpx.Response(200, text="ok"), False, "slacktokenneverShown42"),
    Kind("webhook", HOOK_URL, "webhook receiver 'r'",
         lambda c, m: WebhookSink(WebhookChannel.model_validate(
             {"id": "r", "kind": "webhook", "url": HOOK_URL, "secret": HOOK_SECRET}), c, monotonic=m),
         lambda: httpx.Response(204), False, HOOK_SECRET),
]
ROBOTS = [k for k in KINDS if k.json_robot]


def _route(api: respx.MockRouter, kind: Kind) -> respx.Route:
    return api.post(url__startswith=kind.url.split("?")[0])


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Every test here runs at the frozen NOW."""


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_success_is_one_call_and_counted(kind: Kind, ctx: AdapterContext, mono: FakeMonotonic,
                                         api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(return_value=kind.ok())
    sink = kind.make(ctx, mono)
    sink.send(message())
    assert route.call_count == 1
    assert ctx.stats.calls[("alerts", sink.kind)] == 1
    assert sink.name == "r" and sink.kind == kind.name and sink.max_bytes > 0 and sink.per_minute > 0


@pytest.mark.parametrize("kind", ROBOTS, ids=lambda k: k.name)
@pytest.mark.parametrize(("answer", "why"), [
    (httpx.Response(200, text="<html>gateway</html>"), "answer is not JSON"),
    (httpx.Response(200, json=[0]), "answer is JSON list, expected an object"),
    (httpx.Response(200, json={"msg": "ok"}), "answer has no"),
    (httpx.Response(200, json={"errcode": "0", "code": "0"}), "is str, expected an integer"),
    (httpx.Response(200, json={"errcode": True, "code": True}), "is bool, expected an integer"),
])
def test_unreadable_robot_answers_are_protocol_errors_naming_the_channel(
        kind: Kind, answer: httpx.Response, why: str, ctx: AdapterContext, mono: FakeMonotonic,
        api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(return_value=answer)
    with pytest.raises(ProtocolError) as caught:
        kind.make(ctx, mono).send(message())
    assert str(caught.value).startswith(kind.label + ": ")
    assert why in str(caught.value)
    assert route.call_count == 1
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("kind", [k for k in KINDS if k.name != "slack"], ids=lambda k: k.name)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_http_4xx_is_a_refusal_not_retried(kind: Kind, status: int, ctx: AdapterContext, mono: FakeMonotonic,
                                           api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(return_value=httpx.Response(status, text=f"nope {kind.secret}"))
    with pytest.raises(RejectedError, match=f"^{kind.label}: HTTP {status}") as caught:
        kind.make(ctx, mono).send(message())
    assert route.call_count == 1
    assert caught.value.code == str(status)
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_http_5xx_is_retried_then_transient(kind: Kind, ctx: AdapterContext, mono: FakeMonotonic,
                                            api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(return_value=httpx.Response(502))
    with pytest.raises(TransientError, match=f"^{kind.label}: HTTP 502$") as caught:
        kind.make(ctx, mono).send(message())
    assert not isinstance(caught.value, RateLimitedError)
    assert route.call_count == 3
    assert ctx.stats.errors[("alerts", kind.name, "http-502")] == 3


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_5xx_then_success_delivers_once(kind: Kind, ctx: AdapterContext, mono: FakeMonotonic,
                                          api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(side_effect=[httpx.Response(503), kind.ok()])
    kind.make(ctx, mono).send(message())
    assert route.call_count == 2


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize(("exc", "what"), [(httpx.ConnectError, "network error (ConnectError)"),
                                           (httpx.ReadTimeout, "timed out (ReadTimeout)")])
def test_network_failures_are_transient_and_never_show_the_url(
        kind: Kind, exc: type[Exception], what: str, ctx: AdapterContext, mono: FakeMonotonic,
        api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(side_effect=exc(f"cannot reach {kind.url}"))
    with pytest.raises(TransientError) as caught:
        kind.make(ctx, mono).send(message())
    assert str(caught.value) == f"{kind.label}: {what}"
    assert route.call_count == 3


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_http_429_is_rate_limited_with_retry_after_and_quiets_the_sink(
        kind: Kind, ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    route = _route(api, kind).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
    sink = kind.make(ctx, mono)
    with pytest.raises(RateLimitedError) as caught:
        sink.send(message())
    assert caught.value.retry_after == 120
    assert route.call_count == 1
    with pytest.raises(RateLimitedError, match="next one in 120 s"):
        sink.send(message())
    assert route.call_count == 1


def test_every_kind_is_covered() -> None:
    assert {k.name for k in KINDS} == {"dingtalk", "wecom", "feishu", "slack", "webhook"}


