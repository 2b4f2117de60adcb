"""Platform-neutral data that crosses the boundary between the core and the adapters.

Plain dataclasses: adapters build them from platform payloads; stages persist them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.stockmodel import SupplierStock


class OrderStatus(enum.StrEnum):
    """Normalised storefront status."""

    UNPAID = "unpaid"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# On its way or delivered according to the storefront: no longer "ready to ship", and no stop either.
PAST_SHIPPING = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})


class RefundState(enum.StrEnum):
    """Refund / after-sale state of an order or a line."""

    NONE = "none"
    REQUESTED = "requested"  # buyer asked; not settled yet
    REFUNDED = "refunded"  # money went back: do not ship


def order_refund_state(lines: Iterable[RefundState | str]) -> RefundState:
    """The order's refund state from its lines': REFUNDED when every line is, REQUESTED when any line has
    a refund or after-sale going on (or done), else NONE."""
    states = [RefundState(s) for s in lines]
    if states and all(s is RefundState.REFUNDED for s in states):
        return RefundState.REFUNDED
    if any(s is not RefundState.NONE for s in states):
        return RefundState.REQUESTED
    return RefundState.NONE


class PaymentMode(enum.StrEnum):
    PREPAID = "prepaid"
    COD = "cod"


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; short or virtual numbers keep only their last 4 digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    return "****" + digits[-4:] if len(digits) > 4 else "****"


@dataclass(slots=True)
class ReceiverRef:
    """The receiver as the platform lists it: ciphertext plus the masked form, never plaintext."""

    name_cipher: str = ""
    phone_cipher: str = ""
    address_cipher: str = ""
    name_masked: str = ""
    phone_masked: str = ""
    address_masked: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""


@dataclass(slots=True)
class Receiver:
    """Decrypted receiver. Exists in memory at forward time only; ``repr`` never shows it."""

    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str
    detail: str
    virtual_phone: bool = False

    def missing(self) -> list[str]:
        """Names of the fields a supplier cannot ship without."""
        need = {"name": self.name, "phone": self.phone, "province": self.province,
                "city": self.city, "detail": self.detail}
        return [k for k, v in need.items() if not v.strip()]

    def full_address(self) -> str:
        return "".join(p for p in (self.province, self.city, self.district, self.street, self.detail) if p)

    def __repr__(self) -> str:
        return f"Receiver(name=*, phone={mask_phone(self.phone)}, province={self.province!r}, city={self.city!r})"


@dataclass(slots=True)
class OrderLineIn:
    """One storefront order line (Douyin sku order, PDD item, Taobao sub-order)."""

    platform_line_id: str
    merchant_sku: str  # the seller's code (outer id); routes are keyed on it
    quantity: int
    title: str = ""
    spec: str = ""
    platform_sku_id: str = ""
    unit_price_fen: int = 0
    refund_state: RefundState = RefundState.NONE


@dataclass(slots=True)
class OrderIn:
    """One storefront order, normalised by the adapter's mapping."""

    platform_order_id: str
    platform_status: str  # the platform's own code, kept for people and for audits
    status: OrderStatus
    ready_to_ship: bool  # the platform's own "may ship now" predicate
    not_ready_reason: str | None  # why not, when paid but not ready (risk review, ship hold...)
    refund_state: RefundState
    payment_mode: PaymentMode
    updated_at: datetime
    created_at: datetime | None = None
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    buyer_note: str = ""
    seller_memo: str = ""
    receiver: ReceiverRef = field(default_factory=ReceiverRef)
    lines: list[OrderLineIn] = field(default_factory=list)
    shipped_tracking: list[str] = field(default_factory=list)  # tracking numbers the platform already has
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RejectedRecord:
    """A record from the other side we could not read; kept (quarantined) with the reason, never dropped."""

    key: str  # the platform's id when it could be read, else a position like "page 3 item 7"
    reason: str
    raw: Any


@dataclass(slots=True)
class WindowResult:
    """Every order of one listing window, paged to exhaustion."""

    orders: list[OrderIn]
    total: int | None  # the platform's own count, when it gives one
    rejects: list[RejectedRecord] = field(default_factory=list)
    unchanged: int = 0  # entries the adapter left out as versions already stored (``list_orders(seen=...)``)
    # set by a stepping read (``list_orders_step``): everything before this was read, the rest of the window
    # goes to the next one, which starts here at the latest
    covered: datetime | None = None


