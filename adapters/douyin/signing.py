"""Douyin Shop (抖店) request signing: reference/storefronts.md §1.2."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def canonical_param_json(params: dict[str, Any]) -> str:
    """Keys sorted at every level, compact, nothing escaped (CJK, emoji, ``/``, ``&<>'=`` kept as is)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(app_key: str, app_secret: str, method: str, param_json: str, timestamp: str,
         sign_method: str = "hmac-sha256") -> str:
    """Lower-case hex signature of one call; ``access_token`` and ``sign_method`` are not signed."""
    pattern = f"app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v2"
    sign_input = f"{app_secret}{pattern}{app_secret}".encode()
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), sign_input, hashlib.sha256).hexdigest()
    if sign_method == "md5":
        return hashlib.md5(sign_input, usedforsecurity=False).hexdigest()
    raise ValueError(f"unknown sign_method {sign_method!r}")
