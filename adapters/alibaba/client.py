"""1688 open-platform client: URL, signature, rate budget, tokens, envelopes, errors.

reference/suppliers-tracking-alerts.md §A.1 (URL and form), §A.2 (signature), §A.3 (tokens), §A.7
(errors). One :meth:`AlibabaClient.call` is one API call: its rate budget taken, the form signed (the
JSON string of a structured parameter is what is both posted and signed), POSTed through
:mod:`syncd.http` (which hands 4xx bodies back: the gateway explains itself in them), the gateway and
business failures classified once in :mod:`adapters.alibaba.errors`, transient ones retried under the
shared policy unless the caller says not to, and a refused access token refreshed once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from syncd import retry
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.adapters.alibaba.errors import error_for
from syncd.adapters.alibaba.mapping import is_true, text
from syncd.adapters.alibaba.signing import SIGNATURE, flatten, sign, url_path
from syncd.adapters.alibaba.tokens import TokenKeeper
from syncd.domain import Token, mask_phone
from syncd.errors import (
    AuthError,
    FatalError,
    ProtocolError,
    RateLimitedError,
    ReauthorizationRequired,
    RejectedError,
)
from syncd.http import endpoint, json_object, send
from syncd.ratelimit import BAN_SECONDS
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.alibaba")

SYSTEM = "1688"
TRADE, LOGISTICS = "com.alibaba.trade", "com.alibaba.logistics"
PREVIEW = "alibaba.createOrder.preview"
CREATE = "alibaba.trade.fastCreateOrder"
ORDER_LIST = "alibaba.trade.getBuyerOrderList"
ORDER_DETAIL = "alibaba.trade.get.buyerView"
CANCEL = "alibaba.trade.cancel"
PROTOCOL_PAY = "alibaba.trade.pay.protocolPay.preparePay"
LOGISTICS_INFOS = "alibaba.trade.getLogisticsInfos.buyerView"
LOGISTICS_TRACE = "alibaba.trade.getLogisticsTraceInfo.buyerView"
PRODUCT, FENXIAO, CROSSBORDER = "com.alibaba.product", "com.alibaba.fenxiao", "com.alibaba.fenxiao.crossborder"
NAMESPACES: dict[str, str] = {
    PREVIEW: TRADE, CREATE: TRADE, ORDER_LIST: TRADE, ORDER_DETAIL: TRADE, CANCEL: TRADE, PROTOCOL_PAY: TRADE,
    LOGISTICS_INFOS: LOGISTICS, LOGISTICS_TRACE: LOGISTICS,
    # product detail for stock and price (reference/stock-and-price.md §4.1); which one: the supplier file
    "alibaba.cross.productInfo": PRODUCT, "alibaba.product.simple.get": PRODUCT, "alibaba.product.get": PRODUCT,
    "alibaba.fenxiao.productInfo.get": FENXIAO, "product.search.queryProductDetail": CROSSBORDER,
}
# 1688 publishes no numeric quota (§A.7, §F): a modest budget per API; rate_limits in the file sets the real one.
DEFAULT_RATE = 5.0
_API_QOS = "gw.qosapifrequencylimit"  # one API refused; the others (and other accounts' APIs) go on
_MAX_MESSAGE = 300
_FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@dataclass(frozen=True, slots=True)
class Answer:
    """A business answer: its body, and the business error code the caller said it expects (or "")."""

    body: dict[str, Any]
    code: str = ""
    message: str = ""


class AlibabaClient:
    """Signed calls to the 1688 gateway for one buyer account, with its tokens kept fresh."""

    def __init__(self, config: AlibabaSupplierConfig, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx
        self._tokens = TokenKeeper(config, ctx, self._post_system)
        self._qos_streak = 0

    def call(self, api: str, params: dict[str, Any], *, retried: bool = True, tolerate: Collection[str] = (),
             refusals: bool = False, hide: Iterable[str] = ()) -> Answer:
        """One API call. ``retried=False``: transient failures are raised at once (fastCreateOrder is not
        idempotent); ``tolerate``: business codes returned in the Answer instead of raised; ``refusals``:
        every business refusal (what the error table calls a rejection) returned too; ``hide``: strings
        (the receiver) that must never appear in an error message."""
        hidden = [h for h in hide if h]

        def attempt() -> Answer:
            current = self._tokens.current()
            try:
                return self._once(api, params, current.access_token, tolerate, refusals, hidden)
            except ReauthorizationRequired:
                raise
            except AuthError:
                # The gateway refused the token before the API ran: sending again after a refresh cannot
                # duplicate anything, not even an order.
                renewed = self._tokens.renew_after_rejection(current)
                return self._once(api, params, renewed.access_token, tolerate, refusals, hidden)

        if not retried:
            return attempt()
        return retry.call(self._ctx.retry, attempt, what=f"1688 {api}", longest_wait=BAN_SECONDS)

    def ensure_token(self) -> Token:
        """A usable access token (refreshed / postponed as due)."""
        return retry.call(self._ctx.retry, self._tokens.current, what="1688 token")

    def rate(self, api: str) -> float:
        """Calls per second allowed for ``api``."""
        return self._config.rate_limits.get(api, DEFAULT_RATE)

    # ---- one request ---------------------------------------------------------------------------------

    def _scope(self, api: str = "") -> str:
        return f"{SYSTEM}:{self._config.id}:{api}"

    def _url(self, path: str) -> str:
        return f"{self._config.base_url}/openapi/{path}"

    def _once(self, api: str, params: dict[str, Any], access_token: str, tolerate: Collection[str],
              refusals: bool, hidden: list[str]) -> Answer:
        self._ctx.limiter.acquire(self._scope(api), self.rate(api))
        path = url_path("param2", 1, NAMESPACES[api], api, self._config.app_key)
        form = flatten(params)
        form["access_token"] = access_token  # signed like every other parameter
        form[SIGNATURE] = sign(path, form, self._config.app_secret.get_secret_value())
        request = httpx.Request("POST", endpoint(self._url(path)), content=urlencode(form).encode(), headers=_FORM)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=api, error_bodies=True)
        if resp.status_code >= 400:
            raise self._ctx.stats.platform_error(SYSTEM, api, self._http_error(api, resp, hidden))
        body = json_object(resp, system=SYSTEM, api=api)
        if text(body.get("error_code")):  # a gateway error inside a 200
            raise self._ctx.stats.platform_error(SYSTEM, api, self._error(
                api, text(body.get("error_code")), text(body.get("error_message")), 200, hidden),
                text(body.get("error_code")))
        failure = business_failure(body)
        if failure is not None:
            code, message = failure
            if code in tolerate:
                return Answer(body, code, self._scrub(message, hidden))
            err = self._ctx.stats.platform_error(SYSTEM, api, self._error(api, code, message, 200, hidden), code)
            if refusals and isinstance(err, RejectedError):
                return Answer(body, code, self._scrub(message, hidden)[:_MAX_MESSAGE])
            raise err
        self._qos_streak = 0
        return Answer(body)

    def _http_error(self, api: str, resp: httpx.Response, hidden: list[str]) -> Exception:
        status = resp.status_code
        try:
            body = resp.json()
        except ValueError:
            body = None
        code = text(body.get("error_code")) if isinstance(body, dict) else ""
        if isinstance(body, dict) and not code:
            code = text(body.get("errorCode")) or text(body.get("code"))
        if code or status == 401:
            message = text(body.get("error_message")) or text(body.get("errorMessage")) \
                if isinstance(body, dict) else ""
            return self._error(api, code, message, status, hidden)
        if status == 403:
            return FatalError(f"1688 {api}: HTTP 403: check the app's API permissions and IP whitelist in the "
                              "1688 open-platform console")
        return ProtocolError(f"1688 {api}: HTTP {status} without a 1688 error body")

    def _error(self, api: str, code: str, message: str, status: int, hidden: list[str]) -> Exception:
        err = error_for(api, self._scrub(code, hidden), self._scrub(message, hidden)[:_MAX_MESSAGE],
                        status=status, streak=self._qos_streak + 1, overrides=self._config.error_actions,
                        first_wait=self._config.flow_control_wait_seconds)
        if isinstance(err, RateLimitedError):
            self._qos_streak += 1
            # a ban (10 s, 20 s, ...) pauses the account, or this API alone; the stage moves on to other suppliers
            if self._ctx.limiter.pause_if_ban(self._scope(api if code.lower() == _API_QOS else ""), err):
                log.warning("1688 supplier %s: flow control on %s (%s): calls pause for %.0f s", self._config.id,
                            api, code or status, err.retry_after)
        return err

    def _scrub(self, words: str, hidden: list[str]) -> str:
        # 1688's messages are outside text and may echo what we sent: secrets, tokens, the receiver.
        for secret in (self._config.app_secret.get_secret_value(), *self._tokens.known_secrets(), *hidden):
            if secret:
                words = words.replace(secret, "***")
        return _PHONE.sub(lambda m: mask_phone(m.group(0)), words)

    # ---- the token endpoints (unsigned, client_secret in the form) -----------------------------------

    def _post_system(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        api = path.rsplit("/", 1)[-1]
        self._ctx.limiter.acquire(f"{SYSTEM}:{self._config.id}:{api}", self.rate(api))
        request = httpx.Request("POST", self._url(f"{path}/{self._config.app_key}"),
                                content=urlencode(form).encode(), headers=_FORM)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=api, error_bodies=True)
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = None
            return resp.status_code, body if isinstance(body, dict) else {}
        return resp.status_code, json_object(resp, system=SYSTEM, api=api)


def business_failure(body: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) when the body reports a business failure, else None.

    ``success`` false (boolean or text) with ``errorCode``/``errorMessage``, ``code``/``message`` or
    ``errorCode``/``errorMsg``; APIs without ``success`` (getBuyerOrderList) fail by carrying an errorCode.
    """
    code = text(body.get("errorCode")) or text(body.get("code"))
    message = text(body.get("errorMessage")) or text(body.get("errorMsg")) or text(body.get("message"))
    if "success" in body:
        if is_true(body.get("success")):
            return None
        return code or "unknown", message
    if text(body.get("errorCode")):
        return code, message
    return None
