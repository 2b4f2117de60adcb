"""Alerts test rig: a Runtime over a real database, fake alert sinks, fast seeding helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from syncd.alerts.config import AlertsConfig
from syncd.config.loader import Config
from syncd.config.models import GlobalConfig, ShopConfigBase, SupplierConfigBase
from syncd.domain import Message
from syncd.http import CallStats
from syncd.retry import RetryPolicy
from syncd.runtime import Runtime
from syncd.settings import Settings
from syncd.store.db import Database
from syncd.store.models import Order, Shipment, SupplierOrder

# 12:00 in Beijing: outside any night-time quiet hours
NOW = datetime(2024, 5, 6, 4, 0, tzinfo=UTC)
SHOP = "shop1"
SUPPLIER = "acme"


class FakeSink:
    """An AlertSink that records messages; ``fail`` holds exceptions raised by the next sends, in order."""

    def __init__(self, name: str, *, per_minute: int = 20, max_bytes: int = 20_000, kind: str = "fake") -> None:
        self.name, self.kind, self.per_minute, self.max_bytes = name, kind, per_minute, max_bytes
        self.messages: list[Message] = []
        self.fail: list[Exception] = []
        self.calls = 0

    def send(self, message: Message) -> None:
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        self.messages.append(message)

    def close(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(m.title + "\n" + "\n".join(m.lines) for m in self.messages)


@dataclass
class Rig:
    rt: Runtime
    db: Database
    sinks: dict[str, FakeSink] = field(default_factory=dict)
    _next: int = 0

    def uid(self) -> int:
        self._next += 1
        return self._next

    def order(self, *, state: str = "placed", paid_at: datetime | None = None, ship_by: datetime | None = None,
              status: str = "paid", pid: str | None = None, shop: str = SHOP, hold_reason: str | None = None,
              first_seen_at: datetime | None = None) -> int:
        n = self.uid()
        with self.db.begin() as s:
            return int(s.execute(insert(Order).returning(Order.id), [order_row(
                pid or f"P{n}", state=state, paid_at=paid_at, ship_by=ship_by, status=status, shop=shop,
                hold_reason=hold_reason, first_seen_at=first_seen_at)]).scalar_one())

    def supplier_order(self, order_id: int, *, supplier: str = SUPPLIER, state: str = "placed",
                       placed_at: datetime | None = None, paid: bool | None = None, cancel_state: str = "none",
                       cancel_detail: str | None = None, supplier_ref: str | None = None) -> int:
        n = self.uid()
        with self.db.begin() as s:
            return int(s.execute(insert(SupplierOrder).returning(SupplierOrder.id), [supplier_order_row(
                order_id, f"K{n}", supplier=supplier, state=state, placed_at=placed_at, paid=paid,
                cancel_state=cancel_state, cancel_detail=cancel_detail, supplier_ref=supplier_ref)]).scalar_one())

    def shipment(self, *, order_id: int | None = None, tracking_no: str | None = None, carrier: str = "zhongtong",
                 **values: Any) -> int:
        if order_id is None:
            order_id = self.order(state="shipped")
        so = self.supplier_order(order_id, state="shipped")
        n = self.uid()
        with self.db.begin() as s:
            return int(s.execute(insert(Shipment).returning(Shipment.id), [shipment_row(
                order_id, so, tracking_no or f"ZT{n:010d}", carrier=carrier, **values)]).scalar_one())


def order_row(pid: str, *, state: str = "placed", paid_at: datetime | None = None, ship_by: datetime | None = None,
              status: str = "paid", shop: str = SHOP, hold_reason: str | None = None,
              first_seen_at: datetime | None = None) -> dict[str, Any]:
    return {"shop_id": shop, "platform_order_id": pid, "platform_status": "2", "status": status,
            "ready_to_ship": True, "refund_state": "none", "payment_mode": "prepaid", "paid_at": paid_at,
            "ship_by": ship_by, "platform_updated_at": NOW, "receiver": {}, "shipped_tracking": [], "raw": {},
            "state": state, "hold_reason": hold_reason, "first_seen_at": first_seen_at or NOW, "updated_at": NOW}


def supplier_order_row(order_id: int, key: str, *, supplier: str = SUPPLIER, state: str = "placed",
                       placed_at: datetime | None = None, paid: bool | None = None, cancel_state: str = "none",
                       cancel_detail: str | None = None, supplier_ref: str | None = None) -> dict[str, Any]:
    return {"order_id": order_id, "supplier_id": supplier, "idempotency_key": key, "lines": [], "state": state,
            "placed_at": placed_at, "paid": paid, "cancel_state": cancel_state, "cancel_detail": cancel_detail,
            "supplier_ref": supplier_ref, "created_at": NOW, "updated_at": NOW}


def shipment_row(order_id: int, so_id: int, tracking_no: str, *, carrier: str = "zhongtong",
                 **values: Any) -> dict[str, Any]:
    row = {"order_id": order_id, "supplier_order_id": so_id, "carrier": carrier, "tracking_no": tracking_no,
           "writeback_state": "uploaded", "created_at": NOW - timedelta(hours=1), "logistics_state": "none",
           "track_final": False, "province": "", "handed_over_at": None, "picked_up_at": None,
           "last_event_at": None, "delivered_at": None, "track_verdict": None, "provider_state": None,
           "uploaded_at": None, "last_checked_at": NOW - timedelta(minutes=5)}
    row.update(values)
    return row


def make_runtime(db: Database, tmp_path: Path, cfg: AlertsConfig, sinks: dict[str, FakeSink]) -> Runtime:
    config = Config(
        tmp_path / "config", GlobalConfig(),
        {SHOP: ShopConfigBase(id=SHOP, platform="fake", base_url="http://127.0.0.1:9")},
        {SUPPLIER: SupplierConfigBase(id=SUPPLIER, kind="file", ship_within_hours=24)},
        {}, cfg, {},
    )
    settings = Settings(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    return Runtime(settings, config, db, httpx.Client(), CallStats(), RetryPolicy(sleep=lambda _: None),
                   "test-holder", sinks=dict(sinks))


def alerts_config(channels: tuple[str, ...] = ("ops",), **values: Any) -> AlertsConfig:
    return AlertsConfig.model_validate({"channels": [{"id": c, "kind": "fake"} for c in channels], **values})
