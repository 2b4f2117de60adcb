"""Shared pieces of the Taobao adapter tests: envelopes, sample trades, a frozen clock, fixtures."""

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

from syncd.adapters.taobao.adapter import TaobaoAdapter
from syncd.adapters.taobao.client import TaobaoClient, response_key
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.registry import AdapterContext

BASE = "https://eco.taobao.com/router/rest"
APP_KEY = "21000001"
SECRET = "tb-app-secret-never-shown-42"
SESSION = "6100e2b1cfgsession-never-shown-77"
REFRESH = "6102c3d4cfgrefresh-never-shown-88"
SHOP = "tb-main"
NOW = datetime(2025, 11, 22, 9, 0, tzinfo=UTC)  # 17:00 in Asia/Shanghai
SESSION_EXPIRES = NOW + timedelta(days=30)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "taobao"

LIST = "taobao.trades.sold.increment.get"
FULLINFO = "taobao.trade.fullinfo.get"
DECRYPT = "taobao.top.oaid.decrypt"
COMPANIES = "taobao.logistics.companies.get"
SHIP = "taobao.logistics.offline.send"
REFUNDS = "taobao.refunds.receive.get"
REFRESH_METHOD = "taobao.top.auth.token.refresh"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture from tests/fixtures/taobao (a fresh copy every time)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def ok(method: str, payload: dict[str, Any]) -> httpx.Response:
    """A success envelope ``{"<name>_response": {...}}``."""
    return httpx.Response(200, json={response_key(method): {**payload, "request_id": "16mfw0q6w4qta"}})


def fail(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> httpx.Response:
    """An ``error_response`` (HTTP 200, as TOP sends them)."""
    body: dict[str, Any] = {"code": code, "msg": msg, "request_id": "5cwcmtu6btek"}
    if sub_code:
        body["sub_code"] = sub_code
    if sub_msg:
        body["sub_msg"] = sub_msg
    return httpx.Response(200, json={"error_response": body})


def answer(name: str) -> httpx.Response:
    """A fixture file as the HTTP answer."""
    return httpx.Response(200, json=fixture(name))


def form(request: httpx.Request) -> dict[str, str]:
    """The form parameters of one request."""
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def route(api: respx.MockRouter, method: str) -> respx.Route:
    """The route of one TOP API (every call goes to the same URL; ``method`` tells them apart)."""
    return api.post(BASE, data__contains={"method": method})


def sample_trade() -> dict[str, Any]:
    """The first trade of the list fixture: paid, awaiting shipment, two sub-orders, with an oaid."""
    trade: dict[str, Any] = fixture("trades_sold_increment_get.json")[
        "trades_sold_increment_get_response"]["trades"]["trade"][0]
    return trade


def trade_like(tid: str, modified: str, **changes: Any) -> dict[str, Any]:
    """A copy of the sample trade under another tid and ``modified`` time (Asia/Shanghai text)."""
    trade = copy.deepcopy(sample_trade())
    trade.update(tid=int(tid), tid_str=tid, modified=modified)
    for i, order in enumerate(trade["orders"]["order"]):
        order.update(oid=int(tid) + i + 1, oid_str=str(int(tid) + i + 1))
    trade.update(changes)
    return trade


def make_config(**changes: Any) -> TaobaoShopConfig:
    raw: dict[str, Any] = {"id": SHOP, "platform": "taobao", "app_key": APP_KEY, "app_secret": SECRET,
                           "session": SESSION, "session_expires_at": SESSION_EXPIRES.isoformat()}
    raw.update(changes)
    return TaobaoShopConfig.model_validate(raw)


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    """Time frozen at NOW; ``clock_at.move_to(...)`` / ``.shift(...)`` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def config() -> TaobaoShopConfig:
    return make_config()


@pytest.fixture
def client(config: TaobaoShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> TaobaoClient:
    return TaobaoClient(config, ctx)


@pytest.fixture
def adapter(config: TaobaoShopConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> TaobaoAdapter:
    return TaobaoAdapter(config, ctx)
