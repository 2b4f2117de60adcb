"""Each alert service's success and error codes, classified once (reference §E.1–E.6).

The Chinese robots answer HTTP 200 for success and failure alike: the verdict is the body's
``errcode`` (DingTalk, WeCom) or ``code`` (Feishu / Lark). A code in a table acts as its row says;
a code in no table is a refusal (RejectedError) carrying the service's own words, since nothing says
waiting would help. Rate limits become RateLimitedError with the service's penalty as retry_after;
configuration problems (bad key, signature, keyword, IP whitelist) become RejectedError with a hint
saying what the operator should fix. Messages name the channel, never its token, key or secret.

Rows marked [unconfirmed] are not in the reference; they only add a hint or treat "system busy" as
transient.
"""

from __future__ import annotations

import enum
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from syncd.errors import ProtocolError, RateLimitedError, RejectedError, SyncdError, TransientError

_MAX_TEXT = 200


class Action(enum.Enum):
    """What a service's answer means for the message."""

    OK = "ok"
    RETRY = "retry"  # may pass if sent again soon
    RATE_LIMITED = "rate_limited"  # wait retry_after, then send again
    REJECT = "reject"  # will not pass until the operator changes something


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a service's table."""

    action: Action
    retry_after: float | None = None
    hint: str = ""
    by_words: bool = False  # one code for several causes: the service's words pick the hint


_A = Action
_SIGN = "check secret: it must be the robot's signing secret, copied whole"
_CLOCK = "this host's clock is off: synchronise it (NTP)"
_KEYWORD = "the message lacks the robot's custom keyword: set keyword in the channel to one of them"
_IP = "this host's public IP is not in the robot's IP whitelist"

DINGTALK: Mapping[int, Rule] = {
    0: Rule(_A.OK),
    -1: Rule(_A.RETRY),  # 系统繁忙 [unconfirmed]
    130101: Rule(_A.RATE_LIMITED, 600.0, "more than 20 messages in a minute: DingTalk mutes the robot for 10 minutes"),
    310000: Rule(_A.REJECT, hint="the robot's security settings refused the message", by_words=True),
    400402: Rule(_A.REJECT, hint="a required field is missing (a markdown message needs its title)"),
    300001: Rule(_A.REJECT, hint="the access_token is not known: check access_token (robot removed?)"),  # [unconfirmed]
}

WECOM: Mapping[int, Rule] = {
    0: Rule(_A.OK),
    -1: Rule(_A.RETRY),  # system busy [unconfirmed]
    45009: Rule(_A.RATE_LIMITED, 60.0, "more than 20 messages in a minute"),
    93000: Rule(_A.REJECT, hint="the webhook key is invalid or the robot was removed: check key"),
}

FEISHU: Mapping[int, Rule] = {
    0: Rule(_A.OK),
    19021: Rule(_A.REJECT, hint=f"signature refused or timestamp more than an hour off: {_SIGN}; {_CLOCK}"),
    11232: Rule(_A.RATE_LIMITED, 60.0, "the bot is over 100 messages a minute / 5 a second"),
    9499: Rule(_A.RATE_LIMITED, 60.0, "the bot is over its request rate"),
    19024: Rule(_A.REJECT, hint=_KEYWORD),  # Key Words Not Found [unconfirmed]
    19022: Rule(_A.REJECT, hint=_IP),  # Ip Not Allowed [unconfirmed]
}

# Slack incoming webhooks explain a refusal in a text body (§E.4); 429 and 5xx never get here.
SLACK_HINTS: Mapping[str, str] = {
    "invalid_payload": "the body was not understood: report it (a syncd bug)",
    "no_text": "the message had no text: report it (a syncd bug)",
    "channel_not_found": "the webhook's channel is gone: create a new webhook",
    "channel_is_archived": "the webhook's channel is archived",
    "no_service": "the webhook URL is unknown or was revoked: check webhook_url",
    "no_team": "the webhook URL is unknown or was revoked: check webhook_url",
    "invalid_token": "the webhook URL is unknown or was revoked: check webhook_url",
    "team_disabled": "the Slack workspace is disabled",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
}


def words_hint(text: str) -> str:
    """A hint from the service's words, for codes (DingTalk 310000) that cover several causes."""
    low = text.lower()
    if "keyword" in low or "关键词" in text:
        return _KEYWORD
    if "sign" in low or "签名" in text:
        return _SIGN
    if "timestamp" in low or "时间戳" in text:
        return _CLOCK
    if "whitelist" in low or "白名单" in text or "ip " in low:
        return _IP
    return ""


