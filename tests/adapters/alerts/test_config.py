"""Channel config models, the plugins, and the send window."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from syncd import registry
from syncd.adapters.alerts import SINK_PLUGINS
from syncd.adapters.alerts.base import SendWindow
from syncd.adapters.alerts.config import (
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WeComChannel,
)
from syncd.config.loader import load_config
from syncd.config.models import StrictModel
from syncd.errors import ConfigErrors
from syncd.protocols import AlertSink
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import (
    DING_TOKEN,
    FEISHU_TOKEN,
    HOOK_URL,
    SECRET,
    SLACK_URL,
    WECOM_KEY,
    FakeMonotonic,
    assert_no_secret,
)

MINIMAL: dict[str, dict[str, Any]] = {
    "dingtalk": {"access_token": DING_TOKEN},
    "wecom": {"key": WECOM_KEY},
    "feishu": {"token": FEISHU_TOKEN},
    "lark": {"token": FEISHU_TOKEN},
    "slack": {"webhook_url": SLACK_URL},
    "email": {"host": "smtp.163.com", "from": "a@163.com", "to": ["b@example.com"]},
    "webhook": {"url": HOOK_URL},
}
TEMPLATE = Path(__file__).resolve().parents[3] / "config" / "templates" / "alerts.yaml"
DEFAULT_PER_MINUTE = {"dingtalk": 20, "wecom": 20, "feishu": 100, "lark": 100, "slack": 60, "email": 10,
                      "webhook": 60}


def raw(kind: str, **changes: Any) -> dict[str, Any]:
    return {"id": f"my-{kind}", "kind": kind, **MINIMAL[kind], **changes}


def test_plugins_cover_every_kind_and_build_alert_sinks(ctx: AdapterContext) -> None:
    assert [p.kind for p in SINK_PLUGINS] == ["dingtalk", "wecom", "feishu", "lark", "slack", "email", "webhook"]
    for plugin in SINK_PLUGINS:
        config = plugin.config_model.model_validate(raw(plugin.kind))
        sink = plugin.factory(config, ctx)
        assert isinstance(sink, AlertSink)
        assert (sink.name, sink.kind) == (f"my-{plugin.kind}", plugin.kind)
        assert sink.per_minute == DEFAULT_PER_MINUTE[plugin.kind]
        assert_no_secret(repr(sink))
        sink.close()


def test_factory_refuses_another_kinds_config(ctx: AdapterContext) -> None:
    ding = SINK_PLUGINS[0]
    with pytest.raises(TypeError, match="dingtalk channel needs a DingTalkChannel"):
        ding.factory(WeComChannel.model_validate(raw("wecom")), ctx)


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "slack"])
def test_per_minute_may_only_be_lowered_for_robots(kind: str) -> None:
    models: dict[str, type[StrictModel]] = {"dingtalk": DingTalkChannel, "wecom": WeComChannel,
                                            "feishu": FeishuChannel, "slack": SlackChannel}
    model = models[kind]
    assert model.model_validate(raw(kind, per_minute=5)).model_dump()["per_minute"] == 5
    with pytest.raises(ValidationError, match="per_minute"):
        model.model_validate(raw(kind, per_minute=DEFAULT_PER_MINUTE[kind] + 1))


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="acces_token"):
        DingTalkChannel.model_validate(raw("dingtalk", acces_token="x"))


def test_lark_defaults_to_the_larksuite_host_and_feishu_to_feishu() -> None:
    assert FeishuChannel.model_validate(raw("lark")).base_url == "https://open.larksuite.com"
    assert FeishuChannel.model_validate(raw("feishu")).base_url == "https://open.feishu.cn"
    assert FeishuChannel.model_validate(raw("lark", base_url="http://127.0.0.1:9/robots/feishu/")).base_url == \
        "http://127.0.0.1:9/robots/feishu"


def test_wecom_markdown_cannot_mention_mobiles_or_everyone() -> None:
    with pytest.raises(ValidationError, match="only with msgtype: text"):
        WeComChannel.model_validate(raw("wecom", mentions={"all": True}))
    assert WeComChannel.model_validate(raw("wecom", msgtype="text", mentions={"all": True})).mentions.all


def test_email_needs_both_login_fields_and_ascii() -> None:
    with pytest.raises(ValidationError, match="give both username and password"):
        EmailChannel.model_validate(raw("email", username="a@163.com"))
    with pytest.raises(ValidationError, match="must be ASCII"):
        EmailChannel.model_validate(raw("email", username="a@163.com", password="授权码"))
    ok = EmailChannel.model_validate(raw("email", username="a@163.com", password="abcd", security="ssl", port=465))
    assert ok.sender == "a@163.com" and ok.port == 465
    with pytest.raises(ValidationError, match="to"):
        EmailChannel.model_validate(raw("email", to=[]))


def test_a_bad_secret_url_is_reported_without_echoing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    (tmp_path / "alerts.yaml").write_text(
        "channels:\n"
        "  - {id: s, kind: slack, webhook_url: hooks.slack.com/services/T0/B0/leakysecretvalue}\n"
        "  - {id: w, kind: webhook, url: 'ftp://leakyhost/leakysecretvalue'}\n", encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_config(tmp_path, {})
    text = str(caught.value)
    assert "alerts.yaml: channels[0]: Value error, webhook_url: expected an http(s) URL" in text
    assert "alerts.yaml: channels[1]: Value error, url: expected an http(s) URL" in text
    assert "leaky" not in text


def test_mentioned_phone_numbers_stay_out_of_reprs() -> None:
    ding = DingTalkChannel.model_validate(raw("dingtalk", mentions={"mobiles": ["13812345678"]}))
    wecom = WeComChannel.model_validate(raw("wecom", msgtype="text", mentions={"mobiles": ["13812345678"]}))
    assert ding.mentions.mobiles == ["13812345678"]
    assert "13812345678" not in repr(ding) and "13812345678" not in repr(wecom)


def test_channel_ids_are_simple_names() -> None:
    with pytest.raises(ValidationError, match="id"):
        DingTalkChannel.model_validate(raw("dingtalk", id="has space"))


def test_secrets_never_show_in_a_config_repr() -> None:
    for kind in MINIMAL:
        model = next(p.config_model for p in SINK_PLUGINS if p.kind == kind)
        extra = {"secret": SECRET} if kind in ("dingtalk", "feishu", "lark", "webhook") else {}
        assert_no_secret(repr(model.model_validate(raw(kind, **extra))))


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.load_builtin()  # first: what monkeypatch restores afterwards must be the full registry
    for plugin in SINK_PLUGINS:
        monkeypatch.setitem(registry.SINKS, plugin.kind, plugin)


TEMPLATE_ENV = {"DINGTALK_ACCESS_TOKEN": DING_TOKEN, "DINGTALK_SECRET": SECRET, "WECOM_ROBOT_KEY": WECOM_KEY,
                "FEISHU_HOOK_TOKEN": FEISHU_TOKEN, "FEISHU_SECRET": SECRET, "SLACK_WEBHOOK_URL": SLACK_URL,
                "SMTP_AUTH_CODE": "abcdefgh", "ALERT_WEBHOOK_URL": HOOK_URL, "ALERT_WEBHOOK_SECRET": SECRET}


def test_the_template_loads_through_the_config_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    shutil.copy(TEMPLATE, tmp_path / "alerts.yaml")
    with pytest.raises(ConfigErrors) as caught:
        load_config(tmp_path, TEMPLATE_ENV)
    # the only complaint is the missing shop: every channel of the template is valid
    assert [str(e) for e in caught.value.errors] == ["shops/: (top): no shop configured: add one file per shop"]


def test_loaded_template_channels_are_the_six_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    data = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert sorted(entry["kind"] for entry in data["channels"]) == [
        "dingtalk", "email", "feishu", "slack", "webhook", "wecom"]
    assert "rules" not in data  # the lead's part of the file


# ---- the send window ----------------------------------------------------------------------------------


def test_window_allows_count_per_span_and_says_how_long_to_wait() -> None:
    mono = FakeMonotonic(0.0)
    window = SendWindow([(3, 60.0)], mono)
    assert [window.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    mono.advance(10)
    assert window.take() == pytest.approx(53.0)  # nothing counted for a refused take; the minute kept 63 s
    mono.advance(53)
    assert window.take() == 0.0  # the first send left the window


def test_window_enforces_every_limit_and_the_quiet_period() -> None:
    mono = FakeMonotonic(0.0)
    window = SendWindow([(100, 60.0), (2, 1.0)], mono)
    assert window.take() == 0.0 and window.take() == 0.0
    assert window.take() == pytest.approx(1.25)  # the second kept 1.25 s: headroom for network delays
    mono.advance(1.25)
    assert window.take() == 0.0
    window.quiet(600)
    assert window.take() == pytest.approx(600)
    mono.advance(600)
    assert window.take() == 0.0


def test_window_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="at least one limit"):
        SendWindow([])
