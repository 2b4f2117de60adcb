"""Shared pieces of the webhook supplier tests: config, a memory token store, frozen clock, sample order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.config import WebhookSupplierConfig
from syncd.domain import Receiver, SupplierLine, SupplierOrderRequest
from syncd.registry import AdapterContext

BASE = "https://erp.example.com/api/syncd"
SECRET = "whsec_5f0c1a9e7d3b4c2a8e6f0d1b"
SUPPLIER = "acme"
KEY = "syncd-7f3a9c2e41b8d605"
NOW = datetime(2025, 11, 22, 9, 0, tzinfo=UTC)  # 17:00 in Beijing; Unix 1763802000 (docs example C)
NOW_TS = 1763802000
PHONE = "13800138000"
DETAIL = "90号1幢101室"


def make_config(**changes: Any) -> WebhookSupplierConfig:
    raw: dict[str, Any] = {"id": SUPPLIER, "kind": "webhook", "base_url": BASE, "secret": SECRET}
    raw.update(changes)
    return WebhookSupplierConfig.model_validate(raw)


def sample_request(**changes: Any) -> SupplierOrderRequest:
    """The order of docs/webhook-supplier.md §2.4 example C."""
    receiver = Receiver(name="张三", phone=PHONE, province="浙江省", city="杭州市", district="西湖区",
                        street="文三路", detail=DETAIL)
    raw: dict[str, Any] = {
        "idempotency_key": KEY, "shop_id": "douyin-main", "platform": "douyin",
        "platform_order_id": "6931234567890123456", "receiver": receiver,
        "lines": [SupplierLine(line_ref="6931234567890123457", supplier_sku="TEE-RED-M", quantity=2,
                               title="纯棉T恤", spec="红色 M")], "remark": ""}
    raw.update(changes)
    return SupplierOrderRequest(**raw)


def order_json(**changes: Any) -> dict[str, Any]:
    """An order object as the supplier answers it (§5)."""
    body: dict[str, Any] = {"idempotency_key": KEY, "supplier_order_id": "WS20251122000042", "phase": "accepted",
                            "message": "已接单", "amount_fen": 3980, "created_at": "2025-11-22T17:00:01+08:00",
                            "parcels": []}
    body.update(changes)
    return body


def error_json(code: str, message: str = "") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def config() -> WebhookSupplierConfig:
    return make_config()


@pytest.fixture
def supplier(config: WebhookSupplierConfig, ctx: AdapterContext, clock_at: time_machine.Traveller) -> WebhookSupplier:
    return WebhookSupplier(config, ctx)
