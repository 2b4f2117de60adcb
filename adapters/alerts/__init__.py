"""Alert channels (reference §E): DingTalk, WeCom, Feishu / Lark, Slack, email and a signed webhook.

Each kind implements :class:`syncd.protocols.AlertSink`: ``send(message)`` succeeds only on the
service's own success code and raises TransientError / RateLimitedError (with retry_after) or
RejectedError otherwise. The core registers :data:`SINK_PLUGINS` (``alerts.yaml`` ``channels:``).
"""

from __future__ import annotations

from typing import Any

from syncd.adapters.alerts.config import (
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from syncd.adapters.alerts.dingtalk import DingTalkSink
from syncd.adapters.alerts.email import EmailSink
from syncd.adapters.alerts.feishu import FeishuSink
from syncd.adapters.alerts.slack import SlackSink
from syncd.adapters.alerts.webhook import WebhookSink
from syncd.adapters.alerts.wecom import WeComSink
from syncd.config.models import StrictModel
from syncd.protocols import AlertSink
from syncd.registry import AdapterContext, SinkPlugin


def _plugin(kind: str, model: type[StrictModel], sink: Any) -> SinkPlugin:
    def factory(config: Any, ctx: AdapterContext) -> AlertSink:
        if not isinstance(config, model):
            raise TypeError(f"{kind} channel needs a {model.__name__}, got {type(config).__name__}")
        made: AlertSink = sink(config, ctx)
        return made

    return SinkPlugin(kind=kind, config_model=model, factory=factory)


SINK_PLUGINS: list[SinkPlugin] = [
    _plugin("dingtalk", DingTalkChannel, DingTalkSink),
    _plugin("wecom", WeComChannel, WeComSink),
    _plugin("feishu", FeishuChannel, FeishuSink),
    _plugin("lark", FeishuChannel, FeishuSink),
    _plugin("slack", SlackChannel, SlackSink),
    _plugin("email", EmailChannel, EmailSink),
    _plugin("webhook", WebhookChannel, WebhookSink),
]

__all__ = ["SINK_PLUGINS", "DingTalkSink", "EmailSink", "FeishuSink", "SlackSink", "WeComSink", "WebhookSink"]
