"""The one error table of the webhook supplier client: docs/webhook-supplier.md §7.

:func:`syncd.http.send` has already turned network failures, 429 and 5xx into TransientError /
RateLimitedError (with Retry-After); this table classifies the 4xx answers the contract defines, by HTTP
status and the ``error.code`` of the body ``{"error": {"code", "message"}}``. First match wins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from syncd.errors import AuthError, FatalError, OutOfStockError, ProtocolError, RejectedError, SyncdError

NOT_FOUND_CODE = "not_found"
OUT_OF_STOCK = "out_of_stock"  # a 422 on create: the supplier has not the goods (nothing was created)


class Action(enum.Enum):
    """What to do with a 4xx answer."""

    AUTH = "auth"  # our signature or clock was refused: fix the secret / NTP; not retried
    FATAL = "fatal"  # the supplier file is wrong (base_url, paths) or access is closed
    NOT_FOUND = "not_found"  # the supplier has no order under this key (find → None)
    CONFLICT = "conflict"  # the key was used with another body: never resend, a person looks
    REJECT = "reject"  # a business no for this one request, with the supplier's words
    PROTOCOL = "protocol"  # a status the contract does not define


@dataclass(frozen=True, slots=True)
class Rule:
    status: int | None  # None: any 4xx
    code: str | None  # the body's error.code; None: any (or none)
    action: Action
    hint: str = ""
    needs_envelope: bool = False  # only when the body is the contract's error object


_A = Action
ERROR_TABLE: tuple[Rule, ...] = (
    Rule(401, None, _A.AUTH, "the supplier refused our signature: check secret in the supplier file (both sides "
                             "must hold the same one) and this host's clock (NTP)"),
    Rule(403, None, _A.FATAL, "the supplier refused access: ask it to allow this host (IP allow-list, account)"),
    Rule(404, NOT_FOUND_CODE, _A.NOT_FOUND, needs_envelope=True),
    Rule(404, None, _A.FATAL, "nothing at this URL: check base_url and paths in the supplier file"),
    Rule(405, None, _A.FATAL, "the URL does not take this method: check paths in the supplier file"),
    Rule(409, None, _A.CONFLICT, "the supplier already has an order under this idempotency key with different "
                                 "contents; nothing was resent: compare both orders and settle it by hand"),
    Rule(400, None, _A.REJECT, "the supplier could not read the request"),
    Rule(413, None, _A.REJECT, "the order is too large for the supplier"),
    Rule(422, None, _A.REJECT),
    Rule(None, None, _A.PROTOCOL, "the contract defines no such status"),
)


def classify(status: int, code: str | None) -> Rule:
    """The first rule matching the HTTP status and the body's error code (None: no error envelope)."""
    for rule in ERROR_TABLE:
        if rule.status is not None and rule.status != status:
            continue
        if rule.needs_envelope and code is None:
            continue
        if rule.code is not None and rule.code != code:
            continue
        return rule
    raise AssertionError("the table ends with a catch-all row")


class NotFound(RejectedError):
    """The supplier has no order under this key (404 with ``error.code`` ``not_found``)."""


def error_for(what: str, status: int, code: str | None, message: str) -> SyncdError:
    """The syncd error for a 4xx; ``message`` must already be scrubbed (secrets, phones, addresses)."""
    rule = classify(status, code)
    text = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f" ({message})" if message else "")
    hint = f": {rule.hint}" if rule.hint else ""
    match rule.action:
        case Action.AUTH:
            return AuthError(text + hint, code=code or "signature")
        case Action.FATAL:
            return FatalError(text + hint)
        case Action.NOT_FOUND:
            return NotFound(text, code=NOT_FOUND_CODE, platform_message=message or None)
        case Action.CONFLICT:
            return RejectedError(text + hint, code=code or "idempotency_conflict", platform_message=message or None)
        case Action.REJECT:
            refusal = OutOfStockError if code == OUT_OF_STOCK else RejectedError
            return refusal(text + hint, code=code or str(status), platform_message=message or None)
        case Action.PROTOCOL:
            return ProtocolError(text + hint)
