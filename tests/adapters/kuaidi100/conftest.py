"""Shared pieces of the Kuaidi100 provider tests: config, a token store that holds none, fixtures."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.adapters.kuaidi100.config import Kuaidi100Config
from syncd.domain import Token
from syncd.registry import AdapterContext

BASE = "https://poll.kuaidi100.com"
QUERY_URL = f"{BASE}/poll/query.do"
SUBSCRIBE_URL = f"{BASE}/poll"
CUSTOMER = "TESTCUSTOMER0000000000001"
KEY = "kuaidi100-key-never-shown-77"
SALT = "salt-never-shown-9"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture shaped like Kuaidi100's own answers (a fresh copy every time)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def failure(code: str, message: str = "") -> httpx.Response:
    """A failed call as Kuaidi100 sends it: HTTP 200, result false."""
    return httpx.Response(200, json={"result": False, "returnCode": code, "message": message})


def form(request: httpx.Request) -> dict[str, str]:
    """The form fields a request carried."""
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


class NoTokens:
    """Kuaidi100 keeps no tokens; the context still needs a store."""

    def load(self, shop_id: str) -> Token | None:
        return None

    def save(self, shop_id: str, token: Token) -> None:
        raise AssertionError("kuaidi100 never stores tokens")

    def refresh_lock(self, shop_id: str) -> AbstractContextManager[bool]:
        return nullcontext(True)


def make_config(**changes: Any) -> Kuaidi100Config:
    raw: dict[str, Any] = {"provider": "kuaidi100", "customer": CUSTOMER, "key": KEY, "salt": SALT}
    raw.update(changes)
    return Kuaidi100Config.model_validate(raw)


@pytest.fixture
def store() -> NoTokens:
    return NoTokens()


@pytest.fixture
def config() -> Kuaidi100Config:
    return make_config()


@pytest.fixture
def provider(config: Kuaidi100Config, ctx: AdapterContext) -> Kuaidi100Provider:
    return Kuaidi100Provider(config, ctx)
