"""The error a Douyin simulator call answers with (reference/storefronts.md §1.7), and parameter checks."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 50_000  # results one query can page through (20013)


class ApiError(Exception):
    """A refusal in Douyin's envelope: ``code`` (10000 is success), ``sub_code``, ``msg``; optional ``data``."""

    def __init__(self, code: int, sub_code: str, msg: str, data: object = None) -> None:
        super().__init__(f"{code} {sub_code}: {msg}")
        self.code, self.sub_code, self.msg, self.data = code, sub_code, msg, data


def missing(name: str, sub: str = "") -> ApiError:
    """40002: a required business parameter is absent."""
    return ApiError(40002, f"isv.missing-parameter:{sub or name}", f"缺少必填参数{name}")


def invalid(what: str, sub: str = "") -> ApiError:
    """40004: a business parameter is invalid."""
    return ApiError(40004, f"isv.parameter-invalid:{sub or what}", f"参数不合法: {what}")


def business(sub: str, msg: str) -> ApiError:
    """50002: the business rule refused (``isv.business-failed:<sub>``)."""
    return ApiError(50002, f"isv.business-failed:{sub}", msg)


def int_param(params: dict[str, Any], name: str, default: int, sub: str = "") -> int:
    """An integer business parameter (a digit string is accepted), else 40004."""
    v = params.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int | str) or (isinstance(v, str) and not v.isdigit()):
        raise invalid(name, sub)
    return int(v)
