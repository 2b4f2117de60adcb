"""1688 request parameters and ``_aop_signature``: reference/suppliers-tracking-alerts.md §A.1–A.2."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE = "_aop_signature"


def url_path(protocol: str, version: int, namespace: str, api: str, app_key: str) -> str:
    """``param2/1/com.alibaba.trade/alibaba.trade.get.buyerView/1234567``: no leading slash, no ``openapi/``."""
    return f"{protocol}/{version}/{namespace}/{api}/{app_key}"


def wire_value(value: Any) -> str:
    """How one parameter travels (and is signed): objects and lists as one compact JSON string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def flatten(params: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter as the exact string that is posted and signed; ``None`` values are left out."""
    return {key: wire_value(value) for key, value in params.items() if value is not None}


def sign(path: str, params: Mapping[str, str], app_secret: str) -> str:
    """HMAC-SHA1(appSecret, urlPath + the sorted ``key+value`` strings), upper-case hex.

    The vendor SDKs sort the concatenated strings, not the keys (they differ when a key is a prefix of
    another); ``_aop_signature`` itself is never signed.
    """
    pieces = sorted(f"{key}{value}" for key, value in params.items() if key != SIGNATURE)
    message = path + "".join(pieces)
    return hmac.new(app_secret.encode(), message.encode(), hashlib.sha1).hexdigest().upper()
