"""Reading one time window to exhaustion: ``order.searchList`` and ``afterSale.List`` (reference §1.4).

Both APIs page from 0 with at most 100 entries a page and at most 50,000 entries a window
(20013); beyond that the window is split in two. Entries updated while we page move to the end of
the ``update_time`` ordering (or out of the window) and shift the others one place forward, onto
pages already read: when that is seen (the total changed, or an entry showed up twice) the window is
read once more. Each entry is kept once, in its newest version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from syncd.adapters.common.fields import whole
from syncd.domain import RejectedRecord
from syncd.errors import ProtocolError
from syncd.protocols import SeenVersions

log = logging.getLogger("syncd.adapters.douyin")

T = TypeVar("T")

PAGE_SIZE = 100  # the most either API gives a page (20008)
PAGING_DEPTH = 50_000  # entries one window can page through (20013); split the window beyond it
MAX_PAGES = PAGING_DEPTH // PAGE_SIZE
# A stepping read (WindowReader.read_step) pages a window of at most this many entries whole; a busier one is read
# a first page at a time. What a window holds until it commits is one mapped order per entry (the raw pages are
# dropped as they are read; an entry stored before in this version is only counted). Paging a window whole costs
# a second pass when entries move meanwhile (orders written back while it is read), stepping never does.
PAGED_WHOLE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    """One answer page: the platform's total, its entries, and ``has_more`` when the API gives it."""

    total: int
    items: list[Any]
    has_more: bool | None = None


@dataclass(frozen=True, slots=True)
class Read(Generic[T]):
    """One entry read: its key (None when unreadable), its update time (-1 unknown), the value or a reject."""

    key: str | None
    stamp: float
    value: T | RejectedRecord


@dataclass(slots=True)
class Harvest(Generic[T]):
    """Everything one window gave; ``unchanged``: entries left out as versions already stored."""

    values: list[T]
    rejects: list[RejectedRecord]
    total: int
    unchanged: int = 0


class _Unchanged:
    """Stands in the kept map for an entry ``seen`` reported unchanged (it was not read)."""


_UNCHANGED = _Unchanged()


@dataclass(slots=True)
class _Kept(Generic[T]):
    entries: dict[str, tuple[float, T | RejectedRecord | _Unchanged]] = field(default_factory=dict)


Fetch = Callable[[int, int, int], Page]  # (window start, window end, page) → one page
Reader = Callable[[Any, str], "Read[T]"]  # (raw entry, "page 3 item 7") → Read
Peek = Callable[[Any], tuple[str, float] | None]  # raw entry → (key, update time) when cheaply readable


