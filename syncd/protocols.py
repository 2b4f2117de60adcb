"""What the core needs from an outside system. Adapters implement these; the core imports no adapter."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from syncd.domain import (
    InboxFile,
    OrderIn,
    OutboxBatch,
    Parcel,
    ParsedInbox,
    Receiver,
    ReceiverRef,
    RefundWindow,
    RowError,
    ShipResult,
    Token,
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


@runtime_checkable
class StorefrontAdapter(Protocol):
    """A storefront (Douyin Shop, Pinduoduo, Taobao)."""

    platform: str
    max_window: timedelta  # the longest listing window this adapter asks for

    def list_orders(self, start: datetime, end: datetime) -> WindowResult:
        """Every order updated in ``[start, end)``, paged to exhaustion. Raises TransientError & co."""

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
