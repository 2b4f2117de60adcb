"""Taobao TOP request signing: reference/storefronts.md §3.2.

Every parameter is signed (system and business alike, ``session``, ``format`` and ``sign_method``
included) except ``sign`` itself; empty keys and values are left out, the rest sorted by key in
ASCII order and concatenated as ``key + value``. The digest is upper-case hex:

- ``md5``: MD5(secret + Σkv + secret)
- ``hmac``: HMAC-MD5(key=secret, Σkv), no wrapping
- ``hmac-sha256``: HMAC-SHA256(key=secret, Σkv), no wrapping
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

SignMethod = Literal["md5", "hmac", "hmac-sha256"]
SIGN_METHODS: tuple[str, ...] = ("md5", "hmac", "hmac-sha256")


def sign_base(params: Mapping[str, str]) -> str:
    """``k1v1k2v2…`` over the non-empty parameters sorted by key, ``sign`` excluded."""
    return "".join(f"{k}{v}" for k, v in sorted(params.items()) if k and v and k != "sign")


def sign(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    """The upper-case hex ``sign`` of one request."""
    base = sign_base(params)
    key = secret.encode()
    if sign_method == "md5":
        return hashlib.md5(f"{secret}{base}{secret}".encode(), usedforsecurity=False).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(key, base.encode(), hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(key, base.encode(), hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_method {sign_method!r}")
