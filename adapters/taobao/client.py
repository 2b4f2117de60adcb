"""Taobao TOP client: request format, signing, rate budget, the error table and the session.

reference/storefronts.md §3.1 (request), §3.2 (signature), §3.3 (session), §3.7 (errors and limits).
One :meth:`TaobaoClient.call` is one API call: the shop's rate budget for that API is taken, the call
is signed and sent through :mod:`syncd.http` as a form POST, its envelope read (``<name>_response`` or
``error_response``), a failure classified once in :data:`ERROR_TABLE`, transient ones retried under the
shared policy, and a refused session refreshed once where the app type allows it.

Every parameter, ``session`` included, goes in the form body rather than the query string, so that no
URL (which proxies and logs keep) ever carries the session or the signature.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from syncd import clock, retry
from syncd.adapters.common.fields import digits
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.adapters.taobao.session import REFRESH_METHOD, SessionKeeper
from syncd.adapters.taobao.signing import sign
from syncd.domain import Token
from syncd.errors import (
    AuthError,
    FatalError,
    ProtocolError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
    SyncdError,
    TransientError,
)
from syncd.http import endpoint, json_object, send
from syncd.registry import AdapterContext

SYSTEM = "taobao"
API_VERSION = "2.0"
_MAX_MESSAGE = 300
_BAN = re.compile(r"ban\s+will\s+last\s+(?:for\s+)?(\d+)\s+more\s+seconds?", re.IGNORECASE)
_DAILY_QUOTA = "accesscontrol.limited-by-app-access-count"

# Calls per second per API and shop. TOP publishes no per-API numbers (reference §3.7, unconfirmed), so
# these are conservative guesses; a shop file's ``rate_limits`` overrides any of them.
DEFAULT_RATES: dict[str, float] = {
    "taobao.trades.sold.increment.get": 10.0,
    "taobao.trade.fullinfo.get": 20.0,
    "taobao.top.oaid.decrypt": 5.0,
    "taobao.logistics.companies.get": 1.0,
    "taobao.logistics.offline.send": 10.0,
    "taobao.refunds.receive.get": 5.0,
    "taobao.items.onsale.get": 5.0,  # the catalogue (issue 19), read every few hours
    "taobao.items.inventory.get": 5.0,
    "taobao.items.seller.list.get": 5.0,
    "taobao.skus.quantity.update": 10.0,  # stock writes, 20 SKUs of one item a call
    "taobao.item.quantity.update": 10.0,
    REFRESH_METHOD: 1.0,
}
FALLBACK_RATE = 5.0


class Action(enum.Enum):
    """What to do with a platform error."""

    RETRY = "retry"
    RATE_LIMITED = "rate-limited"
    REFRESH = "refresh"  # the session was refused: refresh once where allowed, then retry once
    REAUTHORIZE = "reauthorize"  # a person must authorise the shop again
    FATAL = "fatal"  # the operator must fix something; the hint says what
    REJECT = "reject"  # business refusal of this one request


@dataclass(frozen=True, slots=True)
class Rule:
    code: int | None  # None matches any code
    sub_code: str  # prefix of sub_code; "" matches any
    action: Action
    hint: str = ""


_A = Action
B98_HINT = ("Taobao does not take a self-contact tracking number for this trade's shipping type (a cash-on-delivery "
            "trade ships only with a COD carrier booked on Taobao): enter the parcel by hand in the seller centre "
            "(已卖出的宝贝 → 发货) with the same carrier and number, then syncd orders release the order")
_SHIP_RETRY = tuple(f"isv.logistics-{kind}-service-error:{sub}"
                    for kind in ("offline", "online", "dummy") for sub in ("B150", "S01"))
ERROR_TABLE: tuple[Rule, ...] = (
    # First match wins. Flow control and session problems first, then the isp./isv. split of §3.7.
    Rule(7, "", _A.RATE_LIMITED),
    Rule(27, "", _A.REFRESH),
    Rule(None, "invalid-sessionkey", _A.REFRESH),
    Rule(None, "session-expired", _A.REFRESH),
    Rule(None, "sessionkey-not-generated-by-server", _A.REFRESH),
    Rule(None, "isp.", _A.RETRY),
    *(Rule(None, sub, _A.RETRY) for sub in _SHIP_RETRY),  # 发货异常，请稍后重试
    Rule(10, "", _A.RETRY),  # Service Currently Unavailable
    Rule(26, "", _A.FATAL, "no session was sent: set session in the shop file"),
    Rule(24, "", _A.FATAL, "no signature was sent: syncd needs a fix"),
    Rule(25, "", _A.FATAL, "the signature was refused: check app_secret and sign_method in the shop file"),
    Rule(28, "", _A.FATAL, "app_key is missing from the shop file"),
    Rule(29, "", _A.FATAL, "app_key was refused: check app_key in the shop file"),
    Rule(30, "", _A.FATAL, "the request time was missing: syncd needs a fix"),
    Rule(31, "", _A.FATAL, "the request time was refused: synchronise this host's clock (NTP)"),
    Rule(11, "", _A.FATAL, "the app lacks permission for this API: apply for it in the TOP console"),
    Rule(12, "", _A.REAUTHORIZE, "the seller's authorisation does not cover this API: authorise the shop again"),
    Rule(9, "", _A.FATAL, "the gateway refused the HTTP method: syncd needs a fix"),
    Rule(21, "", _A.FATAL, "the API name is missing: syncd needs a fix"),
    Rule(22, "", _A.FATAL, "the platform does not know this API: syncd needs an update"),
    Rule(32, "", _A.FATAL, "the API version was refused: syncd needs an update"),
    Rule(33, "", _A.FATAL, "the API version was refused: syncd needs an update"),
    Rule(34, "", _A.FATAL, "the API version was refused: syncd needs an update"),
    Rule(42, "", _A.FATAL, "the gateway forbids this request (IP whitelist?): check the app in the TOP console"),
    Rule(40, "", _A.REJECT),
    Rule(41, "", _A.REJECT),
    Rule(43, "", _A.REJECT),
    # B98: the trade's shipping type refuses a self-contact tracking number: cash on delivery (货到付款订单不能使用
    # 自己联系物流发货; COD ships only through logistics.online.send), virtual goods, home installation. A refusal
    # of this trade, never retried: the order is held tracking_rejected with what a person does instead.
    *(Rule(None, f"isv.logistics-{kind}-service-error:B98", _A.REJECT, B98_HINT) for kind in ("offline", "dummy")),
    Rule(None, "isv.", _A.REJECT),
)


def classify(code: int, sub_code: str) -> Rule | None:
    """The first rule of :data:`ERROR_TABLE` matching ``(code, sub_code)``; None when unknown."""
    for rule in ERROR_TABLE:
        if (rule.code is None or rule.code == code) and sub_code.startswith(rule.sub_code):
            return rule
    return None


def ban_seconds(text: str) -> int | None:
    """N of "This ban will last (for) N more seconds", else None."""
    m = _BAN.search(text)
    return int(m.group(1)) if m else None


def _until_shanghai_midnight(now: datetime) -> float:
    local = clock.ensure_utc(now).astimezone(clock.SHANGHAI)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())


def error_for(method: str, code: int, sub_code: str, message: str, *, msg: str = "") -> SyncdError:
    """The syncd error for an ``error_response``: ``message`` is its ``sub_msg`` (else ``msg``), ``msg`` the
    generic text (flow control puts the ban in either); both must already be scrubbed."""
    what = f"taobao {method}: code {code}" + (f" {sub_code}" if sub_code else "")
    if message:
        what += f" ({message[:_MAX_MESSAGE]})"
    rule = classify(code, sub_code)
    if rule is None:
        return FatalError(f"{what}: unexpected answer; the shop's jobs stop until someone looks")
    hint = f": {rule.hint}" if rule.hint else ""
    tag = sub_code or str(code)
    match rule.action:
        case Action.RETRY:
            return TransientError(what, code=tag)
        case Action.RATE_LIMITED:
            ban = ban_seconds(f"{msg} {message}")
            wait: float | None = ban + 1 if ban is not None else None  # the platform says: sleep N+1 s
            if wait is None and sub_code.startswith(_DAILY_QUOTA):
                wait = _until_shanghai_midnight(clock.now())  # the app's daily quota resets at midnight
            return RateLimitedError(f"{what}: flow control", retry_after=wait, code=tag)
        case Action.REFRESH:
            return AuthError(what, code=tag)
        case Action.REAUTHORIZE:
            return ReauthorizationRequired(what + hint, code=tag)
        case Action.FATAL:
            return FatalError(what + hint)
        case Action.REJECT:
            return RejectedError(what + hint, code=tag, platform_message=message[:_MAX_MESSAGE] or None)


def response_key(method: str) -> str:
    """``taobao.trades.sold.increment.get`` → ``trades_sold_increment_get_response``."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def param_text(value: Any) -> str:
    """A business parameter as TOP wants it: lists comma-joined, objects JSON, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return ",".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if (d := digits(value)) is not None:
        return int(d)
    return None


class TaobaoClient:
    """Signed calls to the TOP gateway for one shop, with its session kept usable."""

    def __init__(self, config: TaobaoShopConfig, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx
        self._sessions = SessionKeeper(config, ctx.tokens, lambda m, p: self._once(m, p, None))

    def call(self, method: str, params: Mapping[str, Any], *, session: bool = True) -> dict[str, Any]:
        """One API call → the object inside ``<name>_response``; retried while transient."""

        def attempt() -> dict[str, Any]:
            if not session:
                return self._once(method, params, None)
            current = self._sessions.current()
            try:
                return self._once(method, params, current.access_token)
            except ReauthorizationRequired:
                raise
            except AuthError as err:
                renewed = self._sessions.renew_after_rejection(current, err)
            try:
                return self._once(method, params, renewed.access_token)
            except ReauthorizationRequired:
                raise
            except AuthError as again:
                raise ReauthorizationRequired(
                    f"{again}: refused again right after a refresh: authorise the shop again",
                    code=again.code) from again

        return retry.call(self._ctx.retry, attempt, what=f"taobao {method}")

    def ensure_token(self) -> Token:
        """The usable session with its expiry (refreshed first when due and allowed)."""
        return retry.call(self._ctx.retry, self._sessions.current, what="taobao session")

    def _request(self, method: str, params: Mapping[str, Any], session: str | None) -> httpx.Request:
        form = {k: param_text(v) for k, v in params.items() if v is not None}
        form.update({
            "method": method,
            "app_key": self._config.app_key,
            "timestamp": clock.shanghai_text(clock.now()),
            "format": "json",
            "v": API_VERSION,
            "sign_method": self._config.sign_method,
        })
        if session is not None:
            form["session"] = session
        form = {k: v for k, v in form.items() if v != ""}
        form["sign"] = sign(form, self._config.app_secret.get_secret_value(), self._config.sign_method)
        return httpx.Request(
            "POST", endpoint(self._config.base_url), content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})

    def rate(self, method: str) -> float:
        """Calls a second this shop may make of ``method``: its ``rate_limits`` entry, else the default."""
        return self._config.rate_for(method, DEFAULT_RATES.get(method, FALLBACK_RATE))

    def _once(self, method: str, params: Mapping[str, Any], session: str | None) -> dict[str, Any]:
        self._ctx.limiter.acquire(f"taobao:{self._config.id}:{method}", self.rate(method))
        request = self._request(method, params, session)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=method)
        body = json_object(resp, system=SYSTEM, api=method)
        failure = body.get("error_response")
        if failure is not None:
            if not isinstance(failure, dict):
                raise ProtocolError(f"taobao {method}: error_response is not an object")
            code = _code(failure.get("code"))
            if code is None:
                raise ProtocolError(f"taobao {method}: error_response has no numeric code")
            sub_code = str(failure.get("sub_code") or "")
            msg, sub_msg = str(failure.get("msg") or ""), str(failure.get("sub_msg") or "")
            raise self._ctx.stats.platform_error(SYSTEM, method, error_for(
                method, code, sub_code, self._scrub(sub_msg or msg), msg=self._scrub(msg)), sub_code or code)
        answer = body.get(response_key(method))
        if not isinstance(answer, dict):
            raise ProtocolError(f"taobao {method}: answer has no {response_key(method)} object")
        return answer

    def _scrub(self, text: str) -> str:
        # Platform messages are outside text and may echo what we sent; never let a secret through.
        for secret in (self._config.app_secret.get_secret_value(), *self._sessions.known_secrets()):
            if secret:
                text = text.replace(secret, "***")
        return text
