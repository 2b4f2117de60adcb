"""What the three storefronts' catalogue listing and stock writes share (reference/stock-and-price.md §1–3, §5).

- :func:`deep_pages`: a listing whose paging stops at a depth (Douyin ``page*size <= 10 000``, Taobao 20 000 or
  100 000) read in update-time windows, a window halved while its total passes the depth.
- :func:`write_with_fallback`: a batch write whose refusal does not say which SKU was at fault (Douyin's batch,
  Taobao's ``skus.quantity.update``) is sent again one SKU a call, so one bad SKU does not hold back the rest.
- :func:`floor_in`: the least quantity a refusal names, when it names one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.errors import ProtocolError, RejectedError, TransientError
from syncd.stockmodel import ListingSku, StockWrite, StockWriteResult, StorefrontStock

log = logging.getLogger("syncd.adapters.catalog")

# Words of a refusal that speak of stock the platform holds back (resource slot, activity, held or locked stock),
# for the platforms that publish no code for it (Pinduoduo, Taobao: reference/stock-and-price.md §7.3).
FLOOR_WORDS = ("资源位", "活动", "预扣", "锁定", "占用", "预占")
EPOCH_START = 1_262_304_000  # 2010-01-01: older than any listed product; a full listing window starts here
_NUMBER = re.compile(r"(?<![0-9.])([0-9]{1,9})(?![0-9.])")
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its entries and the platform's total for the query (None when not given)."""

    items: list[Any]
    total: int | None


Fetch = Callable[[int, int, int], Page]  # (window start, window end, page number) → page; times epoch seconds


def deep_pages(fetch: Fetch, start: int, end: int, *, first_page: int, page_size: int, depth: int,
               what: str) -> Iterator[Any]:
    """Every entry updated in ``[start, end]``: pages while inside ``depth``, halving the window when its total
    passes it. Entries of overlapping windows may repeat: the caller drops repeats by id."""
    windows = [(start, end)]
    while windows:
        lo, hi = windows.pop()
        page = first_page
        got = fetch(lo, hi, page)
        if got.total is not None and got.total > depth and hi > lo:
            mid = (lo + hi) // 2
            windows += [(mid, hi), (lo, mid)]  # older half first; the shared second is read twice
            continue
        if got.total is not None and got.total > depth:
            log.error("%s: %d entries updated in the one second %d, more than the platform pages (%d): "
                      "the rest of that second is not read", what, got.total, lo, depth)
        seen = 0
        while True:
            yield from got.items
            seen += len(got.items)
            done = (not got.items or len(got.items) < page_size or (got.total is not None and seen >= got.total)
                    or (page - first_page + 1) * page_size >= depth)
            if done:
                break
            page += 1
            got = fetch(lo, hi, page)


def floor_in(message: str) -> int | None:
    """The one whole number a refusal's text names (``…不得低于活动库存数 12``), else None (none or several)."""
    numbers = _NUMBER.findall(message)
    return int(numbers[0]) if len(numbers) == 1 else None


def refused(write: StockWrite, err: RejectedError, floor_codes: Sequence[str] = ()) -> StockWriteResult:
    """A business refusal of one SKU; ``floor`` read from the message when its code is a floor code."""
    code = err.code or ""
    message = (err.platform_message or str(err))[:_MAX_MESSAGE]
    floor = floor_in(message) if any(c and c in code for c in floor_codes) else None
    return StockWriteResult(write.sku_id, ok=False, code=code, message=message, floor=floor)


def worded_refusal(write: StockWrite, err: RejectedError) -> StockWriteResult:
    """A refusal from a platform without floor codes: a floor refusal when its text speaks of held stock."""
    message = (err.platform_message or str(err))[:_MAX_MESSAGE]
    floor = floor_in(message) if any(w in message for w in FLOOR_WORDS) else None
    return StockWriteResult(write.sku_id, ok=False, code=err.code or "rejected", message=message, floor=floor)


def busy(write: StockWrite, err: TransientError) -> StockWriteResult:
    """Flow control or a failed call for one SKU among several: try it again on a later pass."""
    return StockWriteResult(write.sku_id, ok=False, code=err.code or "transient", message=str(err)[:_MAX_MESSAGE],
                            retryable=True)


def malformed(write: StockWrite, why: str) -> StockWriteResult:
    """An answer that says nothing readable about this SKU: whether it was written is unknown, and a full value
    is safe to send again, so it is retryable."""
    return StockWriteResult(write.sku_id, ok=False, code="malformed-answer", message=why[:_MAX_MESSAGE],
                            retryable=True)


def write_with_fallback(writes: Sequence[StockWrite], batch: Callable[[Sequence[StockWrite]], list[StockWriteResult]],
                        one: Callable[[StockWrite], StockWriteResult], what: str) -> list[StockWriteResult]:
    """``batch(writes)``; when the platform refuses the batch as a whole (all-or-nothing, no SKU named), each SKU
    again through ``one`` so that the refusal lands on the SKU it belongs to. A transient failure of the batch is
    raised (nothing known written); one of a single-SKU call marks that SKU retryable and the rest goes on."""
    if len(writes) == 1:
        return [_one_safely(writes[0], one)]
    try:
        return batch(writes)
    except RejectedError as err:
        log.info("%s: batch of %d SKU(s) refused (%s); sending them one at a time", what, len(writes), err.code)
    out: list[StockWriteResult] = []
    for n, w in enumerate(writes):
        try:
            out.append(one(w))
        except RejectedError as err:
            out.append(refused(w, err))
        except TransientError as err:
            out.extend(busy(rest, err) for rest in writes[n:])
            break
    return out


def _one_safely(write: StockWrite, one: Callable[[StockWrite], StockWriteResult]) -> StockWriteResult:
    try:
        return one(write)
    except RejectedError as err:
        return refused(write, err)


def require_id(value: Any, what: str) -> str:
    """An id given as digits or as an integer → its text; anything else is a :class:`ProtocolError` naming it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ProtocolError(f"{what}: id is missing or not readable ({type(value).__name__})")


class StockFacade:
    """What a storefront adapter adds to be a :class:`StorefrontStock`: the stock part of it, handed in once."""

    platform: str
    stock_batch_limit: int
    batch_within_product: bool
    _stock: StorefrontStock

    def _init_stock(self, stock: StorefrontStock) -> None:
        self._stock = stock
        self.stock_batch_limit = stock.stock_batch_limit
        self.batch_within_product = stock.batch_within_product

    def list_catalog(self) -> Iterator[ListingSku]:
        """Every SKU of every product of the shop, paged to exhaustion (see the platform's stock module)."""
        return self._stock.list_catalog()

    def write_stock(self, writes: Sequence[StockWrite]) -> list[StockWriteResult]:
        """One full-value stock write call (see the platform's stock module)."""
        return self._stock.write_stock(writes)
