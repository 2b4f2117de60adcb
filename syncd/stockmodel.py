"""Stock and price (issue 19): what a storefront lists and accepts, what a supplier has and asks.

The platform-neutral types and protocols that the stock engine (``syncd/stock/``) uses and the adapters implement.
Money is integer fen; quantities are integers; times are aware UTC. Adapters convert each platform's units (yuan
strings, Douyin fen, Pinduoduo's two read APIs) at their edge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ListingSku:
    """One SKU of a storefront product, as the platform's product listing shows it."""

    product_id: str  # Douyin product_id, Pinduoduo goods_id, Taobao num_iid
    sku_id: str  # the platform's SKU id
    merchant_code: str | None  # Douyin ``code``, Pinduoduo ``outer_id``, Taobao SKU ``outer_id``; None when unset
    title: str = ""
    on_sale: bool = True  # listed and sellable (not delisted, not deleted, not in draft)
    stock: int | None = None  # the sellable quantity the platform shows, when the listing carries it
    price_fen: int | None = None  # the SKU's storefront price, fen
    reserved: int | None = None  # quantity the platform holds back (unpaid orders, activity locks), when known


@dataclass(frozen=True, slots=True)
class StockWrite:
    """Set one SKU's sellable stock to a full value (never an increment: safe to send twice)."""

    product_id: str
    sku_id: str
    quantity: int  # >= 0


@dataclass(frozen=True, slots=True)
class StockWriteResult:
    """The platform's answer for one SKU of a write."""

    sku_id: str
    ok: bool
    code: str = ""  # the platform's error (sub)code when not ok
    message: str = ""  # the platform's own words, no secrets
    retryable: bool = False  # flow control / system busy: try again later; False = a business refusal
    floor: int | None = None  # the least the platform accepts (reserved / activity-locked), when it says


@runtime_checkable
class StorefrontStock(Protocol):
    """A storefront's product listing and stock write (implemented next to the order adapter)."""

    platform: str
    stock_batch_limit: int  # SKUs one write call carries (Douyin 50 across products, Taobao 20 of one item, PDD 1)
    batch_within_product: bool  # True when one call carries SKUs of one product only (Taobao)

    def list_catalog(self) -> Iterator[ListingSku]:
        """Every SKU of every product of the shop, paged to exhaustion within the platform's paging limits.
        Raises TransientError & co. like the order calls; an entry it cannot read is skipped and logged
        (never stops the listing)."""

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        """One write call (``len(writes) <= stock_batch_limit``; one product when ``batch_within_product``), as a
        full value. One result per write, in order. Raises TransientError when the call as a whole failed in a way
        that may pass (nothing known written), AuthError / ReauthorizationRequired like the order calls."""


@dataclass(frozen=True, slots=True)
class SupplierStock:
    """What a supplier has of one of its SKUs, and at what price (a read, a push or a stock file row)."""

    supplier_sku: str  # the route's supplier SKU (1688 specId / ``offerId:specId``, webhook or file SKU code)
    quantity: int | None  # units on sale; None when the source does not say
    price_fen: int | None = None  # the dropship / purchase price per unit, fen; None when not said
    observed_at: datetime | None = None  # when the supplier's figure was true (push / file time), aware UTC


@dataclass(slots=True)
class StockReadResult:
    """A read of several SKUs: what was read, and per SKU why it could not be."""

    stock: list[SupplierStock] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # supplier_sku -> reason (delisted, unknown, …)
    # supplier_sku -> reason it was not read this time for a reason that may pass (flow control, a malformed
    # answer): not a figure, not a failure — keep the last figure and ask again at the next read
    deferred: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class SupplierStockSource(Protocol):
    """An API supplier that can be asked for stock and price (1688 product API, webhook stock call)."""

    kind: str

    def read_stock(self, supplier_skus: Sequence[str]) -> StockReadResult:
        """Stock and price of these SKUs (the adapter groups them per product / call as its API needs)."""

    def parse_stock_push(self, headers: Mapping[str, str], body: bytes, now: datetime) -> list[SupplierStock]:
        """Verify (signature, timestamp window) and read a pushed stock/price change (1688 inventory/price
        message, webhook stock push). Raises RejectedError naming why it was refused."""
