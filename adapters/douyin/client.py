"""Douyin Shop (抖店) open-platform client: signing, transport, tokens and the error table.

reference/storefronts.md §1.1 (request), §1.2 (signature), §1.3 (tokens), §1.7 (errors).
One :meth:`DouyinClient.call` is one API call: signed, sent through :mod:`syncd.http`, its envelope
checked (success is ``code == 10000``), failures classified once in :data:`ERROR_TABLE`, transient
ones retried under the shared policy, and an expired token refreshed once.

Rate budget: every HTTP request (retries and token calls included) first takes a token from the
shared :class:`syncd.ratelimit.RateLimiter` under ``douyin:<syncd shop id>:<method>``. Douyin does not
publish its per-API limits (reference §1.4, §1.7: **unconfirmed**), so these defaults are our own
conservative assumptions; a shop file overrides any of them with ``rate_limits: {<method>: <calls/s>}``.

==============================  ==========  ====================================================
API                             calls/s     why this value (assumption, not a published limit)
==============================  ==========  ====================================================
order.searchList                10          the listing loop; a window is a few pages
order.orderDetail               10          read-backs before / after shipping
order.batchDecrypt              5           permission-gated and audited: keep it slow
order.logisticsAdd              20          tracking upload bursts after a supplier reply file
order.logisticsAddMultiPack     20          same
afterSale.List                  10          the refund stream, paged like searchList
token.create / token.refresh    1           rare; concurrent refreshes fail anyway (31012)
anything else                   10          e.g. order.logisticsCompanyList (once a day)
==============================  ==========  ====================================================

The catalogue and stock APIs (issue 19, ``adapters/douyin/products.py``) have budgets of their own: product.listV2
and sku.list 5 calls/s (read every few hours), sku.syncStockBatchMultiProducts and sku.syncStock 10 calls/s.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from syncd import clock, retry
from syncd.adapters.common.fields import whole
from syncd.adapters.common.tokens import RefreshedElsewhere, SingleWriterTokens
from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.adapters.douyin.signing import canonical_param_json, sign
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

log = logging.getLogger("syncd.adapters.douyin")

SYSTEM = "douyin"
SUCCESS = 10000
PARTIAL = 10001  # partial failure of a batch call: the items say which failed
PARTIAL_SUB_CODES = frozenset({"isv.business-failed:300008"})
CONCURRENT_REFRESH = "isv.business-failed:31012"
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
_EPOCH_THRESHOLD = 10**9  # an expires_in above this is an absolute Unix time, not a duration
_MAX_MESSAGE = 300

DEFAULT_RATE = 10.0  # calls per second for an API the table below does not name
DEFAULT_RATES: dict[str, float] = {  # see the module docstring: assumptions, Douyin publishes none
    "order.searchList": 10.0,
    "order.orderDetail": 10.0,
    "order.batchDecrypt": 5.0,
    "order.logisticsAdd": 20.0,
    "order.logisticsAddMultiPack": 20.0,
    "afterSale.List": 10.0,
    "product.listV2": 5.0,
    "sku.list": 5.0,
    "sku.syncStockBatchMultiProducts": 10.0,
    "sku.syncStock": 10.0,
    "token.create": 1.0,
    "token.refresh": 1.0,
}


def rate_for(config: DouyinShopConfig, method: str) -> float:
    """Calls per second allowed for ``method``: the shop's ``rate_limits`` entry, else our default."""
    return config.rate_limits.get(method, DEFAULT_RATES.get(method, DEFAULT_RATE))


