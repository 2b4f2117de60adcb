"""The three robot signatures (reference §E.1, §E.3, and syncd's own generic webhook).

DingTalk and Feishu both say "HMAC-SHA256 of timestamp\\nsecret" but put the pieces in opposite places:
DingTalk keys the HMAC with the secret and signs ``f"{ts}\\n{secret}"`` (ts in milliseconds); Feishu keys
it with ``f"{ts}\\n{secret}"`` and signs nothing (ts in seconds). Swapping them yields 19021 / 310000.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: Base64(HMAC-SHA256(key=secret, msg=f"{ts}\\n{secret}")), before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu / Lark 签名校验: Base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b"")), sent in the body."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """syncd's generic webhook: ``v1=`` + hex HMAC-SHA256(key=secret, msg=f"{ts}." + raw body)."""
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()
