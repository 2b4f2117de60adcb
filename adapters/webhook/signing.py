"""The webhook contract's HMAC-SHA256 signature, both directions (docs/webhook-supplier.md §2).

``X-Syncd-Signature: v1=<hex>`` where ``hex = lowercase hex HMAC-SHA256(secret, message)`` and the
message is the bytes ``f"{timestamp}.{METHOD}.{path}."`` followed by the raw body bytes exactly as sent.
``timestamp`` is the ``X-Syncd-Timestamp`` header (Unix seconds, decimal digits); ``path`` is the path of the
request line, percent-encoded as sent, without the query string. The header may list several
comma-separated ``scheme=value`` entries; a request passes when one ``v1`` entry matches.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Syncd-Timestamp"
SIGNATURE_HEADER = "X-Syncd-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
_MAX_TIMESTAMP_DIGITS = 12


class SignatureRefused(Exception):
    """A signed request that must be refused; ``code`` is one of unsigned, bad_timestamp, bad_signature,
    stale_timestamp. The message never contains the signature or the secret."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def message(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """The exact bytes that are signed."""
    return f"{timestamp}.{method.upper()}.{path}.".encode() + body


def digest(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of :func:`message` under ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), message(timestamp, method, path, body), hashlib.sha256).hexdigest()


def sign_headers(secret: str, timestamp: int, method: str, path: str, body: bytes) -> dict[str, str]:
    """The two signature headers of one request."""
    stamp = str(timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"{SCHEME}={digest(secret, stamp, method, path, body)}"}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return None


def verify(secret: str, headers: Mapping[str, str], method: str, path: str, body: bytes, *, now: float,
           window: int) -> int:
    """Check both headers; return the request's timestamp. Raises :class:`SignatureRefused`.

    The signature is checked before the time, so a stale answer is only ever given to a request that was
    really signed with the secret (a replay)."""
    stamp, given = _header(headers, TIMESTAMP_HEADER), _header(headers, SIGNATURE_HEADER)
    if not stamp or not given:
        missing = [n for n, v in ((TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, given)) if not v]
        raise SignatureRefused("unsigned", f"unsigned: no {' and no '.join(missing)} header")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureRefused("bad_timestamp", f"bad timestamp: {TIMESTAMP_HEADER} must be Unix seconds")
    candidates = [part.strip()[len(SCHEME) + 1:] for part in given.split(",")
                  if part.strip().startswith(f"{SCHEME}=")]
    if not candidates:
        raise SignatureRefused("bad_signature", f"bad signature: no {SCHEME}= entry in {SIGNATURE_HEADER}")
    expected = digest(secret, stamp, method, path, body)
    # compare_digest on ASCII bytes: constant time whatever the given value holds
    if not any(hmac.compare_digest(c.lower().encode("utf-8", "replace"), expected.encode()) for c in candidates):
        raise SignatureRefused("bad_signature", "bad signature: it does not match the body under the shared secret")
    when = int(stamp)
    if abs(now - when) > window:
        raise SignatureRefused("stale_timestamp", f"timestamp outside the {window} s window "
                                                  f"({int(now - when)} s from now)")
    return when


__all__ = ["IDEMPOTENCY_HEADER", "SCHEME", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "SignatureRefused",
           "digest", "message", "sign_headers", "verify"]
