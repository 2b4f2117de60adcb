"""The plain data of the alert rules: facts in (read by :mod:`syncd.alerts.facts`), findings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from syncd.domain import Severity

# ---- facts --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderFact:
    """A paid order with no tracking uploaded yet, near or past its ship deadline."""

    order_id: int
    shop_id: str
    platform_order_id: str
    paid_at: datetime | None
    ship_by: datetime | None
    state: str
    hold_reason: str | None = None


@dataclass(frozen=True, slots=True)
class HoldFact:
    order_id: int
    shop_id: str
    platform_order_id: str
    reason: str
    detail: str
    since: datetime


@dataclass(frozen=True, slots=True)
class SupplierOrderFact:
    """A supplier order placed and not shipped (nor being cancelled)."""

    supplier_order_id: int
    shop_id: str
    platform_order_id: str
    supplier_id: str
    supplier_ref: str | None
    placed_at: datetime
    paid: bool | None


@dataclass(frozen=True, slots=True)
class CancelFact:
    """The buyer cancelled, the supplier can no longer stop the parcel."""

    supplier_order_id: int
    shop_id: str
    platform_order_id: str
    supplier_id: str
    supplier_ref: str | None
    detail: str
    parcels: tuple[tuple[str, str], ...] = ()  # (carrier, tracking number) the supplier reported for it


@dataclass(frozen=True, slots=True)
class ParcelFact:
    shipment_id: int
    shop_id: str
    platform_order_id: str
    carrier: str
    tracking_no: str
    state: str  # LogisticsState value
    handed_over_at: datetime  # the supplier's send time, else when the number arrived
    last_scan_at: datetime | None  # the newest carrier scan
    verdict: str | None = None
    provider_state: str | None = None
    province: str = ""
    read: bool = True  # its tracking was read at least once (a reading or a provider's refusal)
    number_at: datetime | None = None  # when syncd got the tracking number (it cannot read one it does not know)


@dataclass(frozen=True, slots=True)
class DuplicateFact:
    """One tracking number on shipments of different storefront orders."""

    tracking_no: str
    carrier: str
    orders: tuple[tuple[str, str], ...]  # (shop id, platform order id), sorted


@dataclass(frozen=True, slots=True)
class TokenFact:
    owner: str  # shop id, or "supplier:<id>"
    expires_at: datetime
    refresh_expires_at: datetime | None
    can_refresh: bool


@dataclass(frozen=True, slots=True)
class PausedShopFact:
    shop_id: str
    reason: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class StageFact:
    stage: str
    scope: str
    failures: int
    last_error: str
    last_error_at: datetime | None
    skip_reason: str = ""  # set while the latest run was skipped and nothing succeeded since
    skipped_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FileFact:
    file_id: int
    supplier_id: str
    file_name: str
    rows_ok: int
    rows_rejected: int
    file_error: str | None
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelFact:
    """An alert channel with undelivered messages that failed."""

    channel: str
    attempts: int  # the most attempts of one waiting message
    last_error: str  # "rejected: ..." or "transient: ..."
    since: datetime


@dataclass(frozen=True, slots=True)
class MarginFact:
    """A SKU whose margin in a shop is below the configured floor (stock_margin.low)."""

    shop_id: str
    merchant_sku: str
    margin_fen: int
    floor_fen: int
    price_fen: int | None
    cost_fen: int | None
    held: bool  # its stock is kept at zero until a person releases it


@dataclass(frozen=True, slots=True)
class StockWriteFact:
    """A storefront SKU whose stock write the platform refused, held at its floor, or that keeps failing."""

    shop_id: str
    merchant_sku: str
    sku_id: str
    code: str
    message: str
    refused: int | None  # the value refused for good
    floor: int | None
    attempts: int
    at: datetime | None
    value: int | None = None  # the value last written (held at the floor: the floor)


@dataclass
class Facts:
    """Everything one watch pass looks at (candidates only: the SQL already applied the thresholds)."""

    orders: list[OrderFact] = field(default_factory=list)
    holds: list[HoldFact] = field(default_factory=list)
    supplier_orders: list[SupplierOrderFact] = field(default_factory=list)
    cancels: list[CancelFact] = field(default_factory=list)
    parcels: list[ParcelFact] = field(default_factory=list)
    unread_parcels: list[ParcelFact] = field(default_factory=list)  # handed over long ago, tracking never read
    duplicates: list[DuplicateFact] = field(default_factory=list)
    tokens: list[TokenFact] = field(default_factory=list)
    paused_shops: list[PausedShopFact] = field(default_factory=list)
    stages: list[StageFact] = field(default_factory=list)
    files: list[FileFact] = field(default_factory=list)
    channels: list[ChannelFact] = field(default_factory=list)
    # stock and price (issue 19)
    margins: list[MarginFact] = field(default_factory=list)  # SKUs whose margin is below the floor
    stock_writes: list[StockWriteFact] = field(default_factory=list)  # stock writes refused / held / failing


@dataclass(frozen=True, slots=True)
class Finding:
    """One condition that holds now: the lifecycle opens, keeps or resolves alerts from these."""

    rule: str
    subject: str  # stable across passes: "order:45", "shipment:123", "stage:pull:douyin-demo"
    severity: Severity
    title: str
    lines: tuple[str, ...] = ()
    shop_id: str | None = None
