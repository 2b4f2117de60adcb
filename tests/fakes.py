"""In-memory stand-ins shared by the tests: a storefront and token stores for the core, fakes for the adapters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from syncd.domain import (
    OrderIn,
    OrderLineIn,
    OrderStatus,
    Parcel,
    PaymentMode,
    Receiver,
    ReceiverRef,
    RefundEvent,
    RefundState,
    RefundWindow,
    RejectedRecord,
    ShipResult,
    Token,
    WindowResult,
)
from syncd.errors import RejectedError, TransientError
from syncd.protocols import SeenVersions
from syncd.ratelimit import RateLimiter


def make_order(
    pid: str,
    updated_at: datetime,
    *,
    skus: Sequence[str] = ("SKU-A",),
    status: OrderStatus = OrderStatus.PAID,
    ready: bool = True,
    refund: RefundState = RefundState.NONE,
    qty: int = 1,
    address: bool = True,
) -> OrderIn:
    ref = ReceiverRef(
        name_cipher=f"#N#{pid}",
        phone_cipher=f"#P#{pid}",
        address_cipher=f"#A#{pid}" if address else "",
        name_masked="张*",
        phone_masked="138****0000",
        address_masked="****" if address else "",
        province="浙江省",
        city="金华市",
        district="义乌市",
        street="稠城街道",
    )
    lines = [
        OrderLineIn(f"{pid}-{i}", sku, qty, title=f"商品{sku}", spec="颜色:红", refund_state=refund)
        for i, sku in enumerate(skus, start=1)
    ]
    return OrderIn(
        platform_order_id=pid,
        platform_status="2",
        status=status,
        ready_to_ship=ready,
        not_ready_reason=None if ready else "risk review",
        refund_state=refund,
        payment_mode=PaymentMode.PREPAID,
        updated_at=updated_at,
        created_at=updated_at,
        paid_at=updated_at - timedelta(minutes=30),
        ship_by=updated_at + timedelta(hours=48),
        receiver=ref,
        lines=lines,
        raw={"order_id": pid},
    )


class StoredVersions:
    """``SeenVersions`` for adapter tests: order id → (update time, payload as stored); records every question."""

    def __init__(self, versions: dict[str, tuple[float, Any]]) -> None:
        self.versions = {k: (stamp, json.dumps(raw, sort_keys=True)) for k, (stamp, raw) in versions.items()}
        self.asked: list[str] = []

    def store(self, key: str, stamp: float, raw: Any) -> None:
        self.versions[key] = (stamp, json.dumps(raw, sort_keys=True))

    def unchanged(self, key: str, stamp: float, raw: Any) -> bool:
        self.asked.append(key)
        return self.versions.get(key) == (stamp, json.dumps(raw, sort_keys=True))


@dataclass
class FakeStorefront:
    """A storefront kept in memory: list by update time, decrypt, ship (records every call)."""

    platform: str = "fake"
    max_window: timedelta = timedelta(hours=1)
    orders: dict[str, OrderIn] = field(default_factory=dict)
    incomplete: set[str] = field(default_factory=set)  # orders whose decrypted address is empty
    ship_calls: list[tuple[str, list[Parcel], bool]] = field(default_factory=list)
    shipped: dict[str, list[str]] = field(default_factory=dict)
    fail_ship: list[Exception] = field(default_factory=list)  # raised by the next ship calls, in order
    fail_list: list[Exception] = field(default_factory=list)
    fail_get: list[Exception] = field(default_factory=list)  # raised by the next get_order calls, in order
    get_calls: list[str] = field(default_factory=list)
    rejects: list[RejectedRecord] = field(default_factory=list)
    list_calls: list[tuple[datetime, datetime]] = field(default_factory=list)
    refunds: list[RefundEvent] = field(default_factory=list)
    refund_calls: list[tuple[datetime, datetime]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, order: OrderIn) -> None:
        self.orders[order.platform_order_id] = order

    def update(self, pid: str, updated_at: datetime, **changes: object) -> None:
        self.orders[pid] = replace(self.orders[pid], updated_at=updated_at, **changes)  # type: ignore[arg-type]

    def list_orders(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        self.list_calls.append((start, end))
        if self.fail_list:
            raise self.fail_list.pop(0)
        found = [o for o in self.orders.values() if start <= o.updated_at <= end]
        rejects, self.rejects = self.rejects, []
        fresh = [o for o in found if seen is None
                 or not seen.unchanged(o.platform_order_id, o.updated_at.timestamp(), o.raw)]
        return WindowResult(fresh, len(found) + len(rejects), rejects, unchanged=len(found) - len(fresh))

    def get_order(self, platform_order_id: str) -> OrderIn:
        """The order as the platform shows it now: with the tracking numbers it accepted."""
        self.get_calls.append(platform_order_id)
        if self.fail_get:
            raise self.fail_get.pop(0)
        order = self.orders[platform_order_id]
        shipped = self.shipped.get(platform_order_id)
        return replace(order, shipped_tracking=[*order.shipped_tracking, *shipped]) if shipped else order

    def list_refunds(self, start: datetime, end: datetime) -> RefundWindow:
        self.refund_calls.append((start, end))
        return RefundWindow([e for e in self.refunds if start <= e.updated_at <= end])

    def count_orders(self, start: datetime, end: datetime) -> int | None:
        return sum(1 for o in self.orders.values() if start <= o.updated_at <= end)

    def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        out: dict[str, Receiver | str] = {}
        for pid, ref in refs:
            detail = "" if pid in self.incomplete else f"幸福路{pid[-3:]}号"
            out[pid] = Receiver("张三", "13800001234", ref.province, ref.city, ref.district, ref.street, detail)
        return out

    def ship(self, platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        with self.lock:
            self.ship_calls.append((platform_order_id, list(parcels), whole_order))
            if self.fail_ship:
                raise self.fail_ship.pop(0)
            have = self.shipped.setdefault(platform_order_id, [])
            if all(p.tracking_no in have for p in parcels):
                return ShipResult(already_shipped=True)
            if self.orders[platform_order_id].status == OrderStatus.CANCELLED:
                raise RejectedError("order was cancelled", code="60021")
            have.extend(p.tracking_no for p in parcels)
            return ShipResult()

    def ensure_token(self) -> Token | None:
        return None

    def close(self) -> None:
        pass


def transient(msg: str = "system busy") -> TransientError:
    return TransientError(msg, code="20000")


@dataclass
class FakeTokenStore:
    """In-memory TokenStore; ``lock_free=False`` plays another process holding the refresh lock."""

    tokens: dict[str, Token] = field(default_factory=dict)
    saved: list[Token] = field(default_factory=list)
    lock_free: bool = True
    locks: int = 0

    def load(self, shop_id: str) -> Token | None:
        return self.tokens.get(shop_id)

    def save(self, shop_id: str, token: Token) -> None:
        self.tokens[shop_id] = token
        self.saved.append(token)

    @contextmanager
    def refresh_lock(self, shop_id: str) -> Iterator[bool]:
        self.locks += 1
        yield self.lock_free


class FakeLimiter(RateLimiter):
    """Records every ``acquire`` and never waits; honours pauses on its own clock (``now``, seconds)."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(clock=lambda: self.now)
        self.acquired: list[tuple[str, float]] = []

    def acquire(self, key: str, per_second: float, burst: float | None = None) -> None:
        self.acquired.append((key, per_second))
        self.refuse_if_paused(key)
