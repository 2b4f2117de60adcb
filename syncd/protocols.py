"""What the core needs from an outside system. Adapters implement these; the core imports no adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from syncd.domain import (
    CancelResult,
    InboxFile,
    Message,
    OrderIn,
    OutboxBatch,
    Parcel,
    ParsedInbox,
    PlacedOrder,
    Receiver,
    ReceiverRef,
    RefundWindow,
    RowError,
    ShipResult,
    StockAnswer,
    SupplierCallback,
    SupplierLine,
    SupplierOrderRequest,
    SupplierOrderStatus,
    Token,
    TrackPush,
    TrackResult,
    WindowResult,
)


class TokenStore(Protocol):
    """Where a storefront adapter keeps its token pair; implemented by the core over the database."""

    def load(self, shop_id: str) -> Token | None:
        """The stored token of the shop, or None."""

    def save(self, shop_id: str, token: Token) -> None:
        """Persist a new pair atomically."""

    def refresh_lock(self, shop_id: str) -> AbstractContextManager[bool]:
        """Single-writer guard for refreshing; yields False when another process holds it."""


class SeenVersions(Protocol):
    """Order versions the core has committed lately (what a settling read lists again)."""

    def unchanged(self, key: str, stamp: float, raw: Any) -> bool:
        """True when order ``key`` was committed with this update time (Unix seconds) and this payload."""


@runtime_checkable
class StorefrontAdapter(Protocol):
    """A storefront (Douyin Shop, Pinduoduo, Taobao).

    Optional, looked up by the pull: ``list_orders_step`` (a window read a page at a time, see syncd.stages.pull)
    and ``listing_rate() -> float`` (entries a second ``list_orders`` reads at most where each costs a call of its
    own, as Taobao's fullinfo does: a scheduled run's windows are sized to its budget by it)."""

    platform: str
    max_window: timedelta  # the longest listing window this adapter asks for

    def list_orders(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        """Every order updated in ``[start, end)``, paged to exhaustion. Raises TransientError & co.

        ``seen``: an entry it reports unchanged (by the entry's key, update time and payload as listed) may be
        left out unmapped and only counted in ``WindowResult.unchanged``: the database holds it already."""

    def get_order(self, platform_order_id: str) -> OrderIn:
        """One order read back from the platform."""

    def list_refunds(self, start: datetime, end: datetime) -> RefundWindow:
        """The refund / after-sale stream: every entry updated in ``[start, end)``, paged to exhaustion."""

    def count_orders(self, start: datetime, end: datetime) -> int | None:
        """The platform's own count of orders updated in the window (reconciliation); None if it cannot say."""

    def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        """Decrypt receivers (batched within the platform's limit); per order a Receiver or a reason."""

    def ship(self, platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        """Report parcels. ``whole_order``: one parcel holding every line of the order."""

    def ensure_token(self) -> Token | None:
        """Make sure a usable access token exists (create / refresh); returns it (None if not token-based)."""

    def close(self) -> None:
        """Release what the adapter holds (not the shared HTTP client)."""


@runtime_checkable
class FileSupplierAdapter(Protocol):
    """A supplier that exchanges files (outbox / inbox folders)."""

    kind: str

    def batch_due(self, last_batch_at: datetime | None, now: datetime) -> bool:
        """Whether a new outbox batch is due (interval elapsed, or a daily cutoff passed)."""

    def write_batch(self, batch: OutboxBatch) -> str:
        """Write the batch file atomically (same batch → same file name); returns the file name."""

    def list_inbox(self, now: datetime) -> list[InboxFile]:
        """Reply files that are complete (not still being written)."""

    def parse_inbox(self, file: InboxFile) -> ParsedInbox:
        """Read one reply file into accepted rows and rejected rows."""

    def finish_inbox(self, file: InboxFile, errors: Sequence[RowError], file_error: str | None) -> str:
        """Move the file out of the inbox (processed or rejected), with ``<file>.errors.csv`` beside it."""


@runtime_checkable
class BatchStockSupplier(Protocol):
    """An API supplier that answers for the stock of several orders in one call (a webhook supplier)."""

    def check_stock_batch(self, orders: Sequence[Sequence[SupplierLine]]) -> list[StockAnswer] | None:
        """Per order (its lines), what :meth:`ApiSupplierAdapter.check_stock` would say of it alone, from as few
        calls as the supplier allows; None when this supplier cannot say now (each order is asked alone)."""


@runtime_checkable
class ApiSupplierAdapter(Protocol):
    """A supplier reached over HTTP (1688, a webhook supplier). Errors: TransientError (retry later; for
    ``place`` it means the outcome is UNKNOWN), RejectedError (a business no, with the supplier's words),
    AuthError / ReauthorizationRequired, ProtocolError (an answer we cannot read)."""

    kind: str

    def check_stock(self, request: SupplierOrderRequest) -> StockAnswer | None:
        """Ask the supplier whether it can fill the order (1688 preview, webhook stock call); None when
        this supplier cannot say. Never creates anything at the supplier."""

    def place(self, request: SupplierOrderRequest) -> PlacedOrder:
        """Create the order. NOT assumed idempotent: after a TransientError the core calls
        :meth:`find` with the same key before sending again."""

    def find(self, idempotency_key: str, placed_after: datetime) -> PlacedOrder | None:
        """The order created with this key (1688 getBuyerOrderList by outOrderId), or None when the
        supplier has none. ``placed_after``: the key's first attempt, to bound the search."""

    def pay(self, order: PlacedOrder) -> PlacedOrder:
        """Pay an unpaid order when the supplier config allows it (1688 protocolPay); returns the order as
        now known. Raises RejectedError when paying is not configured or refused."""

    def status(self, idempotency_key: str, supplier_ref: str) -> SupplierOrderStatus:
        """The order's phase and its parcels (which lines each parcel holds)."""

    def cancel(self, idempotency_key: str, supplier_ref: str, reason: str) -> CancelResult:
        """Ask the supplier not to ship it."""

    def trace(self, supplier_ref: str, tracking_no: str) -> TrackResult | None:
        """The supplier's own logistics trace of one parcel (1688 getLogisticsTraceInfo); None if it has none."""

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        """Verify and read a push from the supplier (signature, timestamp window). Raises RejectedError
        with the reason (unsigned, bad signature, replayed, unknown) — never trusts an unverified body.
        Suppliers that do not push raise RejectedError("this supplier does not push")."""

    def ensure_token(self) -> None:
        """Make sure a usable access token exists (refresh ahead of expiry, postpone the refresh token)."""

    def close(self) -> None:
        """Release what the adapter holds (not the shared HTTP client)."""


@runtime_checkable
class TrackingProvider(Protocol):
    """A logistics tracking source (Kuaidi100)."""

    name: str

    def query(self, carrier: str, tracking_no: str, phone: str | None) -> TrackResult:
        """One real-time query. ``carrier``: internal code; ``phone``: receiver/sender phone or its last 4
        digits where the carrier needs it (SF). Raises TransientError (incl. RateLimitedError), RejectedError
        (the provider refuses this number/carrier), ProtocolError."""

    def subscribe(self, carrier: str, tracking_no: str, phone: str | None, callback_url: str) -> None:
        """Ask the provider to push updates to ``callback_url``. Raises RejectedError for a refused
        subscription; an already-running subscription (Kuaidi100 501) is success."""

    def parse_push(self, form: Mapping[str, str]) -> TrackPush:
        """Verify (signature) and read one push. Raises RejectedError naming why it was refused."""

    def push_reply(self, ok: bool, message: str) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) to answer a push with, exactly as the provider requires."""

    def close(self) -> None:
        """Release what the provider holds (not the shared HTTP client)."""


@runtime_checkable
class AlertSink(Protocol):
    """An alert channel (DingTalk, WeCom, Feishu, Slack, email, a generic webhook)."""

    name: str  # the channel's id in the config
    kind: str
    per_minute: int  # messages the service accepts per minute (DingTalk, WeCom 20)
    max_bytes: int  # largest message body the service accepts

    def send(self, message: Message) -> None:
        """Deliver one message; success is the service's own success code, not HTTP 200. Raises
        TransientError / RateLimitedError (with retry_after) for what may pass later, RejectedError for a
        configuration problem that will not (bad key, signature mismatch, keyword missing)."""

    def close(self) -> None:
        """Release what the sink holds (not the shared HTTP client)."""