class WindowReader(Generic[T]):
    """Pages one API's windows: ``fetch`` asks for one page, ``read`` maps one raw entry."""

    def __init__(self, api: str, shop: str, fetch: Fetch, read: Reader[T], peek: Peek | None = None) -> None:
        self._api = api
        self._shop = shop
        self._fetch = fetch
        self._read = read
        self._peek = peek

    def read_window(self, start: int, end: int, seen: SeenVersions | None = None,
                    first: Page | None = None) -> Harvest[T]:
        """Every entry updated in ``[start, end]`` (Unix seconds), each once, the newest version. With ``seen``
        (and a ``peek``), an entry the core already stored in this version is counted, not read."""
        kept: _Kept[T] = _Kept()
        total, unkeyed = self._window(start, end, kept, seen, first)
        return self._harvest(kept, unkeyed, total)

    @staticmethod
    def _harvest(kept: _Kept[T], unkeyed: list[RejectedRecord], total: int) -> Harvest[T]:
        values: list[T] = []
        rejects: list[RejectedRecord] = []
        unchanged = 0
        for _, v in kept.entries.values():
            if isinstance(v, _Unchanged):
                unchanged += 1
            elif isinstance(v, RejectedRecord):
                rejects.append(v)
            else:
                values.append(v)
        return Harvest(values=values, rejects=rejects + unkeyed, total=total, unchanged=unchanged)

    def read_step(self, start: int, end: int, seen: SeenVersions | None = None,
                  first: Page | None = None) -> tuple[Harvest[T], int]:
        """One page's worth of ``[start, end]``: returns what it holds and how far it reached — ``end`` when it
        read the window whole, else the second ``last`` before which it read everything (a window going on
        from ``last``, inclusive, reads the rest).

        Entries come sorted by ``update_time`` ascending, so every entry stamped before the last one of the first
        page is on that page: one call reads ``[start, last)`` whole and atomically (no later page for an entry to
        slide past), at most a page's entries held. A window of at most :data:`PAGED_WHOLE` entries is paged
        whole instead (as :meth:`read_window`, its first page reused): stepping leaves the entries of a page's last
        second to the next step, which costs calls in a burst of many a second. A first page all in one second is
        paged whole up to that second (``first``: the first page, already asked, e.g. by a count)."""
        answer = first if first is not None else self._fetch(start, end, 0)
        if answer.total <= PAGED_WHOLE or not answer.items:  # small enough to hold: paged whole, no page lost
            return self.read_window(start, end, seen, answer), end
        kept: _Kept[T] = _Kept()
        unkeyed: list[RejectedRecord] = []
        stamps = [self._stamp(item) for item in answer.items]
        last = max(stamps)
        if min(stamps) >= last:  # a full page in one second: that second is paged whole
            return self.read_window(start, int(last), seen), int(last) + 1
        for i, (item, stamp) in enumerate(zip(answer.items, stamps, strict=True)):
            if stamp < last:  # entries of the last second may go on past this page: the next step reads them
                self._take(kept, unkeyed, item, f"page 0 item {i}", seen)
        harvest = self._harvest(kept, unkeyed, 0)
        harvest.total = len(harvest.values) + len(harvest.rejects) + harvest.unchanged
        return harvest, int(last)

    def _stamp(self, item: Any) -> float:
        peeked = self._peek(item) if self._peek is not None else None
        return peeked[1] if peeked is not None else self._read(item, "").stamp

    def _window(self, start: int, end: int, kept: _Kept[T], seen: SeenVersions | None,
                first: Page | None = None) -> tuple[int, list[RejectedRecord]]:
        unkeyed: list[RejectedRecord] = []
        total, moved = self._page_through(start, end, kept, unkeyed, seen, first)
        if total > PAGING_DEPTH:
            return self._split(start, end, total, kept, seen)
        if moved:
            log.info("douyin shop %s: %s entries moved while paging; reading the window again",
                     self._shop, self._api)
            unkeyed = []
            self._page_through(start, end, kept, unkeyed, seen)
        return total, unkeyed

    def _split(self, start: int, end: int, total: int, kept: _Kept[T],
               seen: SeenVersions | None) -> tuple[int, list[RejectedRecord]]:
        if end - start <= 1:
            raise ProtocolError(f"douyin {self._api}: {total} entries in one second exceed the paging depth")
        mid = (start + end) // 2
        log.info("douyin shop %s: %d %s entries in one window; splitting it", self._shop, total, self._api)
        # The halves share the second ``mid``; the kept map holds each entry once anyway.
        first_total, first_unkeyed = self._window(start, mid, kept, seen)
        second_total, second_unkeyed = self._window(mid, end, kept, seen)
        return first_total + second_total, first_unkeyed + second_unkeyed

    def _page_through(self, start: int, end: int, kept: _Kept[T], unkeyed: list[RejectedRecord],
                      seen: SeenVersions | None, first: Page | None = None) -> tuple[int, bool]:
        """Page 0 until the end; returns the first page's total and whether entries moved meanwhile."""
        total: int | None = None
        moved = False
        page = 0
        while True:
            answer = first if first is not None and page == 0 else self._fetch(start, end, page)
            if total is None:
                total = answer.total
                if total > PAGING_DEPTH:
                    return total, False
            moved = moved or answer.total != total
            for i, item in enumerate(answer.items):
                moved = self._take(kept, unkeyed, item, f"page {page} item {i}", seen) or moved
            page += 1
            more = answer.has_more if answer.has_more is not None else page * PAGE_SIZE < answer.total
            if not more or not answer.items:
                return total, moved
            if page >= MAX_PAGES:
                raise ProtocolError(f"douyin {self._api}: paging did not end after {MAX_PAGES} pages")

    def _take(self, kept: _Kept[T], unkeyed: list[RejectedRecord], item: Any, where: str,
              seen: SeenVersions | None) -> bool:
        """Keep the newest version of each entry; True when it was already there (it moved)."""
        value: T | RejectedRecord | _Unchanged
        if (seen is not None and self._peek is not None and (peeked := self._peek(item)) is not None
                and seen.unchanged(*peeked, item)):
            (key, stamp), value = peeked, _UNCHANGED
        else:
            got = self._read(item, where)
            if got.key is None:
                if isinstance(got.value, RejectedRecord):
                    unkeyed.append(got.value)
                return False
            key, stamp, value = got.key, got.stamp, got.value
        old = kept.entries.get(key)
        if old is None or stamp >= old[0]:
            kept.entries[key] = (stamp, value)
        return old is not None


def page_of(data: dict[str, Any], api: str, page: int, items_key: str, *, has_more: bool = False) -> Page:
    """Check one answer's ``total`` and entry list (and ``has_more`` when the API has it)."""
    total = data.get("total")
    total = whole(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ProtocolError(f"douyin {api}: page {page} has no usable total")
    items = data.get(items_key) or []
    if not isinstance(items, list):
        raise ProtocolError(f"douyin {api}: page {page} {items_key} is not a list")
    more: bool | None = None
    if has_more:
        raw = data.get("has_more")
        more = raw if isinstance(raw, bool) else None  # absent or odd: fall back on total
    return Page(total=total, items=items, has_more=more)
