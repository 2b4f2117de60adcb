"""Kuaidi100 (快递100) signatures: reference/suppliers-tracking-alerts.md §C.1 (query), §C.3 (push)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def param_json(param: Mapping[str, Any]) -> str:
    """The ``param`` form field: compact JSON, CJK kept as is. It is signed exactly as sent."""
    return json.dumps(param, ensure_ascii=False, separators=(",", ":"))


def _md5_upper(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def query_sign(param: str, key: str, customer: str) -> str:
    """Real-time query: ``UPPER(MD5(param + key + customer))``."""
    return _md5_upper(param + key + customer)


def push_sign(param: str, salt: str) -> str:
    """Subscription push: ``UPPER(MD5(param + salt))``."""
    return _md5_upper(param + salt)


def push_sign_ok(param: str, salt: str, given: str) -> bool:
    """Whether ``given`` is the push signature of ``param`` (constant time; hex case ignored)."""
    return hmac.compare_digest(push_sign(param, salt).encode(), given.strip().upper().encode())
