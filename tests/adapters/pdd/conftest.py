"""Shared pieces of the Pinduoduo adapter tests: a pre-loaded token store, a frozen clock, routes, fixtures."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.adapters.pdd.client import PddClient
from syncd.adapters.pdd.config import PddShopConfig
from syncd.domain import Token
from syncd.registry import AdapterContext
from tests.fakes import FakeTokenStore

ROUTER = "https://gw-api.pinduoduo.com/api/router"
CLIENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SECRET = "pdd-client-secret-never-shown-42"
SHOP = "pdd-main"
NOW = datetime(2025, 11, 22, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
ACCESS = "stored-access-token-aaaa1111"
REFRESH = "stored-refresh-token-bbbb2222"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pdd"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture from tests/fixtures/pdd (a fresh copy every time)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def ok(key: str, data: dict[str, Any]) -> httpx.Response:
    """A success envelope ``{key: data}`` with a request_id."""
    return httpx.Response(200, json={key: {**data, "request_id": "17638020001234567890"}})


def fail(code: int | None, msg: str, sub_msg: str = "", sub_code: str = "") -> httpx.Response:
    """An ``error_response`` (HTTP 200, as the router sends them)."""
    body: dict[str, Any] = {"error_msg": msg, "sub_code": sub_code, "sub_msg": sub_msg,
                            "request_id": "17638020001234567891"}
    if code is not None:
        body["error_code"] = code
    return httpx.Response(200, json={"error_response": body})


def form(request: httpx.Request) -> dict[str, str]:
    """The form parameters a request carried."""
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def sample_order(index: int = 0) -> dict[str, Any]:
    """An order of the increment fixture: 0 ready to ship with two lines, 1 with a refund in progress."""
    order: dict[str, Any] = fixture("order_increment.json")["order_sn_increment_get_response"]["order_sn_list"][index]
    return order


def order_like(order_sn: str, updated_at: str, **changes: Any) -> dict[str, Any]:
    """A copy of the ready sample order under another order_sn and update time."""
    order = copy.deepcopy(sample_order())
    order.update(order_sn=order_sn, updated_at=updated_at, **changes)
    return order


def token(access: str = ACCESS, refresh: str = REFRESH, *, expires_in: timedelta = timedelta(days=3)) -> Token:
    return Token(access_token=access, refresh_token=refresh, expires_at=NOW + expires_in,
                 refresh_expires_at=NOW + timedelta(days=20))


def make_config(**changes: Any) -> PddShopConfig:
    raw: dict[str, Any] = {"id": SHOP, "platform": "pdd", "client_id": CLIENT_ID, "client_secret": SECRET,
                           "auth": {"access_token": "configured-access-1", "refresh_token": "configured-refresh-1"}}
    raw.update(changes)
    return PddShopConfig.model_validate(raw)


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    """Time frozen at NOW; ``clock_at.move_to(...)`` / ``.shift(...)`` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store() -> FakeTokenStore:
    """A store holding a token valid for three more days."""
    return FakeTokenStore(tokens={SHOP: token()})


@pytest.fixture
def config() -> PddShopConfig:
    return make_config()


@pytest.fixture
def client(config: PddShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> PddClient:
    return PddClient(config, ctx)


@pytest.fixture
def adapter(config: PddShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> PddAdapter:
    return PddAdapter(config, ctx)


def route(router: respx.MockRouter, api_type: str) -> respx.Route:
    """The route of one API: a POST to the router whose form names it as ``type``."""
    return router.post(ROUTER, data__contains={"type": api_type})
