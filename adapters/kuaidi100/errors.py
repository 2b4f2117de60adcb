"""The one error table of the Kuaidi100 client: reference/suppliers-tracking-alerts.md §C.4.

A failed call answers HTTP 200 with ``{"result": false, "returnCode": "...", "message": "..."}``. The
same code means different things to the real-time query and to the subscription (500 is "no record
yet" for one and "server error" for the other; 501 is "server error" and "already subscribed"), so the
table is keyed by (api, returnCode). Codes are third-party copies of the docs [code-3rd]; an unknown
code is a refusal of that one request carrying Kuaidi100's own words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from syncd.errors import FatalError, RateLimitedError, RejectedError, SyncdError, TransientError

QUERY = "query"
SUBSCRIBE = "subscribe"
QUOTA_RETRY_AFTER = 3600.0
"""601 (key expired / no quota left) is not over in seconds: try again in an hour, one call, not a storm."""


class Action(enum.Enum):
    """What to do with a return code."""

    OK = "ok"  # success
    NO_RECORDS = "no_records"  # query 500: Kuaidi100 has no record of the number yet (not an error)
    ALREADY = "already"  # subscribe 501: already polling, which is what we asked for
    RETRY = "retry"
    QUOTA = "quota"  # RateLimitedError with a long retry_after
    FATAL = "fatal"  # the operator must fix tracking.yaml or the account
    REJECT = "reject"  # this number / carrier is refused


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    meaning: str  # what Kuaidi100 means by the code, in its words
    hint: str = ""  # what the operator can do


_A = Action
_KEY_HINT = "check customer and key in tracking.yaml against the Kuaidi100 enterprise console"
_QUOTA = Rule(_A.QUOTA, "key已过期或没有剩余查询量",
              "the Kuaidi100 package is expired or used up: renew or top it up in the Kuaidi100 console; "
              f"syncd tries again in {QUOTA_RETRY_AFTER / 3600:.0f} hour")
_NO_AUTH = Rule(_A.FATAL, "不是合法的订阅者（授权key错）", _KEY_HINT)

ERROR_TABLE: dict[tuple[str, str], Rule] = {
    (QUERY, "200"): Rule(_A.OK, "查询成功"),
    (QUERY, "400"): Rule(_A.REJECT, "提交的数据不完整，或者贵公司没授权",
                         "check the carrier, the number and (SF) the phone; if every query is refused, "
                         + _KEY_HINT),
    (QUERY, "408"): Rule(_A.REJECT, "手机号验证失败", "the phone (last 4 digits) does not match this parcel"),
    (QUERY, "500"): Rule(_A.NO_RECORDS, "查询无结果"),
    (QUERY, "501"): Rule(_A.RETRY, "服务器错误"),
    (QUERY, "502"): Rule(_A.RETRY, "服务器繁忙"),
    (QUERY, "503"): Rule(_A.FATAL, "验证签名失败", _KEY_HINT),
    (QUERY, "600"): _NO_AUTH,
    (QUERY, "601"): _QUOTA,
    (SUBSCRIBE, "200"): Rule(_A.OK, "提交成功"),
    (SUBSCRIBE, "400"): Rule(_A.REJECT, "提交的数据不完整"),
    (SUBSCRIBE, "500"): Rule(_A.RETRY, "服务器错误（快递公司编码错误时也会返回）"),
    (SUBSCRIBE, "501"): Rule(_A.ALREADY, "重复订阅"),
    (SUBSCRIBE, "502"): Rule(_A.RETRY, "服务器繁忙"),
    (SUBSCRIBE, "503"): Rule(_A.FATAL, "验证签名失败", _KEY_HINT),
    (SUBSCRIBE, "600"): _NO_AUTH,
    (SUBSCRIBE, "601"): _QUOTA,
    (SUBSCRIBE, "700"): Rule(_A.REJECT, "订阅数据错误（不支持的快递公司、单号为空或超长）或错误的回调地址"),
    (SUBSCRIBE, "701"): Rule(_A.REJECT, "拒绝订阅的快递公司"),
    (SUBSCRIBE, "702"): Rule(_A.REJECT, "识别不到该单号对应的快递公司"),
}


def classify(api: str, code: str) -> Rule:
    """The row for ``code`` of ``api``; an unknown code is a refusal of that request."""
    return ERROR_TABLE.get((api, code), Rule(_A.REJECT, "未知返回码"))


def error_for(api: str, code: str, message: str, what: str) -> SyncdError | None:
    """The syncd error for a failed answer, None when the code is not an error (OK, NO_RECORDS, ALREADY).

    ``what`` names the call ("kuaidi100 query zhongtong 7300..."); ``message`` must already be scrubbed.
    """
    rule = classify(api, code)
    text = f"{what}: returnCode {code} ({message or rule.meaning})"
    hint = f": {rule.hint}" if rule.hint else ""
    platform_message = message or None
    match rule.action:
        case Action.OK | Action.NO_RECORDS | Action.ALREADY:
            return None
        case Action.RETRY:
            return TransientError(text, code=code)
        case Action.QUOTA:
            return RateLimitedError(text + hint, retry_after=QUOTA_RETRY_AFTER, code=code)
        case Action.FATAL:
            return FatalError(text + hint)
        case Action.REJECT:
            return RejectedError(text + hint, code=code, platform_message=platform_message)
