"""HTTP client of one webhook supplier: signing, rate budget, status and error envelope, retries.

docs/webhook-supplier.md §2 (signature), §3 (requests), §7 (status codes). One :meth:`WebhookClient.call`
is one contract call: its rate budget taken, the body encoded once (the same order is always the same
bytes), signed over timestamp, method, path and body at each attempt, sent through :mod:`syncd.http`,
4xx answers classified once in :mod:`adapters.webhook.errors`, transient failures retried under the shared
policy. Retrying ``POST orders`` is safe: the supplier must answer the same key with the same order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from syncd import clock, retry
from syncd.adapters.webhook.config import KEY, Api, WebhookSupplierConfig
from syncd.adapters.webhook.errors import error_for
from syncd.adapters.webhook.mapping import encode
from syncd.adapters.webhook.signing import IDEMPOTENCY_HEADER, sign_headers
from syncd.domain import mask_phone
from syncd.errors import ProtocolError, RateLimitedError
from syncd.http import endpoint, json_object, send
from syncd.ratelimit import BAN_SECONDS
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.webhook")

SYSTEM = "webhook"
DEFAULT_RATE = 5.0  # calls per second per endpoint unless the supplier file says otherwise
_MAX_MESSAGE = 300
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_OK = (200, 201)


@dataclass(frozen=True, slots=True)
class Reply:
    """A 200 / 201 answer: its status and its JSON object."""

    status: int
    data: dict[str, Any]


def mask_text(text: str, private: Iterable[str] = ()) -> str:
    """Outside text made safe for logs and messages: known private values and mobile numbers masked."""
    for value in sorted((v for v in private if v and len(v) >= 2), key=len, reverse=True):
        text = text.replace(value, "***")
    return _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)


class WebhookClient:
    """Signed JSON calls to one supplier's API."""

    def __init__(self, config: WebhookSupplierConfig, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx

    @property
    def supplier_id(self) -> str:
        return self._config.id

    def template(self, api: Api) -> str:
        """The configured path of ``api`` (``/orders/{key}``), for messages."""
        paths = self._config.paths
        return {"create": paths.orders, "status": paths.status, "stock": paths.stock, "cancel": paths.cancel}[api]

    def url(self, api: Api, key: str | None = None) -> str:
        """The full URL of ``api``; the key percent-encoded as one path segment."""
        path = self.template(api)
        if KEY in path:
            if key is None:
                raise ValueError(f"{api} needs an idempotency key")
            path = path.replace(KEY, quote(key, safe=""))
        return self._config.base_url + path

    def rate(self, api: Api) -> float:
        """Calls per second allowed for ``api``."""
        return self._config.rate_limits.get(api, DEFAULT_RATE)

    def what(self, api: Api, method: str) -> str:
        """``webhook supplier acme POST /orders`` — how messages name a call."""
        return f"webhook supplier {self._config.id} {method} {self.template(api)}"

    def call(self, api: Api, method: str, *, key: str | None = None, payload: dict[str, Any] | None = None,
             idempotency_key: str | None = None, private: Iterable[str] = ()) -> Reply:
        """One contract call → its 200/201 answer; retried while transient. ``private``: values of the
        request that must never show in an error message (receiver name, phone, address)."""
        body = b"" if payload is None else encode(payload)
        url = self.url(api, key)
        hidden = (self._config.secret.get_secret_value(), *private)
        what = self.what(api, method)

        def attempt() -> Reply:
            self._ctx.limiter.acquire(f"{self._scope}{api}", self.rate(api))
            try:
                return self._once(api, method, url, body, idempotency_key, hidden, what)
            except RateLimitedError as err:
                if self._ctx.limiter.pause_if_ban(self._scope, err):  # the stage moves on to other suppliers
                    log.warning("%s: flow control: calls pause for %.0f s", what, err.retry_after)
                raise

        return retry.call(self._ctx.retry, attempt, what=what, longest_wait=BAN_SECONDS)

    @property
    def _scope(self) -> str:
        return f"webhook:{self._config.id}:"

    def _once(self, api: Api, method: str, url: str, body: bytes, idempotency_key: str | None,
              hidden: tuple[str, ...], what: str) -> Reply:
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        request = httpx.Request(method, endpoint(url), content=body, headers=headers)
        path = request.url.raw_path.decode("ascii").partition("?")[0]  # exactly what the request line carries
        request.headers.update(sign_headers(self._config.secret.get_secret_value(), clock.to_epoch(clock.now()),
                                            method, path, body))
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=f"{self._config.id}/{api}",
                    error_bodies=True)
        if resp.status_code >= 400:
            code, message = _envelope(resp)
            err = error_for(what, resp.status_code, code and mask_text(code, hidden)[:64],
                            mask_text(message, hidden)[:_MAX_MESSAGE])
            # the code as the error carries it (masked), else the HTTP status
            raise self._ctx.stats.platform_error(SYSTEM, f"{self._config.id}/{api}", err,
                                                 None if getattr(err, "code", None) else resp.status_code)
        if resp.status_code not in _OK:
            raise ProtocolError(f"{what}: HTTP {resp.status_code}: the contract answers 200 or 201 "
                                "(a redirect? check base_url, https and the paths)")
        return Reply(resp.status_code, json_object(resp, system=SYSTEM, api=what.removeprefix("webhook ")))


def _envelope(resp: httpx.Response) -> tuple[str | None, str]:
    """(error.code, error.message) of a 4xx body; (None, "") when it is not the contract's error object."""
    try:
        body = resp.json()
    except ValueError:
        return None, ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code, message = error.get("code"), error.get("message")
    return (code.strip() or None if isinstance(code, str) else None,
            message.strip() if isinstance(message, str) else "")