def robot_error(table: Mapping[int, Rule], label: str, code: int, text: str) -> SyncdError | None:
    """The error for a robot's body code (None for success); ``text`` must already be scrubbed."""
    rule = table.get(code, Rule(_A.REJECT, by_words=True))
    if rule.action is _A.OK:
        return None
    shown = text[:_MAX_TEXT]
    what = f"{label}: error {code}" + (f" ({shown})" if shown else "")
    if rule.action is _A.RETRY:
        return TransientError(what, code=str(code))
    if rule.action is _A.RATE_LIMITED:
        return RateLimitedError(f"{what}: {rule.hint}", retry_after=rule.retry_after, code=str(code))
    hint = (words_hint(text) or rule.hint) if rule.by_words else rule.hint
    return RejectedError(what + (f": {hint}" if hint else ""), code=str(code), platform_message=shown or None)


def slack_error(label: str, status: int, reason: str) -> SyncdError:
    """A 4xx answer of a Slack webhook (its body is the reason word); ``reason`` already scrubbed."""
    word = reason.strip()[:_MAX_TEXT]
    hint = SLACK_HINTS.get(word, "")
    what = f"{label}: HTTP {status}" + (f" {word}" if word else "")
    return RejectedError(what + (f": {hint}" if hint else ""), code=word or str(status), platform_message=word or None)


def http_refusal(label: str, status: int, detail: str) -> SyncdError:
    """A 4xx (not 429) from a robot or a webhook receiver: the address or the request is wrong."""
    shown = detail.strip()[:_MAX_TEXT]
    hint = {401: "the receiver refused the signature: check secret", 403: "the receiver refused this sender",
            404: "nothing at this address: check the URL / token"}.get(status, "")
    what = f"{label}: HTTP {status}" + (f" ({shown})" if shown else "")
    return RejectedError(what + (f": {hint}" if hint else ""), code=str(status), platform_message=shown or None)


def unreadable(label: str, what: str) -> ProtocolError:
    """An answer we cannot read."""
    return ProtocolError(f"{label}: {what}")


def _reply_text(err: smtplib.SMTPResponseException) -> str:
    raw = err.smtp_error
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:_MAX_TEXT]


def smtp_error(label: str, err: Exception, scrub: Callable[[str], str] = str) -> SyncdError:
    """SMTP failures: 4xx replies and connection trouble are transient, 5xx refusals and TLS
    mismatches are configuration problems. ``scrub`` removes secrets from the server's text."""
    clean = scrub
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in err.recipients.values()})
        what = f"{label}: every recipient was refused (SMTP {', '.join(map(str, codes))})"
        if codes and all(400 <= c < 500 for c in codes):
            return TransientError(what, code=str(codes[0]))
        return RejectedError(f"{what}: check to", code=str(codes[0]) if codes else None)
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return RejectedError(f"{label}: the server does not support what security / login asks "
                             f"({clean(str(err))[:_MAX_TEXT]}): check security and port")
    if isinstance(err, smtplib.SMTPResponseException):
        code = err.smtp_code
        text = clean(_reply_text(err))
        what = f"{label}: SMTP {code}" + (f" ({text})" if text else "")
        if 400 <= code < 500 or code < 0:
            return TransientError(what, code=str(code))
        if isinstance(err, smtplib.SMTPAuthenticationError):
            return RejectedError(f"{what}: login refused: check username and password (Chinese providers want "
                                 "the authorisation code 授权码)", code=str(code), platform_message=text or None)
        if isinstance(err, smtplib.SMTPSenderRefused):
            return RejectedError(f"{what}: sender refused: check from (it must be the login's mailbox)",
                                 code=str(code), platform_message=text or None)
        return RejectedError(what, code=str(code), platform_message=text or None)
    if isinstance(err, ssl.SSLError):
        return RejectedError(f"{label}: TLS failed ({type(err).__name__}): check security and port "
                             "(ssl is usually 465, starttls 587) and the server's certificate", code="tls")
    if isinstance(err, smtplib.SMTPException | OSError):
        return TransientError(f"{label}: connection failed ({type(err).__name__})", code="network")
    raise TypeError(f"not an SMTP failure: {type(err).__name__}")
