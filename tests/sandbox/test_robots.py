"""The robot simulators over a real SandboxServer: what they check, their limits, and the sinks against them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import time_machine

from syncd.adapters.alerts import SINK_PLUGINS
from syncd.adapters.alerts.config import SlackChannel
from syncd.adapters.alerts.slack import SlackSink
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.robots import KINDS, ROBOT_TOKENS, RobotSimulator
from syncd.adapters.sandbox.smtp_sink import SmtpSink
from syncd.domain import Message, Severity
from syncd.errors import RateLimitedError, RejectedError
from syncd.protocols import AlertSink
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.adapters.alerts.conftest import FakeMonotonic
from tests.sandbox.helpers import FakeClock

SECRETS = {"dingtalk": "SECsandboxding", "feishu": "SECsandboxfeishu", "webhook": "whsec-sandbox"}
MSG = Message("订单超时未发货", ["订单 1 已付款 49 小时仍未发货", "订单 2 已付款 49 小时仍未发货"], Severity.WARNING)


class NoTokens:
    def load(self, shop_id: str) -> None:
        raise AssertionError

    def save(self, shop_id: str, token: object) -> None:
        raise AssertionError

    def refresh_lock(self, shop_id: str) -> Any:
        raise AssertionError


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    with time_machine.travel(datetime.fromtimestamp(fake(), UTC), tick=False):
        yield fake


@pytest.fixture
def sim(clock: FakeClock) -> RobotSimulator:
    return RobotSimulator(clock=clock, secrets=SECRETS)


@pytest.fixture
def server(sim: RobotSimulator) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount(sim.prefix, sim)
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def ctx(http: httpx.Client, waits: list[float], tmp_path: Path) -> AdapterContext:
    policy = RetryPolicy(attempts=3, max_seconds=20, initial_wait=1, max_wait=0, sleep=waits.append)
    return AdapterContext(http=http, tokens=NoTokens(), data_dir=tmp_path, retry=policy)


def sink_for(kind: str, sim: RobotSimulator, server: SandboxServer, ctx: AdapterContext, **changes: Any) -> AlertSink:
    entry = next(e for e in sim.channels(server.url) if e["kind"] == kind)
    entry.update(changes)
    plugin = next(p for p in SINK_PLUGINS if p.kind == kind)
    return plugin.factory(plugin.config_model.model_validate(entry), ctx)


def ding_url(server: SandboxServer, clock: FakeClock, secret: str = SECRETS["dingtalk"],
             stamp: int | None = None) -> str:
    ts = stamp if stamp is not None else int(clock() * 1000)
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote(base64.b64encode(mac).decode(), safe="")
    return (f"{server.url}/robots/dingtalk/robot/send?access_token={ROBOT_TOKENS['dingtalk']}"
            f"&timestamp={ts}&sign={sign}")


def ding_text(text: str = "hello") -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": text}}


def feishu_body(clock: FakeClock, secret: str = SECRETS["feishu"], dingtalk_style: bool = False) -> dict[str, Any]:
    ts = int(clock())
    if dingtalk_style:
        mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    else:
        mac = hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return {"timestamp": str(ts), "sign": base64.b64encode(mac).decode(), "msg_type": "text",
            "content": {"text": "hello"}}


# ---- every sink against its simulator ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "slack", "webhook"])
def test_each_sink_is_accepted_and_recorded(kind: str, sim: RobotSimulator, server: SandboxServer,
                                            ctx: AdapterContext) -> None:
    sink_for(kind, sim, server, ctx).send(MSG)

    [record] = sim.messages(kind)
    assert "订单 2 已付款 49 小时仍未发货" in record["text"]
    assert sim.snapshot()["accepted"][kind] == 1
    assert sim.snapshot()["refused"][kind] == {}


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "webhook"])
def test_a_transient_failure_is_retried_by_the_sink(kind: str, sim: RobotSimulator, server: SandboxServer,
                                                    ctx: AdapterContext, waits: list[float]) -> None:
    sim.fail_next(kind, 1)
    sink_for(kind, sim, server, ctx).send(MSG)
    assert sim.snapshot()["requests"][kind] == 2
    assert len(sim.messages(kind)) == 1
    assert len(waits) == 1


def test_a_transient_failure_at_slack_is_retried_after_its_one_a_second_pace(
        sim: RobotSimulator, server: SandboxServer, http: httpx.Client, tmp_path: Path) -> None:
    mono, waits = FakeMonotonic(), []

    def sleep(seconds: float) -> None:  # recorded, never slept; the sink's window sees the time pass
        waits.append(seconds)
        mono.advance(seconds)

    policy = RetryPolicy(attempts=3, max_seconds=20, initial_wait=1, max_wait=0, sleep=sleep)
    entry = next(e for e in sim.channels(server.url) if e["kind"] == "slack")
    sink = SlackSink(SlackChannel.model_validate(entry),
                     AdapterContext(http=http, tokens=NoTokens(), data_dir=tmp_path, retry=policy), monotonic=mono)
    sim.fail_next("slack", 1)

    sink.send(MSG)

    assert sim.snapshot()["requests"]["slack"] == 2
    assert len(sim.messages("slack")) == 1
    assert waits == [0.0, pytest.approx(1.25)]  # the retry's backoff (none here), then the pace


# ---- DingTalk -------------------------------------------------------------------------------------------


def test_dingtalk_bad_signature_is_refused(sim: RobotSimulator, server: SandboxServer, clock: FakeClock,
                                           http: httpx.Client, ctx: AdapterContext) -> None:
    r = http.post(ding_url(server, clock, secret="SECwrong"), json=ding_text())
    assert r.status_code == 200 and r.json()["errcode"] == 310000 and "sign not match" in r.json()["errmsg"]

    with pytest.raises(RejectedError, match="check secret"):
        sink_for("dingtalk", sim, server, ctx, secret="SECwrong").send(MSG)
    assert sim.messages("dingtalk") == []


def test_dingtalk_timestamp_over_an_hour_off_is_refused(sim: RobotSimulator, server: SandboxServer,
                                                        clock: FakeClock, http: httpx.Client,
                                                        ctx: AdapterContext) -> None:
    stale = int((clock() - 3601) * 1000)
    r = http.post(ding_url(server, clock, stamp=stale), json=ding_text())
    assert r.json() == {"errcode": 310000, "errmsg": "invalid timestamp"}
    clock.advance(7200)  # the simulator's clock runs ahead of this host's
    with pytest.raises(RejectedError, match="synchronise it"):
        sink_for("dingtalk", sim, server, ctx).send(MSG)


def test_dingtalk_unknown_token_and_missing_title(server: SandboxServer, clock: FakeClock,
                                                  http: httpx.Client) -> None:
    bad = ding_url(server, clock).replace(ROBOT_TOKENS["dingtalk"], "other-token")
    assert http.post(bad, json=ding_text()).json()["errcode"] == 300001
    r = http.post(ding_url(server, clock), json={"msgtype": "markdown", "markdown": {"text": "x"}})
    assert r.json()["errcode"] == 400402


def test_dingtalk_21st_message_in_a_minute_is_refused_and_mutes_the_robot(
        sim: RobotSimulator, server: SandboxServer, clock: FakeClock, http: httpx.Client) -> None:
    for _ in range(20):
        assert http.post(ding_url(server, clock), json=ding_text()).json()["errcode"] == 0
        clock.advance(1)
    r = http.post(ding_url(server, clock), json=ding_text())
    assert r.status_code == 200
    assert r.json() == {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}

    clock.advance(120)  # the minute has passed, the 10-minute mute has not
    assert http.post(ding_url(server, clock), json=ding_text()).json()["errcode"] == 130101
    clock.advance(600)
    assert http.post(ding_url(server, clock), json=ding_text()).json()["errcode"] == 0
    assert len(sim.messages("dingtalk")) == 21
    assert sim.snapshot()["refused"]["dingtalk"] == {"130101": 2}


def test_dingtalk_sink_never_draws_130101(sim: RobotSimulator, server: SandboxServer, ctx: AdapterContext) -> None:
    sink = sink_for("dingtalk", sim, server, ctx)
    for _ in range(20):
        sink.send(MSG)
    with pytest.raises(RateLimitedError, match="at its limit of 20"):
        sink.send(MSG)
    snap = sim.snapshot()
    assert snap["requests"]["dingtalk"] == 20 and snap["refused"]["dingtalk"] == {}


def test_dingtalk_keyword_is_enforced_and_the_sink_adds_it(clock: FakeClock, http: httpx.Client,
                                                           ctx: AdapterContext) -> None:
    sim = RobotSimulator(clock=clock, keywords={"dingtalk": "告警"})
    with SandboxServer() as server:
        server.mount(sim.prefix, sim)
        url = f"{server.url}/robots/dingtalk/robot/send?access_token={ROBOT_TOKENS['dingtalk']}"
        assert http.post(url, json=ding_text("no keyword")).json()["errcode"] == 310000
        with pytest.raises(RejectedError, match="keyword"):
            sink_for("dingtalk", sim, server, ctx, keyword=None).send(MSG)
        sink_for("dingtalk", sim, server, ctx).send(MSG)  # channels() carries keyword: 告警
    assert sim.messages("dingtalk")[0]["body"]["markdown"]["title"].startswith("[WARNING] 告警 ")


# ---- WeCom ----------------------------------------------------------------------------------------------


def test_wecom_21st_in_a_minute_gets_45009(sim: RobotSimulator, server: SandboxServer, http: httpx.Client) -> None:
    url = f"{server.url}/robots/wecom/cgi-bin/webhook/send?key={ROBOT_TOKENS['wecom']}"
    body = {"msgtype": "text", "text": {"content": "hi"}}
    assert all(http.post(url, json=body).json()["errcode"] == 0 for _ in range(20))
    assert http.post(url, json=body).json()["errcode"] == 45009
    assert len(sim.messages("wecom")) == 20


def test_wecom_bad_key_and_oversized_markdown(sim: RobotSimulator, server: SandboxServer, http: httpx.Client,
                                              ctx: AdapterContext) -> None:
    base = f"{server.url}/robots/wecom/cgi-bin/webhook/send"
    assert http.post(f"{base}?key=nope", json={"msgtype": "text", "text": {"content": "x"}}).json()["errcode"] == 93000
    big = {"msgtype": "markdown", "markdown": {"content": "订" * 1366}}  # 4098 bytes
    assert http.post(f"{base}?key={ROBOT_TOKENS['wecom']}", json=big).json()["errcode"] == 40058
    with pytest.raises(RejectedError, match="check key"):
        sink_for("wecom", sim, server, ctx, key="wrong-key").send(MSG)


def test_wecom_sink_fits_a_long_cjk_digest_into_the_limit(sim: RobotSimulator, server: SandboxServer,
                                                          ctx: AdapterContext) -> None:
    long = Message("订单超时", [f"订单 {i} 已付款 49 小时仍未发货，供应商义乌" for i in range(400)])
    sink_for("wecom", sim, server, ctx).send(long)
    [record] = sim.messages("wecom")
    assert len(record["text"].encode()) <= 4096 and record["text"].endswith("more")


# ---- Feishu ---------------------------------------------------------------------------------------------


def test_feishu_refuses_the_dingtalk_style_signature(sim: RobotSimulator, server: SandboxServer,
                                                     clock: FakeClock, http: httpx.Client) -> None:
    url = f"{server.url}/robots/feishu/open-apis/bot/v2/hook/{ROBOT_TOKENS['feishu']}"
    assert http.post(url, json=feishu_body(clock)).json()["code"] == 0
    wrong = http.post(url, json=feishu_body(clock, dingtalk_style=True)).json()
    assert wrong["code"] == 19021 and "sign match fail" in wrong["msg"]
    unsigned = http.post(url, json={"msg_type": "text", "content": {"text": "x"}}).json()
    assert unsigned["code"] == 19021


def test_feishu_sink_with_a_wrong_secret_is_rejected(sim: RobotSimulator, server: SandboxServer,
                                                     ctx: AdapterContext) -> None:
    with pytest.raises(RejectedError, match="error 19021"):
        sink_for("feishu", sim, server, ctx, secret="SECwrong").send(MSG)


def test_feishu_sixth_in_a_second_gets_11232(sim: RobotSimulator, server: SandboxServer, clock: FakeClock,
                                             http: httpx.Client) -> None:
    url = f"{server.url}/robots/feishu/open-apis/bot/v2/hook/{ROBOT_TOKENS['feishu']}"
    codes = [http.post(url, json=feishu_body(clock)).json()["code"] for _ in range(6)]
    assert codes == [0, 0, 0, 0, 0, 11232]
    clock.advance(1)
    assert http.post(url, json=feishu_body(clock)).json()["code"] == 0


def test_feishu_unknown_token(server: SandboxServer, http: httpx.Client, clock: FakeClock) -> None:
    r = http.post(f"{server.url}/robots/feishu/open-apis/bot/v2/hook/nope", json=feishu_body(clock))
    assert r.json()["code"] == 19001


# ---- Slack ----------------------------------------------------------------------------------------------


def test_slack_reasons(sim: RobotSimulator, server: SandboxServer, http: httpx.Client, ctx: AdapterContext) -> None:
    url = f"{server.url}/robots/slack/services/{ROBOT_TOKENS['slack']}"
    assert http.post(url, content=b"{not json").text == "invalid_payload"
    r = http.post(url, json={"text": ""})
    assert (r.status_code, r.text) == (400, "no_text")
    r = http.post(f"{server.url}/robots/slack/services/T0/B0/nope", json={"text": "x"})
    assert (r.status_code, r.text) == (404, "no_service")
    with pytest.raises(RejectedError, match="HTTP 404 no_service"):
        sink_for("slack", sim, server, ctx, webhook_url=f"{server.url}/robots/slack/services/T0/B0/nope").send(MSG)


def test_slack_over_the_minute_is_429_with_retry_after(sim: RobotSimulator, server: SandboxServer,
                                                       http: httpx.Client) -> None:
    url = f"{server.url}/robots/slack/services/{ROBOT_TOKENS['slack']}"
    assert all(http.post(url, json={"text": "x"}).text == "ok" for _ in range(60))
    r = http.post(url, json={"text": "x"})
    assert r.status_code == 429 and r.headers["retry-after"] == "60"


# ---- generic webhook ------------------------------------------------------------------------------------


def _hook_headers(stamp: int, body: bytes, secret: str = SECRETS["webhook"]) -> dict[str, str]:
    sig = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Syncd-Timestamp": str(stamp), "X-Syncd-Signature": f"v1={sig}"}


def test_webhook_checks_signature_and_timestamp(sim: RobotSimulator, server: SandboxServer, clock: FakeClock,
                                                http: httpx.Client) -> None:
    url = f"{server.url}/robots/webhook/ops"
    body = json.dumps({"title": "t", "severity": "info", "lines": [], "text": "t", "sent_at": "s"}).encode()
    now = int(clock())
    assert http.post(url, content=body, headers=_hook_headers(now, body)).status_code == 200
    tampered = body.replace(b'"t"', b'"T"', 1)
    assert http.post(url, content=tampered, headers=_hook_headers(now, body)).status_code == 401
    assert http.post(url, content=body, headers=_hook_headers(now - 301, body)).status_code == 401
    assert http.post(url, content=body, headers=_hook_headers(now, body, "other")).status_code == 401
    assert [m["name"] for m in sim.messages("webhook")] == ["ops"]


def test_webhook_sink_with_a_wrong_secret_is_rejected(sim: RobotSimulator, server: SandboxServer,
                                                      ctx: AdapterContext) -> None:
    with pytest.raises(RejectedError, match="HTTP 401"):
        sink_for("webhook", sim, server, ctx, secret="wrong").send(MSG)


# ---- control and inspection -----------------------------------------------------------------------------


def test_admin_endpoints(sim: RobotSimulator, server: SandboxServer, http: httpx.Client, ctx: AdapterContext) -> None:
    assert http.post(f"{server.url}/robots/_sandbox/fail", json={"kind": "wecom", "count": 2}).json() == {"pending": 2}
    assert http.post(f"{server.url}/robots/_sandbox/fail", json={"kind": "nope"}).status_code == 400
    assert sim.snapshot()["pending_failures"] == {"wecom": 2}
    sink_for("slack", sim, server, ctx).send(MSG)
    state = http.get(f"{server.url}/robots/_sandbox/state").json()
    assert state["accepted"]["slack"] == 1 and set(state["accepted"]) == set(KINDS)
    listed = http.get(f"{server.url}/robots/_sandbox/messages/slack").json()["messages"]
    assert listed[0]["body"]["text"].startswith("*[WARNING] 订单超时未发货*")


def test_fail_next_and_messages_name_only_known_kinds(sim: RobotSimulator) -> None:
    with pytest.raises(ValueError, match="unknown robot"):
        sim.fail_next("teams")
    with pytest.raises(ValueError, match="unknown robot"):
        sim.messages("teams")


def test_get_and_unknown_paths(server: SandboxServer, http: httpx.Client) -> None:
    assert http.get(f"{server.url}/robots/dingtalk/robot/send").status_code == 405
    assert http.post(f"{server.url}/robots/teams/x", json={}).status_code == 404


# ---- the SMTP sink --------------------------------------------------------------------------------------


def test_smtp_sink_speaks_enough_smtp_for_smtplib() -> None:
    with SmtpSink(users={"u@sandbox.test": "pw123"}) as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.sendmail("u@sandbox.test", ["a@sandbox.test"], b"Subject: x\r\n\r\nbody\r\n")
            assert refused.value.smtp_code == 530  # AUTH first
            client.ehlo()
            client.user, client.password = "u@sandbox.test", "pw123"
            code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
            assert code == 235
            client.sendmail("u@sandbox.test", ["a@sandbox.test"], b"Subject: x\r\n\r\n.leading dot\r\nend\r\n")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as client:
            client.login("u@sandbox.test", "pw123")  # AUTH PLAIN with an initial response
            client.sendmail("u@sandbox.test", ["b@sandbox.test"], b"Subject: y\r\n\r\nsecond\r\n")
        first, second = sink.messages()
    assert first.data == b"Subject: x\r\n\r\n.leading dot\r\nend\r\n"  # dot-stuffing undone
    assert (first.user, first.rcpt_to, second.rcpt_to) == ("u@sandbox.test", ["a@sandbox.test"], ["b@sandbox.test"])
    assert second.message["Subject"] == "y"
