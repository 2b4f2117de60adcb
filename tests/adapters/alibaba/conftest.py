"""Shared pieces of the 1688 adapter tests: a pre-loaded token store, a longer retry budget, a frozen clock, routes."""

from __future__ import annotations

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

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.client import NAMESPACES, AlibabaClient
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.domain import Receiver, SupplierLine, SupplierOrderRequest, Token
from syncd.registry import AdapterContext
from tests.fakes import FakeTokenStore

GATEWAY = "https://gw.open.1688.com"
APP_KEY = "1234567"
SECRET = "app-secret-never-shown-1688"
SUPPLIER = "yiwu-1688"
KEY = f"supplier:{SUPPLIER}"
NOW = datetime(2025, 11, 22, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
ACCESS = "stored-access-token-0001"
REFRESH = "stored-refresh-token-0001"
MUG = "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90"
HOOK = "610000004"
ORDER = "3800000000001000123"
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture (a fresh copy every time)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def form(request: httpx.Request) -> dict[str, str]:
    """The form parameters a request carried."""
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def api_url(api: str) -> str:
    return f"{GATEWAY}/openapi/param2/1/{NAMESPACES[api]}/{api}/{APP_KEY}"


TOKEN_URL = f"{GATEWAY}/openapi/http/1/system.oauth2/getToken/{APP_KEY}"
POSTPONE_URL = f"{GATEWAY}/openapi/param2/1/system.oauth2/postponeToken/{APP_KEY}"


def gateway_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "error_message": message, "exception": message,
                                        "request_id": "0bb2f1a417638020001"})


def token(access: str = ACCESS, refresh: str = REFRESH, *, expires_in: timedelta = timedelta(hours=8),
          refresh_left: timedelta | None = timedelta(days=120)) -> Token:
    return Token(access_token=access, refresh_token=refresh, expires_at=NOW + expires_in,
                 refresh_expires_at=None if refresh_left is None else NOW + refresh_left)


def make_config(**changes: Any) -> AlibabaSupplierConfig:
    raw: dict[str, Any] = {"id": SUPPLIER, "kind": "1688", "app_key": APP_KEY, "app_secret": SECRET,
                           "refresh_token": "configured-refresh-1"}
    raw.update(changes)
    return AlibabaSupplierConfig.model_validate(raw)


def receiver(**changes: Any) -> Receiver:
    values: dict[str, Any] = {"name": "张小三", "phone": "13812345678", "province": "浙江省", "city": "杭州市",
                              "district": "西湖区", "street": "文新街道", "detail": "文一西路 100 号 3 幢 501 室"}
    values.update(changes)
    return Receiver(**values)


def request(key: str = "so-000042", **changes: Any) -> SupplierOrderRequest:
    values: dict[str, Any] = {
        "idempotency_key": key, "shop_id": "douyin-main", "platform": "douyin",
        "platform_order_id": "6920000000000000001", "receiver": receiver(),
        "lines": [SupplierLine("L1", MUG, 2, "陶瓷马克杯"), SupplierLine("L2", HOOK, 1, "挂钩")],
        "remark": "请用中通"}
    values.update(changes)
    return SupplierOrderRequest(**values)


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    """Time frozen at NOW."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store() -> FakeTokenStore:
    """A store holding a pair valid for eight more hours, refresh token for 120 days."""
    return FakeTokenStore(tokens={KEY: token()})


@pytest.fixture
def retry_max_seconds() -> float:
    """1688's retry-after waits run long; the policy lets them through (they are recorded, never slept)."""
    return 600


@pytest.fixture
def config() -> AlibabaSupplierConfig:
    return make_config()


@pytest.fixture
def client(config: AlibabaSupplierConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> AlibabaClient:
    return AlibabaClient(config, ctx)


@pytest.fixture
def adapter(config: AlibabaSupplierConfig, ctx: AdapterContext,
            clock_at: time_machine.Traveller) -> AlibabaAdapter:
    return AlibabaAdapter(config, ctx)


def route(router: respx.MockRouter, api_name: str) -> respx.Route:
    """The route of one 1688 API."""
    return router.post(api_url(api_name))
