"""Kuaidi100 (快递100) as syncd's :class:`~syncd.protocols.TrackingProvider`.

reference/suppliers-tracking-alerts.md §C.1 (real-time query), §C.3 (subscription and push), §C.4
(return codes). Carrier codes inside syncd are Kuaidi100 ``com`` codes (:mod:`syncd.carriers`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from syncd.adapters.kuaidi100.client import Kuaidi100Client
from syncd.adapters.kuaidi100.config import Kuaidi100Config
from syncd.adapters.kuaidi100.mapping import map_push, map_track, mask_phones, no_records
from syncd.adapters.kuaidi100.signing import push_sign_ok
from syncd.domain import TrackPush, TrackResult
from syncd.errors import FatalError, ProtocolError, RejectedError
from syncd.registry import AdapterContext

PHONE_REQUIRED = frozenset({"shunfeng", "shunfengkuaiyun"})  # 顺丰: Kuaidi100 needs a phone (C.1)
PUSH_OK = b'{"result":true,"returnCode":"200","message":"\xe6\x88\x90\xe5\x8a\x9f"}'  # "成功", exactly as C.3
PUSH_CONTENT_TYPE = "application/json;charset=utf-8"
_CARRIER = re.compile(r"^[a-z0-9]{1,40}$")
_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,32}$")  # Kuaidi100: at most 32 characters
# A (virtual) mobile with an extension: "13800138000-1234", "+86 138****8000转5678"
_WITH_EXTENSION = re.compile(r"^\s*(?:\+?86)?\s*([\d*]{11})\s*(?:-|_|#|,|，|转)\s*\d{1,6}\s*$")
_CALLBACK = re.compile(r"^https?://[^\s/]+\S*$")


def phone_tail(phone: str | None) -> str | None:
    """The last 4 digits of the phone (an extension dropped; a masked middle is fine), or None."""
    if not phone:
        return None
    match = _WITH_EXTENSION.match(phone)
    digits = re.sub(r"\D", "", match.group(1) if match else phone)
    return digits[-4:] if len(digits) >= 4 else None


class Kuaidi100Provider:
    """Real-time queries, subscriptions and push verification for one Kuaidi100 account."""

    name: str = "kuaidi100"

    def __init__(self, config: Kuaidi100Config, ctx: AdapterContext, client: Kuaidi100Client | None = None) -> None:
        self.config = config
        self._client = client or Kuaidi100Client(config, ctx)

    def query(self, carrier: str, tracking_no: str, phone: str | None) -> TrackResult:
        """One real-time query; a number Kuaidi100 has no record of yet is ``state NONE, verdict no_records``."""
        param: dict[str, Any] = {"com": carrier, "num": tracking_no}
        tail = self._checked(carrier, tracking_no, phone, "query")
        if tail:
            param["phone"] = tail
        param["resultv2"] = str(self.config.resultv2)
        what = f"kuaidi100 query {carrier} {tracking_no}"
        answer = self._client.query(param, what)
        if answer.code == "500":
            return no_records(answer.message)
        return map_track(answer.body, what)

    def subscribe(self, carrier: str, tracking_no: str, phone: str | None, callback_url: str) -> None:
        """Ask Kuaidi100 to push this parcel to ``callback_url``; 501 (already polling) is success."""
        tail = self._checked(carrier, tracking_no, phone, "subscribe")
        if not _CALLBACK.match(callback_url):
            raise FatalError(f"kuaidi100 subscribe: the callback URL is not an http(s) URL ({callback_url[:60]!r})")
        if self.config.salt is None:
            raise FatalError("kuaidi100 subscribe: set salt in tracking.yaml; unsigned pushes cannot be trusted")
        parameters: dict[str, Any] = {"callbackurl": callback_url, "salt": self.config.salt.get_secret_value(),
                                      "resultv2": str(self.config.resultv2)}
        if tail:
            parameters["phone"] = tail
        param = {"company": carrier, "number": tracking_no, "key": self.config.key.get_secret_value(),
                 "parameters": parameters}
        self._client.subscribe(param, f"kuaidi100 subscribe {carrier} {tracking_no}")

    def parse_push(self, form: Mapping[str, str]) -> TrackPush:
        """Verify ``sign = MD5(param + salt)`` and read the push; RejectedError says why one is refused."""
        if self.config.salt is None:
            raise RejectedError("kuaidi100 push: no salt in tracking.yaml, so pushes cannot be verified")
        param = form.get("param")
        if not param:
            raise RejectedError("kuaidi100 push: no param field")
        given = form.get("sign")
        if not given:
            raise RejectedError("kuaidi100 push: unsigned (no sign field)")
        if not push_sign_ok(param, self.config.salt.get_secret_value(), given):
            raise RejectedError("kuaidi100 push: signature does not match (check salt in tracking.yaml)")
        try:
            body = json.loads(param)
        except ValueError:
            raise RejectedError(f"kuaidi100 push: param is not JSON ({len(param)} characters)") from None
        if not isinstance(body, dict):
            raise RejectedError(f"kuaidi100 push: param is JSON {type(body).__name__}, expected an object")
        try:
            return map_push(body)
        except ProtocolError as err:
            raise RejectedError(str(err)) from err

    def push_reply(self, ok: bool, message: str) -> tuple[int, str, bytes]:
        """The answer Kuaidi100 expects; anything but the success body makes it retry (3 times, 35 min apart)."""
        if ok:
            return 200, PUSH_CONTENT_TYPE, PUSH_OK
        text = mask_phones(message)[:100] or "失败"
        body = json.dumps({"result": False, "returnCode": "500", "message": text}, ensure_ascii=False,
                          separators=(",", ":"))
        return 200, PUSH_CONTENT_TYPE, body.encode()

    def close(self) -> None:
        """Nothing of its own to release (the HTTP client is shared)."""

    def _checked(self, carrier: str, tracking_no: str, phone: str | None, api: str) -> str | None:
        """Refuse what Kuaidi100 would refuse, before spending a billed call; the phone tail to send."""
        if not _CARRIER.match(carrier):
            raise RejectedError(f"kuaidi100 {api}: {carrier[:40]!r} is not a Kuaidi100 carrier code", code="carrier")
        if not _NUMBER.match(tracking_no):
            raise RejectedError(f"kuaidi100 {api} {carrier}: tracking number {tracking_no[:40]!r} is empty, longer "
                                "than 32 characters or not letters and digits", code="number")
        tail = phone_tail(phone)
        if carrier in PHONE_REQUIRED and tail is None:
            raise RejectedError(f"kuaidi100 {api} {carrier} {tracking_no}: SF parcels need the receiver's or "
                                "sender's phone (its last 4 digits)", code="phone")
        return tail
