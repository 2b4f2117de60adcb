"""Pinduoduo (拼多多) open-platform client: request, signature, envelope, rate budget, tokens, errors.

reference/storefronts.md §2.1 (request), §2.2 (signature), §2.3 (tokens), §2.7 (errors and limits).
One :meth:`PddClient.call` is one API call: its rate budget taken, signed over every parameter, POSTed
to the router through :mod:`syncd.http`, the ``{"<name>_response": …}`` / ``{"error_response": …}``
envelope read, failures classified once in :mod:`adapters.pdd.errors`, transient ones retried under the
shared policy, and an expired token (10019) refreshed once.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import httpx

from syncd import clock, retry
from syncd.adapters.pdd.config import PddShopConfig
from syncd.adapters.pdd.errors import error_for
from syncd.adapters.pdd.signing import flatten, sign
from syncd.adapters.pdd.tokens import TokenKeeper
from syncd.domain import Token
from syncd.errors import AuthError, ProtocolError, ReauthorizationRequired
from syncd.http import endpoint, json_object, send
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.pdd")

SYSTEM = "pdd"
_MAX_MESSAGE = 300

# Published per-shop (or API-wide) limits, as calls per second (§2.7); the shop's rate_limits override them.
RATE_LIMITS: dict[str, float] = {
    "pdd.order.number.list.increment.get": 3000 / 60,
    "pdd.order.list.get": 6000 / 60,
    "pdd.order.information.get": 30_000 / 60,
    "pdd.order.status.get": 3000 / 60,
    "pdd.refund.list.increment.get": 100 / 10,
    "pdd.logistics.online.send": 5000,
    "pdd.logistics.companies.get": 1200 / 10,
}
# Unpublished: decryption (a third-party note speaks of 1 call per 10 s outside PDD's cloud, unconfirmed),
# extra parcels, token refresh. A modest budget; rate_limits in the shop file sets the real one.
DEFAULT_RATE = 10.0

# The success envelope's key per API (§2.1); an API missing here is read from its only "*_response" key.
RESPONSE_KEYS: dict[str, str] = {
    "pdd.order.number.list.increment.get": "order_sn_increment_get_response",
    "pdd.order.information.get": "order_info_get_response",
    "pdd.order.status.get": "order_status_get_response",
    "pdd.refund.list.increment.get": "refund_increment_get_response",
    "pdd.logistics.companies.get": "logistics_companies_get_response",
    "pdd.logistics.online.send": "logistics_online_send_response",
    "pdd.order.upload.extra.logistics": "upload_extra_logistics_response",
    "pdd.pop.auth.token.refresh": "pop_auth_token_refresh_response",
}


class PddClient:
    """Signed calls to the Pinduoduo router for one shop, with its tokens kept fresh."""

    def __init__(self, config: PddShopConfig, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx
        self._tokens = TokenKeeper(config, ctx, self._once)

    def call(self, api: str, params: dict[str, Any], *, token: bool = True) -> dict[str, Any]:
        """One API call → the object inside its ``*_response``; retried while transient."""

        def attempt() -> dict[str, Any]:
            if not token:
                return self._once(api, params, None)
            current = self._tokens.current()
            try:
                return self._once(api, params, current.access_token)
            except ReauthorizationRequired:
                raise
            except AuthError:
                renewed = self._tokens.renew_after_rejection(current)
                return self._once(api, params, renewed.access_token)

        return retry.call(self._ctx.retry, attempt, what=f"pdd {api}")

    def ensure_token(self) -> Token:
        """A usable access token: the stored one, or one refreshed now."""
        return retry.call(self._ctx.retry, self._tokens.current, what="pdd token")

    def rate(self, api: str) -> float:
        """Calls per second allowed for ``api``: the shop's override, the published limit, or the default."""
        return self._config.rate_limits.get(api, RATE_LIMITS.get(api, DEFAULT_RATE))

    def _request(self, api: str, params: dict[str, Any], access_token: str | None) -> httpx.Request:
        form = flatten(params)
        form.update(type=api, client_id=self._config.client_id, timestamp=str(clock.to_epoch(clock.now())),
                    data_type="JSON")
        if access_token is not None:
            form["access_token"] = access_token  # signed like any other parameter
        form["sign"] = sign(form, self._config.client_secret.get_secret_value())
        return httpx.Request("POST", endpoint(self._config.base_url), content=urlencode(form).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

    def _once(self, api: str, params: dict[str, Any], access_token: str | None) -> dict[str, Any]:
        self._ctx.limiter.acquire(f"pdd:{self._config.id}:{api}", self.rate(api))
        request = self._request(api, params, access_token)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=api)
        body = json_object(resp, system=SYSTEM, api=api)
        failure = body.get("error_response")
        if failure is not None:
            if not isinstance(failure, dict):
                raise ProtocolError(f"pdd {api}: error_response is not an object")
            raise self._ctx.stats.platform_error(SYSTEM, api, self._error(api, failure),
                                                 failure.get("sub_code") or failure.get("error_code"))
        key = RESPONSE_KEYS.get(api)
        if key is None or key not in body:
            keys = [k for k in body if k.endswith("_response")]
            if len(keys) != 1:
                raise ProtocolError(f"pdd {api}: answer has no single '*_response' object")
            key = keys[0]
        inner = body[key]
        if not isinstance(inner, dict):
            raise ProtocolError(f"pdd {api}: {key} is not an object")
        return inner

    def _error(self, api: str, failure: dict[str, Any]) -> Exception:
        raw_code = failure.get("error_code")
        code: int | None = None
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        elif isinstance(raw_code, str) and raw_code.isascii() and raw_code.strip().lstrip("-").isdigit():
            code = int(raw_code)
        sub_code = str(failure.get("sub_code") or "")
        texts = [str(failure.get(k) or "").strip() for k in ("error_msg", "sub_msg")]
        message = ": ".join(dict.fromkeys(t for t in texts if t))
        return error_for(api, code, self._scrub(sub_code), self._scrub(message)[:_MAX_MESSAGE],
                         self._config.error_actions)

    def _scrub(self, text: str) -> str:
        # Platform messages are outside text and may echo what we sent; never let a secret through.
        for secret in (self._config.client_secret.get_secret_value(), *self._tokens.known_secrets()):
            if secret:
                text = text.replace(secret, "***")
        return text
