"""Shared pieces of the Douyin adapter tests: a pre-loaded token store, a recording limiter, a frozen clock, respx."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.adapters.douyin.client import DouyinClient
from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.domain import Token
from syncd.ratelimit import RateLimiter
from syncd.registry import AdapterContext
from tests.fakes import FakeTokenStore

BASE = "https://openapi-fxg.jinritemai.com"
APP_KEY = "7012345678901234567"
SECRET = "app-secret-never-shown-42"
SHOP = "dy-main"
NOW = datetime(2025, 11, 22, 9, 0, tzinfo=UTC)
ACCESS = "stored-access-token-aaaa1111"
REFRESH = "stored-refresh-token-bbbb2222"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "douyin"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture from tests/fixtures/douyin (a fresh copy every time)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def ok(data: Any) -> httpx.Response:
    """A success envelope around ``data``."""
    return httpx.Response(200, json={"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "",
                                     "log_id": "20251122170000010208", "data": data})


def fail(code: int, sub_code: str = "", sub_msg: str = "", msg: str = "", data: Any = None) -> httpx.Response:
    """A failure envelope (HTTP 200, like the platform sends them)."""
    return httpx.Response(200, json={"code": code, "msg": msg or "error", "sub_code": sub_code,
                                     "sub_msg": sub_msg, "log_id": "20251122170000010209", "data": data})


def sample_order() -> dict[str, Any]:
    """The first shop order of the search-list fixture: paid, awaiting shipment, two lines."""
    order: dict[str, Any] = fixture("order_search_list.json")["data"]["shop_order_list"][0]
    return order


def order_like(order_id: str, update_time: int, **changes: Any) -> dict[str, Any]:
    """A copy of the sample order under another id and update time."""
    order = copy.deepcopy(sample_order())
    order["order_id"] = order_id
    order["update_time"] = update_time
    for line in order["sku_order_list"]:
        line["parent_order_id"] = order_id
    order.update(changes)
    return order


def token(access: str = ACCESS, refresh: str = REFRESH, *, expires_in: timedelta = timedelta(days=3)) -> Token:
    return Token(access_token=access, refresh_token=refresh, expires_at=NOW + expires_in,
                 refresh_expires_at=NOW + timedelta(days=10))


def make_config(**changes: Any) -> DouyinShopConfig:
    raw: dict[str, Any] = {"id": SHOP, "platform": "douyin", "app_key": APP_KEY, "app_secret": SECRET,
                           "shop_id": "4463798"}
    raw.update(changes)
    return DouyinShopConfig.model_validate(raw)


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    """Time frozen at NOW; ``clock_at.move_to(...)`` / ``.shift(...)`` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store() -> FakeTokenStore:
    """A store holding a token valid for three more days."""
    return FakeTokenStore(tokens={SHOP: token()})


class RecordingLimiter(RateLimiter):
    """A real RateLimiter on a fake clock (waiting moves the clock, never sleeps) that records each acquire."""

    def __init__(self) -> None:
        self.now = 0.0
        self.acquired: list[tuple[str, float]] = []
        super().__init__(clock=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.now += seconds

    def acquire(self, key: str, per_second: float, burst: float | None = None) -> None:
        self.acquired.append((key, per_second))
        super().acquire(key, per_second, burst)


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def config() -> DouyinShopConfig:
    return make_config()


@pytest.fixture
def client(config: DouyinShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> DouyinClient:
    return DouyinClient(config, ctx)


@pytest.fixture
def adapter(config: DouyinShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> DouyinAdapter:
    return DouyinAdapter(config, ctx)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router
