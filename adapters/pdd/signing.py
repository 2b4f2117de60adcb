"""Pinduoduo (拼多多) request parameters and MD5 signature: reference/storefronts.md §2.1–2.2."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def wire_value(value: Any) -> str:
    """How one parameter travels (and is signed): booleans lowercase, objects and lists as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def flatten(params: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter as the string that is sent and signed; ``None`` values are left out."""
    return {key: wire_value(value) for key, value in params.items() if value is not None}


def sign(params: Mapping[str, str], client_secret: str) -> str:
    """``UPPER(MD5(secret + Σ name+value sorted by name + secret))`` over every parameter but ``sign``."""
    body = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign")
    digest = hashlib.md5(f"{client_secret}{body}{client_secret}".encode(), usedforsecurity=False)
    return digest.hexdigest().upper()