@dataclass(slots=True)
class RefundEvent:
    """One entry of a storefront's refund / after-sale stream (Douyin afterSale.List, PDD, Taobao)."""

    platform_order_id: str
    platform_line_id: str | None  # the order line it concerns, when the platform says
    state: RefundState  # REQUESTED while in progress, REFUNDED once money went back, NONE when closed/refused
    updated_at: datetime
    kind: str = ""  # the platform's after-sale type, for people (仅退款, 退货退款, 换货...)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RefundWindow:
    events: list[RefundEvent]
    rejects: list[RejectedRecord] = field(default_factory=list)


@dataclass(slots=True)
class ParcelLine:
    platform_line_id: str
    quantity: int


@dataclass(slots=True)
class Parcel:
    """One package to report to the storefront."""

    carrier: str  # internal carrier code (see syncd.carriers)
    tracking_no: str
    lines: list[ParcelLine]  # the order lines (and quantities) inside this package
    request_id: str  # deterministic idempotency key for this parcel
    attempted: bool = False  # sent before with an unknown outcome: read the order back before sending again


@dataclass(slots=True)
class ShipResult:
    already_shipped: bool = False  # the platform had it already (e.g. Douyin 60110) with the same number


@dataclass(slots=True)
class Token:
    """An access/refresh token pair of one shop, as stored by the core."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at.isoformat()})"


# ---- supplier side ------------------------------------------------------------------------------


@dataclass(slots=True)
class OutboxRow:
    """One line of one supplier order, as it goes into a supplier file."""

    order_no: str  # the storefront order id the supplier will quote back
    sub_order_no: str
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str
    address: str  # the full one-cell address
    supplier_sku: str
    title: str
    spec: str
    quantity: int
    remark: str
    shop: str
    paid_at: datetime | None

    def __repr__(self) -> str:
        return f"OutboxRow(order_no={self.order_no!r}, sku={self.supplier_sku!r}, qty={self.quantity})"


@dataclass(slots=True)
class OutboxBatch:
    batch_id: int
    supplier_id: str
    created_at: datetime
    file_stem: str  # e.g. "acme-20261122-170000-b000042"; the adapter adds the extension
    rows: list[OutboxRow]
    kind: str = "orders"  # "cancel": the supplier must NOT ship these (a layout of its own, never an order file)


@dataclass(slots=True)
class InboxFile:
    name: str
    path: str
    sha256: str
    size: int


@dataclass(slots=True)
class TrackingRow:
    """One accepted row of a supplier's reply file."""

    row_no: int  # 1-based spreadsheet row number, header included
    order_no: str
    sub_order_no: str
    carrier: str  # internal carrier code
    carrier_text: str  # what the supplier wrote
    tracking_nos: list[str]
    raw: dict[str, str]


@dataclass(slots=True)
class RowError:
    row_no: int
    reason: str
    raw: dict[str, str]


@dataclass(slots=True)
class ParsedInbox:
    rows: list[TrackingRow]
    errors: list[RowError]
    file_error: str | None = None  # the whole file could not be read (corrupt, no header...)
    # what the file is, told by its headers: "tracking" (a reply with tracking numbers: rows) or "stock"
    # (a 库存表: SKU, quantity, optional price: stock); rows and stock are never both filled
    kind: str = "tracking"
    stock: list[SupplierStock] = field(default_factory=list)


# ---- supplier APIs (1688, webhook suppliers) ----------------------------------------------------


@dataclass(slots=True)
class SupplierLine:
    """One line of a supplier order as an API supplier receives it."""

    line_ref: str  # our reference of the line (the storefront's platform_line_id); parcels quote it back
    supplier_sku: str  # the route's supplier SKU (1688: "offerId" or "offerId:specId")
    quantity: int  # supplier units (storefront quantity × the route's multiplier)
    title: str = ""
    spec: str = ""


@dataclass(slots=True)
class SupplierOrderRequest:
    """Everything an API supplier needs to place one supplier order. Holds the decrypted receiver:
    in memory only, never logged (``repr`` masks it)."""

    idempotency_key: str  # never changes for this supplier order: 1688 outOrderId, webhook Idempotency-Key
    shop_id: str
    platform: str  # storefront platform (douyin, pdd, taobao): 1688's fenxiaoChannel
    platform_order_id: str
    receiver: Receiver
    lines: list[SupplierLine]
    remark: str = ""
    kind: str = "normal"  # "normal" or "reship"
    original_key: str | None = None  # a reship: the idempotency key of the supplier order it replaces

    def __repr__(self) -> str:
        return f"SupplierOrderRequest(key={self.idempotency_key!r}, lines={len(self.lines)}, kind={self.kind!r})"


@dataclass(slots=True)
class StockLine:
    supplier_sku: str
    wanted: int
    available: int | None  # None: the supplier cannot say for this SKU