class Action(enum.Enum):
    """What to do with a platform error code."""

    RETRY = "retry"
    RATE_LIMITED = "rate-limited"
    REFRESH = "refresh"  # refresh the token once, then retry the call once
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
ERROR_TABLE: tuple[Rule, ...] = (
    # First match wins: specific sub-codes before the catch-all of their code.
    Rule(None, "isp.service-error", _A.RETRY),
    Rule(20000, "", _A.RETRY),
    Rule(20001, "", _A.RETRY),
    Rule(50002, "isv.business-failed:70009", _A.RETRY),
    Rule(50002, "isv.business-failed:120018", _A.RETRY),
    Rule(50002, "isv.business-failed:120032", _A.RETRY),
    Rule(50002, "isv.business-failed:8888", _A.RETRY),
    Rule(50002, "isv.business-failed:2010401", _A.RATE_LIMITED),  # 系统繁忙 / 触发限流 (stock and product APIs)
    Rule(60000, "", _A.RATE_LIMITED),
    Rule(80000, "", _A.RETRY),
    Rule(40003, "isv.access-token-expired", _A.REFRESH),
    Rule(40003, "isv.access-token-no-existed", _A.REFRESH),
    Rule(40003, "isv.access-token-invalid", _A.FATAL,
         "the access token belongs to another app: check app_key, or authorise the shop for this app"),
    Rule(40003, "isv.signature-invalid", _A.FATAL,
         "the signature was refused: check app_secret (and app_key) in the shop file"),
    Rule(40003, "isv.timestamp", _A.FATAL,
         "the request time was refused: synchronise this host's clock (NTP)"),
    Rule(40003, "", _A.FATAL, "a platform parameter was refused: check the shop file"),
    Rule(30001, "dop.authorization", _A.REAUTHORIZE,
         "the shop's authorisation is gone or closed: authorise the app again in the Douyin Shop back office"),
    Rule(30001, "", _A.FATAL,
         "the app lacks permission for this API: request it in the Douyin open-platform console"),
    Rule(30002, "", _A.FATAL,
         "this host's IP is not whitelisted: add it to the app's IP whitelist in the open-platform console"),
    Rule(40001, "", _A.FATAL, "a platform parameter is missing: check app_key and the shop file"),
    Rule(50001, "", _A.REAUTHORIZE,
         "no token could be issued (refresh token or authorisation expired): authorise the shop again"),
    Rule(70000, "", _A.FATAL, "the platform took this API offline: syncd needs an update"),
    Rule(50002, "", _A.REJECT),
    Rule(40002, "", _A.REJECT),
    Rule(40004, "", _A.REJECT),
)


def classify(code: int, sub_code: str) -> Rule | None:
    """The first rule of :data:`ERROR_TABLE` matching ``(code, sub_code)``; None when unknown."""
    for rule in ERROR_TABLE:
        if (rule.code is None or rule.code == code) and sub_code.startswith(rule.sub_code):
            return rule
    return None


def error_for(method: str, code: int, sub_code: str, message: str) -> SyncdError:
    """The syncd error for a failed envelope; ``message`` must already be scrubbed."""
    what = f"douyin {method}: code {code}" + (f" {sub_code}" if sub_code else "")
    if message:
        what += f" ({message})"
    rule = classify(code, sub_code)
    if rule is None:
        return FatalError(f"{what}: unexpected answer; the shop's jobs stop until someone looks")
    hint = f": {rule.hint}" if rule.hint else ""
    tag = sub_code or str(code)
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


