"""Kuaidi100 (快递100) HTTP client: reference/suppliers-tracking-alerts.md §C.1, §C.3, §C.4.

One call is one form POST through :mod:`syncd.http` (which counts it in ``ctx.stats`` as system
``kuaidi100``, api ``query`` / ``subscribe``), its rate budget taken first, the answer read and classified
once in :mod:`adapters.kuaidi100.errors`, transient failures retried under the shared policy. Kuaidi100
answers failures over HTTP 200 as ``{"result": false, "returnCode", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from syncd import retry
from syncd.adapters.kuaidi100.config import Kuaidi100Config
from syncd.adapters.kuaidi100.errors import QUERY, SUBSCRIBE, Action, classify, error_for
from syncd.adapters.kuaidi100.mapping import code_text, mask_phones
from syncd.adapters.kuaidi100.signing import param_json, query_sign
from syncd.errors import ProtocolError
from syncd.http import endpoint, json_object, send
from syncd.registry import AdapterContext

SYSTEM = "kuaidi100"
QUERY_PATH = "/poll/query.do"
SUBSCRIBE_PATH = "/poll"
_FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
_MAX_MESSAGE = 200


class Answer:
    """A read answer: the body, and the return code when it was a (non-error) failure (500, 501)."""

    __slots__ = ("body", "code", "message")

    def __init__(self, body: dict[str, Any], code: str, message: str) -> None:
        self.body, self.code, self.message = body, code, message


class Kuaidi100Client:
    """Signed real-time queries and subscriptions for one Kuaidi100 account."""

    def __init__(self, config: Kuaidi100Config, ctx: AdapterContext) -> None:
        self._config = config
        self._ctx = ctx

    def query(self, param: Mapping[str, Any], what: str) -> Answer:
        """``POST /poll/query.do`` with customer, param, sign; retried while transient."""
        text = param_json(param)
        key = self._config.key.get_secret_value()
        form = {"customer": self._config.customer, "param": text,
                "sign": query_sign(text, key, self._config.customer)}
        return retry.call(self._ctx.retry, lambda: self._once(QUERY, QUERY_PATH, form, what), what=what)

    def subscribe(self, param: Mapping[str, Any], what: str) -> Answer:
        """``POST /poll`` with schema=json and param (the key travels inside param); retried while transient."""
        form = {"schema": "json", "param": param_json(param)}
        return retry.call(self._ctx.retry, lambda: self._once(SUBSCRIBE, SUBSCRIBE_PATH, form, what), what=what)

    def _once(self, api: str, path: str, form: dict[str, str], what: str) -> Answer:
        self._ctx.limiter.acquire(f"{SYSTEM}:{self._config.customer}:{api}", self._config.calls_per_second)
        request = httpx.Request("POST", endpoint(self._config.base_url + path), content=urlencode(form).encode(),
                                headers=_FORM)
        resp = send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=api)
        body = json_object(resp, system=SYSTEM, api=api)
        return self._read(api, body, what)

    def _read(self, api: str, body: dict[str, Any], what: str) -> Answer:
        result = body.get("result")
        if result is not None and not isinstance(result, bool):
            raise ProtocolError(f"{what}: result is {type(result).__name__}, expected true or false")
        code = code_text(body.get("returnCode"))
        message = self._scrub(code_text(body.get("message")))[:_MAX_MESSAGE]
        if api == QUERY and result is None:
            # A trace carries no result/returnCode, only the communication status "200".
            status = code_text(body.get("status"))
            if status == "200":
                return Answer(body, "200", message)
            if not code:
                raise ProtocolError(f"{what}: answer has neither a trace (status 200) nor a returnCode")
        elif not code:
            raise ProtocolError(f"{what}: answer has no returnCode")
        elif result is None:
            raise ProtocolError(f"{what}: answer has a returnCode but no result")
        ok_code = classify(api, code).action is Action.OK
        if (result is True) is not ok_code:
            raise ProtocolError(f"{what}: result {str(result).lower()} with returnCode {code[:10]}")
        error = error_for(api, code[:10], message, what)
        if error is not None:
            raise self._ctx.stats.platform_error(SYSTEM, api, error, code[:10])
        return Answer(body, code, message)

    def _scrub(self, text: str) -> str:
        # Kuaidi100's words are outside text and may echo what we sent; never let a secret through.
        secrets = [self._config.key.get_secret_value()]
        if self._config.salt is not None:
            secrets.append(self._config.salt.get_secret_value())
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return mask_phones(text)
