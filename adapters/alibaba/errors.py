"""The one error table of the 1688 client: reference/suppliers-tracking-alerts.md §A.7.

Two layers fail: the gateway (``error_code`` / ``error_message``, HTTP 4xx and sometimes 200; 401 = the
access token) and the business API (HTTP 200, ``success: false`` with ``errorCode``/``errorMessage``,
``code``/``message`` or ``errorCode``/``errorMsg``). Both are classified here, once, by code and then by
words in the message; a business code the caller expects (``500_2`` not shipped yet, trace ``404``,
``CLOSE_ORDER_TOO_FAST``) is read by the caller before it gets here. The supplier file's
``error_actions`` classifies a code seen in the field ahead of this table. Whatever nothing matches is a
business refusal of that one request, carrying 1688's code and message.
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

QOS_FIRST_WAIT = 10.0  # seconds; clients seen in the field back off 10 s, 20 s, 40 s... (§A.7)
QOS_MAX_WAIT = 320.0
REAUTHORIZE_HINT = ("the buyer account must authorise the app again (open.1688.com authorisation page) and the "
                    "new pair go under access_token / refresh_token in the supplier file")


class Action(enum.Enum):
    """What to do with a 1688 error."""

    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REFRESH = "refresh"  # refresh the access token once, then send the call once more
    REAUTHORIZE = "reauthorize"  # a person must authorise again
    FATAL = "fatal"  # the operator must fix something; the hint says what
    REJECT = "reject"  # a business refusal of this one request


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: the codes it matches (any when empty) or words in the message, and what to do."""

    codes: frozenset[str]
    words: tuple[str, ...]
    action: Action
    hint: str = ""


def _r(codes: tuple[str, ...], words: tuple[str, ...], action: Action, hint: str = "") -> Rule:
    return Rule(frozenset(c.lower() for c in codes), words, action, hint)


_A = Action
ERROR_TABLE: tuple[Rule, ...] = (
    # First match wins: flow control and configuration before the token words they may contain.
    _r(("gw.QosAppFrequencyLimit", "gw.QosApiFrequencyLimit", "gw.QosUserFrequencyLimit"),
       ("frequency", "频繁", "限流", "流控"), _A.RATE_LIMITED),
    _r(("gw.SignatureInvalid",), ("signature",), _A.FATAL,
       "1688 refused the request signature: check app_secret (and app_key) in the supplier file"),
    _r(("gw.APIACLDecline",), ("acl",), _A.FATAL,
       "the app has no permission for this API: apply for it in the 1688 open-platform console "
       "(应用管理 → API 权限), and check the buyer account is enterprise-verified"),
    _r(("gw.AppKeyNotExist", "gw.InvalidAppKey", "gw.AppKeyInvalid"), ("appkey", "app key"), _A.FATAL,
       "1688 does not know this app: check app_key in the supplier file"),
    _r(("gw.ParamMissing", "gw.ParamInvalid", "gw.ParamTypeInvalid", "gw.ApiNotExist", "gw.APINotExist"), (),
       _A.FATAL, "1688 did not accept the request syncd built: this needs a syncd fix, please report it"),
    _r((), ("重新授权", "授权已过期", "授权已失效", "取消授权", "授权已取消", "authorization revoked",
            "refresh_token"), _A.REAUTHORIZE, REAUTHORIZE_HINT),
    _r(("401", "gw.InvalidAccessToken", "gw.AccessTokenExpired", "gw.AuthorizationError"),
       ("access_token", "accesstoken", "access token", "token is expired", "token expired", "token invalid",
        "need user authorized", "user authorized"), _A.REFRESH),
    _r(("403",), ("forbidden",), _A.FATAL,
       "1688 forbade the call: check the app's permissions and IP whitelist in the open-platform console"),
    _r(("gw.InternalError", "gw.ServiceUnavailable", "gw.Timeout", "500"),
       ("isp.", "系统繁忙", "繁忙", "系统异常", "系统错误", "服务不可用", "超时", "稍后重试", "请重试", "timeout",
        "timed out", "system error", "internal error", "service unavailable", "busy", "try again"), _A.RETRY),
)


def classify(code: str, message: str, overrides: Mapping[str, str] | None = None) -> Rule | None:
    """The supplier file's override for ``code``, else the first matching row; None when unknown."""
    if code and overrides and code in overrides:
        return Rule(frozenset({code.lower()}), (), Action(overrides[code]), "classified by error_actions")
    low_code, haystack = code.lower(), f"{code} {message}".lower()
    for rule in ERROR_TABLE:
        if low_code and low_code in rule.codes:
            return rule
    for rule in ERROR_TABLE:
        if any(word in haystack for word in rule.words):
            return rule
    return None


def qos_wait(streak: int, first: float = QOS_FIRST_WAIT) -> float:
    """Back-off after ``streak`` flow-control answers in a row (1 → 10 s, 2 → 20 s, ... capped)."""
    return min(QOS_MAX_WAIT, first * float(2 ** max(0, streak - 1)))


def error_for(api: str, code: str, message: str, *, status: int = 200, streak: int = 1,
              overrides: Mapping[str, str] | None = None, first_wait: float = QOS_FIRST_WAIT) -> SyncdError:
    """The syncd error for one 1688 failure; ``message`` must already be scrubbed of secrets.

    ``status`` 401 is an access-token problem whatever the body says; ``streak`` counts flow-control
    answers in a row for the growing retry-after.
    """
    what = f"1688 {api}: " + (f"error {code}" if code else f"HTTP {status}") + (f" ({message})" if message else "")
    rule = classify(code, message, overrides)
    if status == 401 and (rule is None or rule.action not in (Action.REAUTHORIZE, Action.RATE_LIMITED)):
        return AuthError(what, code=code or "401")
    if rule is None:
        return RejectedError(what, code=code or None, platform_message=message or None)
    hint = f": {rule.hint}" if rule.hint else ""
    match rule.action:
        case Action.RETRY:
            return TransientError(what, code=code or None)
        case Action.RATE_LIMITED:
            return RateLimitedError(f"{what}: rate limited", retry_after=qos_wait(streak, first_wait),
                                    code=code or None)
        case Action.REFRESH:
            return AuthError(what, code=code or None)
        case Action.REAUTHORIZE:
            return ReauthorizationRequired(what + hint, code=code or None)
        case Action.FATAL:
            return FatalError(what + hint)
        case Action.REJECT:
            return RejectedError(what, code=code or None, platform_message=message or None)
