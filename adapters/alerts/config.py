"""``alerts.yaml`` ``channels:`` entries, one model per channel kind (reference §E.1–E.6).

Every channel has an ``id`` (named in logs and errors instead of its URL), a ``kind`` and a
``per_minute`` budget that may only be lowered below what the service accepts. Tokens, keys, secrets,
webhook URLs that carry their token and SMTP passwords are SecretStr, filled from ``${ENV}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.config.models import StrictModel

ChannelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


def _http_url(value: str, what: str) -> str:
    if not _URL.match(value):
        # the value may carry a token: say what it should be, never echo it
        raise ValueError(f"{what}: expected an http(s) URL")
    return value


def _check_secret_url(data: object, key: str) -> object:
    """Check a URL that carries its credential at the model level: a field-level error would make the
    config loader print the value typed (an error's input); the model's input is the whole mapping."""
    if isinstance(data, dict) and isinstance(data.get(key), str):
        _http_url(data[key], key)
    return data


class _Channel(StrictModel):
    id: ChannelId

    @field_validator("base_url", mode="after", check_fields=False)
    @classmethod
    def _base_url(cls, v: str) -> str:
        return _http_url(v, "base_url").rstrip("/")


class DingTalkMentions(StrictModel):
    """Who a DingTalk message @-mentions (``at`` object; markdown also names them in the text)."""

    mobiles: list[Annotated[str, Field(pattern=r"^\+?[0-9-]{5,20}$")]] = Field(default_factory=list, repr=False)
    user_ids: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    all: bool = False


class DingTalkChannel(_Channel):
    """A DingTalk custom group robot (钉钉自定义机器人), §E.1."""

    kind: Literal["dingtalk"]
    base_url: str = "https://oapi.dingtalk.com"
    access_token: SecretStr
    secret: SecretStr | None = None
    """The robot's 加签 secret (``SEC…``); without it requests are unsigned (keyword / IP security only)."""
    keyword: Annotated[str, Field(min_length=1)] | None = None
    """The robot's custom keyword; put in front of the title when a message lacks it (else 310000)."""
    msgtype: Literal["markdown", "text"] = "markdown"
    per_minute: Annotated[int, Field(ge=1, le=20)] = 20
    mentions: DingTalkMentions = DingTalkMentions()


class WeComMentions(StrictModel):
    """Who a WeCom message mentions: user ids work in both types, mobiles and everyone in ``text`` only."""

    user_ids: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    mobiles: list[Annotated[str, Field(pattern=r"^\+?[0-9-]{5,20}$")]] = Field(default_factory=list, repr=False)
    all: bool = False


class WeComChannel(_Channel):
    """A WeCom (企业微信) group robot, §E.2; the webhook key is its only credential."""

    kind: Literal["wecom"]
    base_url: str = "https://qyapi.weixin.qq.com"
    key: SecretStr
    msgtype: Literal["markdown", "text"] = "markdown"
    per_minute: Annotated[int, Field(ge=1, le=20)] = 20
    mentions: WeComMentions = WeComMentions()

    @model_validator(mode="after")
    def _mentions_fit_the_type(self) -> WeComChannel:
        if self.msgtype == "markdown" and (self.mentions.mobiles or self.mentions.all):
            raise ValueError("mentions.mobiles and mentions.all work only with msgtype: text "
                             "(markdown mentions user ids only)")
        return self


class FeishuMentions(StrictModel):
    """Who a Feishu / Lark message mentions (``open_id`` / ``user_id`` values, or everyone)."""

    user_ids: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    all: bool = False


FEISHU_URL = "https://open.feishu.cn"
LARK_URL = "https://open.larksuite.com"


class FeishuChannel(_Channel):
    """A Feishu (飞书) or Lark custom bot, §E.3; ``kind: lark`` only changes the default host."""

    kind: Literal["feishu", "lark"]
    base_url: str = FEISHU_URL
    """Default https://open.feishu.cn (feishu) or https://open.larksuite.com (lark)."""
    token: SecretStr
    """The last part of the webhook URL ``…/open-apis/bot/v2/hook/<token>``."""
    secret: SecretStr | None = None
    """The bot's 签名校验 secret; without it requests are unsigned."""
    keyword: Annotated[str, Field(min_length=1)] | None = None
    msg_type: Literal["post", "text"] = "post"
    per_minute: Annotated[int, Field(ge=1, le=100)] = 100
    mentions: FeishuMentions = FeishuMentions()

    @model_validator(mode="before")
    @classmethod
    def _default_host(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("base_url"):
            return {**data, "base_url": LARK_URL if data.get("kind") == "lark" else FEISHU_URL}
        return data


class SlackMentions(StrictModel):
    """Who a Slack message mentions: member ids (``U…``) and ``<!channel>``."""

    user_ids: list[Annotated[str, Field(pattern=r"^[A-Z0-9]+$")]] = Field(default_factory=list)
    all: bool = False


class SlackChannel(_Channel):
    """A Slack incoming webhook, §E.4. The whole URL is the credential."""

    kind: Literal["slack"]
    webhook_url: SecretStr
    per_minute: Annotated[int, Field(ge=1, le=60)] = 60
    mentions: SlackMentions = SlackMentions()

    @model_validator(mode="before")
    @classmethod
    def _url(cls, data: object) -> object:
        return _check_secret_url(data, "webhook_url")


class EmailChannel(_Channel):
    """Mail through an SMTP server, §E.5 (QQ: smtp.qq.com 587 starttls; 163: smtp.163.com 465 ssl)."""

    kind: Literal["email"]
    host: Annotated[str, Field(min_length=1, pattern=r"^[^\s/:]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "plain"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    """Chinese mail providers want the authorisation code (授权码) here, not the login password."""
    sender: Annotated[str, Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")]
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    subject_prefix: str = "[syncd]"
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30
    per_minute: Annotated[int, Field(ge=1, le=600)] = 10

    @model_validator(mode="after")
    def _login_pair(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password (the 授权码), or neither")
        if not (self.username or "").isascii() or (self.password and not self.password.get_secret_value().isascii()):
            # smtplib sends AUTH in ASCII only; authorisation codes are ASCII anyway
            raise ValueError("username and password must be ASCII (use the provider's authorisation code 授权码)")
        return self


class WebhookChannel(_Channel):
    """Any HTTP endpoint taking syncd's signed JSON (see :mod:`adapters.alerts.webhook`)."""

    kind: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = None
    """Signs every request (``X-Syncd-Signature``); strongly advised."""
    per_minute: Annotated[int, Field(ge=1, le=600)] = 60
    max_bytes: Annotated[int, Field(ge=2048, le=10_000_000)] = 64_000

    @model_validator(mode="before")
    @classmethod
    def _url(cls, data: object) -> object:
        return _check_secret_url(data, "url")


ChannelConfig = DingTalkChannel | WeComChannel | FeishuChannel | SlackChannel | EmailChannel | WebhookChannel