@dataclass(slots=True)
class StockAnswer:
    """What the supplier says about stock for one supplier order (1688 preview, webhook stock call)."""

    lines: list[StockLine]
    detail: str = ""  # the supplier's own words when it refused (e.g. 1688 preview resultCode/message)

    def short(self) -> list[StockLine]:
        return [ln for ln in self.lines if ln.available is not None and ln.available < ln.wanted]


@dataclass(slots=True)
class PlacedOrder:
    """The supplier's answer to a placed order (or the order found again by our idempotency key)."""

    supplier_ref: str  # the supplier's order id
    paid: bool = True  # 1688 creates orders unpaid: False until paid (protocolPay or a person)
    amount_fen: int | None = None  # what the supplier charges, when it says


@dataclass(slots=True)
class SupplierParcel:
    """One parcel the supplier reports for a supplier order."""

    carrier: str | None  # internal carrier code (syncd.carriers.normalize), None when unknown
    carrier_text: str  # what the supplier wrote (name or its own code)
    tracking_no: str
    line_refs: list[str] | None  # the SupplierLine.line_ref values inside; None = the whole supplier order
    sent_at: datetime | None = None  # the supplier's own send time (1688 gmtSystemSend / deliveredTime)


class SupplierOrderPhase(enum.StrEnum):
    UNPAID = "unpaid"  # created at the supplier, waiting for payment (1688)
    ACCEPTED = "accepted"  # paid / accepted, not shipped yet
    PARTIAL = "partial"  # some lines shipped
    SHIPPED = "shipped"  # every line shipped
    CANCELLED = "cancelled"  # cancelled or closed at the supplier
    REJECTED = "rejected"  # the supplier refused it


@dataclass(slots=True)
class SupplierOrderStatus:
    supplier_ref: str
    phase: SupplierOrderPhase
    parcels: list[SupplierParcel] = field(default_factory=list)
    detail: str = ""  # the supplier's own status words, for people


class CancelOutcome(enum.StrEnum):
    CANCELLED = "cancelled"  # the supplier will not ship it
    TOO_LATE = "too_late"  # the supplier can no longer stop it (paid, shipped): a person must act
    RETRY = "retry"  # try again later (1688 CLOSE_ORDER_TOO_FAST within 10 s of creation)


@dataclass(slots=True)
class CancelResult:
    outcome: CancelOutcome
    detail: str = ""


@dataclass(slots=True)
class SupplierCallback:
    """A verified push from a supplier (webhook callback): tracking or a status change."""

    idempotency_key: str
    status: SupplierOrderStatus
    event_id: str = ""  # the sender's unique id of this push: a replay of it changes nothing


# ---- tracking --------------------------------------------------------------------------------------


class LogisticsState(enum.StrEnum):
    """Normalised parcel state (Shipment.logistics_state)."""

    NONE = "none"  # no scan yet
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    DELIVERING = "delivering"  # out for delivery / in a locker or station
    DELIVERED = "delivered"
    PROBLEM = "problem"  # 疑难, customs trouble, damaged, lost
    RETURNING = "returning"
    RETURNED = "returned"
    REFUSED = "refused"

    @property
    def final(self) -> bool:
        return self in (LogisticsState.DELIVERED, LogisticsState.RETURNED)


@dataclass(slots=True)
class TrackEvent:
    at: datetime  # aware UTC
    state: LogisticsState
    text: str
    location: str = ""


# TrackResult.verdict of a provider's own "no update for too long" (Kuaidi100 202 超时未更新): the parcel keeps the
# state of its last movement and the stalled rules alert at once.
STALLED_VERDICT = "stalled"


@dataclass(slots=True)
class TrackResult:
    """A parcel's history as a tracking provider knows it."""

    state: LogisticsState  # current normalised state (NONE when there is no record yet)
    events: list[TrackEvent]  # oldest first
    provider_state: str = ""  # the provider's own code (Kuaidi100 state / statusCode), for people
    verdict: str | None = None  # the provider's own alarm: "no_records", "stalled" (K100 202), "abort: 3天查询无记录"
    final: bool = False  # the provider stopped following it (signed, shutdown)


@dataclass(slots=True)
class TrackPush:
    """A verified tracking push (Kuaidi100 subscription callback)."""

    carrier: str  # internal code
    tracking_no: str
    result: TrackResult


# ---- alerts ----------------------------------------------------------------------------------------


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(slots=True)
class Message:
    """One message to a channel: a single alert or a digest of several. Plain text a person can act on;
    ``lines`` are rendered as a list. Never carries secrets or full phone numbers / addresses."""

    title: str
    lines: list[str]
    severity: Severity = Severity.WARNING