class DouyinClient:
    """Signed calls to the Douyin Shop gateway for one shop, with its tokens kept fresh."""

    def __init__(self, config: DouyinShopConfig, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx
        self._tokens = TokenKeeper(config, ctx, self._once)

    def call(self, method: str, params: dict[str, Any], *, token: bool = True, partial: bool = False) -> Any:
        """One API call → its ``data``; retried while transient. ``partial``: accept code 10001 / 300008."""

        def attempt() -> Any:
            if not token:
                return self._once(method, params, None, partial)
            current = self._tokens.current()
            try:
                return self._once(method, params, current.access_token, partial)
            except ReauthorizationRequired:
                raise
            except AuthError:
                renewed = self._tokens.renew_after_rejection(current)
                return self._once(method, params, renewed.access_token, partial)

        return retry.call(self._ctx.retry, attempt, what=f"douyin {method}")

    def call_object(self, method: str, params: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Like :meth:`call` for APIs whose ``data`` is an object (null reads as empty)."""
        data = self.call(method, params, partial=partial)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ProtocolError(f"douyin {method}: data is {type(data).__name__}, expected an object")
        return data

    def ensure_token(self) -> Token:
        """A usable access token: the stored one, or a new one created or refreshed now."""
        return retry.call(self._ctx.retry, self._tokens.current, what="douyin token")

    def _request(self, method: str, params: dict[str, Any], access_token: str | None) -> httpx.Request:
        param_json = canonical_param_json(params)
        timestamp = str(clock.to_epoch(clock.now()))
        query = {
            "app_key": self._config.app_key,
            "method": method,
            "timestamp": timestamp,
            "sign": sign(self._config.app_key, self._config.app_secret.get_secret_value(), method,
                         param_json, timestamp),
            "v": "2",
            "sign_method": "hmac-sha256",
        }
        if access_token is not None:
            query["access_token"] = access_token
        return httpx.Request(
            "POST", endpoint(f"{self._config.base_url}/{method.replace('.', '/')}"), params=query,
            content=param_json.encode(),  # the exact string that was signed
            headers={"Content-Type": "application/json", "x-open-no-old-err-code": "1"},
        )

    def _once(self, method: str, params: dict[str, Any], access_token: str | None, partial: bool) -> Any:
        # Wait for the budget before signing: the timestamp must be fresh when the request leaves.
        self._ctx.limiter.acquire(f"{SYSTEM}:{self._config.id}:{method}", rate_for(self._config, method))
        request = self._request(method, params, access_token)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=method)
        body = json_object(resp, system=SYSTEM, api=method)
        code = body.get("code")
        code = whole(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError(f"douyin {method}: answer has no numeric 'code'")
        sub_code = str(body.get("sub_code") or "")
        if code == SUCCESS or (partial and (code == PARTIAL or sub_code in PARTIAL_SUB_CODES)):
            return body.get("data")
        message = str(body.get("sub_msg") or body.get("msg") or "")
        raise self._ctx.stats.platform_error(SYSTEM, method, error_for(method, code, sub_code,
                                                                       self._scrub(message)[:_MAX_MESSAGE]),
                                             sub_code or code)

    def _scrub(self, text: str) -> str:
        # Platform messages are outside text and may echo what we sent; never let a secret through.
        for secret in (self._config.app_secret.get_secret_value(), *self._tokens.known_secrets()):
            if secret:
                text = text.replace(secret, "***")
        return text


Sender = Callable[[str, dict[str, Any], str | None, bool], Any]


class TokenKeeper:
    """The shop's token pair: loaded from the core's store, created or refreshed by a single writer."""

    def __init__(self, config: DouyinShopConfig, ctx: AdapterContext, send_once: Sender) -> None:
        self._config = config
        self._key = config.id
        self._send = send_once
        configured = [s.get_secret_value() for s in (config.auth.access_token, config.auth.refresh_token)
                      if s is not None]
        self._tokens = SingleWriterTokens(
            ctx.tokens, config.id, who=f"douyin shop {config.id}",
            refresh_before=timedelta(minutes=config.refresh_before_minutes), exchange=self._exchange, log=log,
            configured=configured)

    def known_secrets(self) -> list[str]:
        """Every token string this keeper has handled (for scrubbing messages)."""
        return self._tokens.known_secrets()

    def current(self) -> Token:
        """The stored token when it is not due for refresh; otherwise a new one."""
        return self._tokens.current()

    def renew_after_rejection(self, rejected: Token) -> Token:
        """The platform refused ``rejected`` as expired: get another pair (from the store or a refresh)."""
        log.info("douyin shop %s: access token refused as expired; refreshing", self._key)
        return self._tokens.renew_after_rejection(rejected)

    def _exchange(self, stored: Token | None) -> Token:
        try:
            return self._fetch(stored)
        except RejectedError as err:
            if err.code == CONCURRENT_REFRESH:
                raise RefreshedElsewhere from err
            raise

    def _fetch(self, stored: Token | None) -> Token:
        auth = self._config.auth
        if stored is not None:
            return self._refresh(stored.refresh_token, stored)
        if auth.grant == "token":
            # The configured pair's expiry is unknown: a refresh tells it (same pair back if > 1 h left).
            assert auth.refresh_token is not None  # the config validator guarantees it
            return self._refresh(auth.refresh_token.get_secret_value(), None)
        params: dict[str, Any] = {"code": "", "grant_type": "authorization_self",
                                  "shop_id": self._config.shop_id}
        if self._config.test_shop:
            params["test_shop"] = "1"
        data = self._send("token.create", params, None, False)
        return self._token_from("token.create", data, None, None)

    def _refresh(self, refresh_token: str, previous: Token | None) -> Token:
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        data = self._send("token.refresh", params, None, False)
        return self._token_from("token.refresh", data, refresh_token, previous)

    def _token_from(self, method: str, data: Any, sent_refresh: str | None, previous: Token | None) -> Token:
        if not isinstance(data, dict):
            raise ProtocolError(f"douyin {method}: data is not an object")
        access, refresh, expires_in = data.get("access_token"), data.get("refresh_token"), data.get("expires_in")
        for name, value in (("access_token", access), ("refresh_token", refresh)):
            if not isinstance(value, str) or not value:
                raise ProtocolError(f"douyin {method}: answer has no {name}")
        expires_in = whole(expires_in)
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            raise ProtocolError(f"douyin {method}: answer has no usable expires_in")
        assert isinstance(access, str) and isinstance(refresh, str)
        self._tokens.remember(access, refresh)
        now = clock.now()
        expires_at = (clock.from_epoch(expires_in) if expires_in > _EPOCH_THRESHOLD
                      else now + timedelta(seconds=expires_in))
        refresh_expires_at: datetime | None = now + REFRESH_TOKEN_LIFETIME
        if refresh == sent_refresh:  # the same pair came back: its lifetime did not change
            refresh_expires_at = previous.refresh_expires_at if previous else None
        extra = {k: str(data[k]) for k in ("shop_id", "shop_name", "scope") if data.get(k) not in (None, "")}
        return Token(access_token=access, refresh_token=refresh, expires_at=expires_at,
                     refresh_expires_at=refresh_expires_at, extra=extra)
