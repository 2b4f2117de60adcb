"""The one error table of the Pinduoduo client: reference/storefronts.md §2.1, §2.3, §2.7.

Only ``error_code`` 10019 (access_token已过期) is confirmed. The reference found no confirmable code for
a wrong signature, flow control or "system busy", and advises classifying by ``error_msg`` / ``sub_code``
text: rows without a code match words in ``error_msg``, ``sub_code`` and ``sub_msg`` (case-insensitive).
The shop file's ``error_actions`` maps a code seen in the field ahead of this table. Whatever nothing
matches is a business refusal of that one request, carrying the platform's message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from syncd.errors import (
    AuthError,
    FatalError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
    SyncdError,
    TransientError,
)

TOKEN_EXPIRED = 10019
_REAUTHORIZE_HINT = ("authorise the app again from the shop's main account in the Pinduoduo merchant back office "
                     "and put the new pair under auth in the shop file")


class Action(enum.Enum):
    """What to do with a platform error."""

    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REFRESH = "refresh"  # refresh the token once, then retry the call once
    REAUTHORIZE = "reauthorize"  # a person must authorise the shop again
    FATAL = "fatal"  # the operator must fix something; the hint says what
    REJECT = "reject"  # business refusal of this one request


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: which errors it matches and what to do."""

    code: int | None  # None: any code
    words: tuple[str, ...]  # any of them in the error text (lower case); () matches any text
    action: Action
    hint: str = ""


_A = Action
ERROR_TABLE: tuple[Rule, ...] = (
    # First match wins: the refresh token before the access token, flow control before "busy".
    Rule(TOKEN_EXPIRED, (), _A.REFRESH),
    Rule(None, ("refresh_token",), _A.REAUTHORIZE, "the refresh token is expired or invalid: " + _REAUTHORIZE_HINT),
    Rule(None, ("重新授权", "授权已失效", "授权失效", "授权已过期", "取消授权", "授权已取消", "授权已关闭",
                "店铺未授权", "未授权店铺", "authorization revoked"), _A.REAUTHORIZE,
         "the shop's authorisation is gone: " + _REAUTHORIZE_HINT),
    Rule(None, ("access_token已过期", "access_token过期", "token已过期", "access_token不存在", "access_token无效",
                "无效的access_token", "access_token不合法", "invalid access_token", "access token expired"),
         _A.REFRESH),
    Rule(None, ("签名", "sign错误", "sign不正确", "sign error", "invalid sign", "sign invalid", "sign is invalid"),
         _A.FATAL, "the signature was refused: check client_secret (and client_id) in the shop file"),
    Rule(None, ("时间戳", "timestamp"), _A.FATAL, "the request time was refused: synchronise this host's clock (NTP)"),
    Rule(None, ("client_id",), _A.FATAL, "the app was refused: check client_id in the shop file"),
    Rule(None, ("白名单", "whitelist"), _A.FATAL,
         "this host's IP is not whitelisted: add it to the app in the Pinduoduo open-platform console"),
    Rule(None, ("频繁", "限流", "流控", "频率", "too frequent", "frequency", "rate limit", "flow control", "qps"),
         _A.RATE_LIMITED),
    Rule(None, ("接口不存在", "type不存在", "api不存在", "接口已下线", "unknown type", "api not exist"), _A.FATAL,
         "the platform does not know this API: syncd needs an update"),
    Rule(None, ("权限", "授权访问", "permission", "无权"), _A.FATAL,
         "the app lacks permission for this API: apply for it in the Pinduoduo open-platform console"),
    Rule(None, ("繁忙", "busy", "系统错误", "系统异常", "内部错误", "服务异常", "服务不可用", "超时", "timeout",
                "稍后重试", "请重试", "try again", "unavailable"), _A.RETRY),
)


def classify(code: int | None, sub_code: str, text: str,
             overrides: Mapping[str, str] | None = None) -> Rule | None:
    """The shop's override for ``code`` / ``sub_code``, else the first matching row; None when unknown."""
    for key in (str(code) if code is not None else "", sub_code):
        if key and overrides and key in overrides:
            return Rule(code, (), Action(overrides[key]), "classified by error_actions in the shop file")
    haystack = f"{text} {sub_code}".lower()
    for rule in ERROR_TABLE:
        if rule.code is not None and rule.code != code:
            continue
        if not rule.words or any(word in haystack for word in rule.words):
            return rule
    return None


def error_for(api: str, code: int | None, sub_code: str, message: str,
              overrides: Mapping[str, str] | None = None) -> SyncdError:
    """The syncd error for an ``error_response``; ``message`` must already be scrubbed of secrets."""
    what = f"pdd {api}: error {code if code is not None else '?'}" + (f" {sub_code}" if sub_code else "")
    if message:
        what += f" ({message})"
    rule = classify(code, sub_code, message, overrides)
    tag = sub_code or (str(code) if code is not None else None)
    if rule is None:
        return RejectedError(what, code=tag, platform_message=message or None)
    hint = f": {rule.hint}" if rule.hint else ""
    match rule.action:
        case Action.RETRY:
            return TransientError(what, code=tag)
        case Action.RATE_LIMITED:
            return RateLimitedError(f"{what}: rate limited", code=tag)
        case Action.REFRESH:
            return AuthError(what, code=tag)
        case Action.REAUTHORIZE:
            return ReauthorizationRequired(what + hint, code=tag)
        case Action.FATAL:
            return FatalError(what + hint)
        case Action.REJECT:
            return RejectedError(what, code=tag, platform_message=message or None)
