"""The refusals of the Pinduoduo simulator, in PDD's ``error_response`` (reference/storefronts.md §2.1, §2.7).

Only 10019 (access_token已过期) is a confirmed code. The reference found no confirmable code for the
others, so the simulator picks these and says so; the adapter classifies them by their text, as the
reference advises, never by these numbers.
"""

from __future__ import annotations

PARAM = 10000  # 参数错误: a business parameter is missing or invalid (sub_msg says which)
CLIENT = 10001  # client_id unknown [chosen]
TYPE = 10002  # unknown API type [chosen]
TIMESTAMP = 10003  # timestamp missing or more than 10 minutes off [chosen]
SIGN = 10004  # signature wrong [chosen]
TOKEN = 10019  # access_token expired or unknown [confirmed for expired]
REVOKED = 10035  # the shop's authorisation is gone [chosen]
REFRESH = 10036  # refresh_token expired or invalid [chosen]
BUSY = 50000  # system busy [chosen]
BUSINESS = 52101  # business refusal (sub_msg says why) [chosen]
FLOW = 70031  # flow control [chosen]

MESSAGES = {PARAM: "参数错误", CLIENT: "client_id不存在", TYPE: "type不存在", TIMESTAMP: "timestamp已过期或不合法",
            SIGN: "签名错误", TOKEN: "access_token已过期", REVOKED: "授权已失效，请商家重新授权",
            REFRESH: "refresh_token已过期或无效", BUSY: "系统繁忙，请稍后重试", BUSINESS: "业务处理失败",
            FLOW: "调用过于频繁，请调整调用频率"}


class PddApiError(Exception):
    """One refusal: ``error_code`` and ``error_msg`` (from :data:`MESSAGES` unless given), ``sub_msg``."""

    def __init__(self, code: int, sub_msg: str = "", msg: str | None = None, sub_code: str = "") -> None:
        self.code = code
        self.msg = msg or MESSAGES.get(code, "错误")
        self.sub_msg = sub_msg
        self.sub_code = sub_code or (str(code) if sub_msg else "")
        super().__init__(f"{code} {self.msg}: {sub_msg}")


def param(what: str) -> PddApiError:
    """10000: a business parameter is missing or invalid."""
    return PddApiError(PARAM, what)


def business(why: str) -> PddApiError:
    """52101: the business rule refused (already shipped, not ready, unknown carrier...)."""
    return PddApiError(BUSINESS, why)
