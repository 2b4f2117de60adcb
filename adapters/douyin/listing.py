"""Reading one time window to exhaustion: ``order.searchList`` and ``afterSale.List`` (reference §1.4).

Both APIs page from 0 with at most 100 entries a page and at most 50,000 entries a window
(20013); beyond that the window is split in two. Either sorts by ``update_time`` both ways.

Paging forward loses entries: an entry updated while we page (an order we ship is stamped by the ship call)
leaves the window, and every entry after it slides one place forward, onto a page already read. So a window
is paged *backwards*, newest first, from its deepest page to page 0, as TOP advises for Taobao: an entry
leaving then only slides entries from pages read onto pages not read yet. Two ways in:

- From the window's page 0 newest first (it gives the total; the usual first call): pages ``last``..1, then
  page 0 again only when a page's total differed from it (an entry left or came meanwhile); while the total
  holds, page 0 as first read is still page 0.
- From the window's page 0 *oldest* first (a stepping read's call that found the window small enough to hold,
  see :meth:`WindowReader.read_step`): it holds every entry stamped before its last second, so the newest-first
  pages need only reach down to the rest: pages ``deepest``..0, page 0 read last.

What paging backwards does not survive shows, and the window is read again (at most :data:`MAX_PASSES`
times): an entry met twice in one pass in two versions (it moved inside the window: stamped late, as a
window ends before its read starts), a page counting more than the total did (an entry arrived late), or an
entry of page 0 as first read met again on a deeper page (something arrived and slid it back). An entry met
twice in the same version only slid forward because another left: nothing was lost. Each entry is kept
once, in its newest version.
"""

from __future__ import annotations

import logging
import math
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
MAX_PASSES = 3  # backward passes over one window while its entries keep moving
# A stepping read (WindowReader.read_step) pages a window of at most this many entries whole; a busier one is read
# a first page at a time. What a window holds until it commits is one mapped order per entry (the raw pages are
# dropped as they are read; an entry stored before in this version is only counted). Paging a window whole
# (backwards) costs one call a page, its first call serving as the deepest page; stepping re-reads the entries of
# each page's last second, which costs calls in a burst of many a second.
PAGED_WHOLE = 1000
# A window too big to hold whose newest page spans fewer seconds than this is bursty (hundreds of orders written
# back in one second): stepping would pay a call for each burst second before paging it, so the window is narrowed
# instead, by the totals, to a first part of about NARROWED x PAGED_WHOLE entries (at most MAX_NARROWING calls).
BURSTY = 50
NARROWED = 0.8
MAX_NARROWING = 3


@dataclass(frozen=True, slots=True)
class Page:
    """One answer page: the platform's total and its entries (a backward read pages by the total; afterSale.List's
    ``has_more`` adds nothing to it)."""

    total: int
    items: list[Any]


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


Fetch = Callable[[int, int, int, bool], Page]  # (window start, window end, page, newest first) → one page
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
        self._stepping: tuple[int, int] | None = None  # a busy window a step left more than PAGED_WHOLE of

    def read_window(self, start: int, end: int, seen: SeenVersions | None = None,
                    oldest: Page | None = None, head: Page | None = None) -> Harvest[T]:
        """Every entry updated in ``[start, end]`` (Unix seconds), each once, the newest version. With ``seen``
        (and a ``peek``), an entry the core already stored in this version is counted, not read. ``oldest`` /
        ``head``: the window's page 0 oldest / newest first, already asked (see the module doc)."""
        kept: _Kept[T] = _Kept()
        total, unkeyed = self._window(start, end, kept, seen, oldest, head)
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

    def read_step(self, start: int, end: int, seen: SeenVersions | None = None) -> tuple[Harvest[T], int]:
        """One page's worth of ``[start, end]``: returns what it holds and how far it reached — ``end`` when it
        read the window whole, else the second ``last`` before which it read everything (a window going on
        from ``last``, inclusive, reads the rest).

        A window of at most :data:`PAGED_WHOLE` entries is paged whole, backwards from its page 0 newest first
        (module doc), the first call giving the total. A busier one is stepped: entries come sorted by
        ``update_time`` ascending, so every entry stamped before the last one of the first page oldest first is on
        that page: one call reads ``[start, last)`` whole and atomically (no later page for an entry to slide
        past), at most a page's entries held. A first page all in one second is paged whole up to that second.
        While a step leaves more than :data:`PAGED_WHOLE` to read, the next call of the same window steps at once;
        else it starts newest first again (a busy window costs one call of the other order, once). A busy window
        whose newest page spans under :data:`BURSTY` seconds is narrowed by the totals instead (:meth:`_narrowed`):
        stepping through bursts pays a call for each burst second before paging it."""
        oldest: Page | None = None
        if self._stepping != (start, end):
            head = self._fetch(start, end, 0, True)
            if head.total <= PAGED_WHOLE or not head.items:  # small enough to hold: paged whole, no page lost
                self._stepping = None
                return self.read_window(start, end, seen, head=head), end
            if len({int(self._stamp(item)) for item in head.items}) < BURSTY:
                narrowed = self._narrowed(start, end, head.total, seen)
                if narrowed is not None:
                    return narrowed
        self._stepping = None
        oldest = self._fetch(start, end, 0, False)
        if oldest.total <= PAGED_WHOLE or not oldest.items:  # it shrank meanwhile
            return self.read_window(start, end, seen, oldest=oldest), end
        stamps = [self._stamp(item) for item in oldest.items]
        last = max(stamps)
        if min(stamps) >= last:  # a full page in one second: that second is paged whole
            harvest = self.read_window(start, int(last), seen)
            reached = int(last) + 1
        else:
            kept: _Kept[T] = _Kept()
            unkeyed: list[RejectedRecord] = []
            for i, (item, stamp) in enumerate(zip(oldest.items, stamps, strict=True)):
                if stamp < last:  # entries of the last second may go on past this page: the next step reads them
                    self._take(kept, unkeyed, item, f"page 0 item {i}", seen)
            harvest = self._harvest(kept, unkeyed, 0)
            harvest.total = len(harvest.values) + len(harvest.rejects) + harvest.unchanged
            reached = int(last)
        if oldest.total - harvest.total > PAGED_WHOLE:
            self._stepping = (reached, end)
        return harvest, reached

    def _narrowed(self, start: int, end: int, total: int, seen: SeenVersions | None) -> tuple[Harvest[T], int] | None:
        """A bursty window too big to hold: its first part, narrowed by the totals to what it holds, paged whole
        (the narrowing's last call is that part's page 0); None when no part of a second or more would do."""
        for _probe in range(MAX_NARROWING):
            until = start + int((end - start) * NARROWED * PAGED_WHOLE / total)
            if until <= start:
                return None
            head = self._fetch(start, until, 0, True)
            if head.total <= PAGED_WHOLE:
                return self.read_window(start, until, seen, head=head), until + 1
            end, total = until, head.total
        return None

    def _stamp(self, item: Any) -> float:
        peeked = self._peek(item) if self._peek is not None else None
        return peeked[1] if peeked is not None else self._read(item, "").stamp

    def _window(self, start: int, end: int, kept: _Kept[T], seen: SeenVersions | None,
                oldest: Page | None = None, head: Page | None = None) -> tuple[int, list[RejectedRecord]]:
        unkeyed: list[RejectedRecord] = []
        total = 0
        for attempt in range(MAX_PASSES):
            given = oldest if attempt == 0 else None
            first = given or (head if attempt == 0 else None) or self._fetch(start, end, 0, True)
            total = first.total
            if total > PAGING_DEPTH:
                return self._split(start, end, total, kept, seen)
            unkeyed = []
            moved = (self._after_oldest(start, end, first, kept, unkeyed, seen) if given is not None
                     else self._backwards(start, end, first, kept, unkeyed, seen))
            if not moved:
                return total, unkeyed
            log.info("douyin shop %s: %s entries moved while paging; reading the window again",
                     self._shop, self._api)
        log.warning("douyin shop %s: %s entries kept moving over %d passes; the window is read again once it has "
                    "settled", self._shop, self._api, MAX_PASSES)
        return total, unkeyed

    def _backwards(self, start: int, end: int, head: Page, kept: _Kept[T], unkeyed: list[RejectedRecord],
                   seen: SeenVersions | None) -> bool:
        """From page 0 newest first (``head``): pages last..1, then page 0 again only if a total changed; True
        when entries moved meanwhile."""
        total = head.total
        met: dict[str, float] = {}
        moved = changed = False
        for page in range(math.ceil(total / PAGE_SIZE) - 1, 0, -1):
            answer = self._fetch(start, end, page, True)
            moved = moved or answer.total > total
            changed = changed or answer.total != total
            moved = self._take_page(answer, page, kept, unkeyed, seen, met) or moved
        if changed:
            head = self._fetch(start, end, 0, True)
            moved = moved or head.total > total
            return self._take_page(head, 0, kept, unkeyed, seen, met) or moved
        return self._take_page(head, 0, kept, unkeyed, seen, met, stale=True) or moved

    def _after_oldest(self, start: int, end: int, oldest: Page, kept: _Kept[T], unkeyed: list[RejectedRecord],
                      seen: SeenVersions | None) -> bool:
        """From page 0 oldest first: it holds every entry stamped before its last second, so the newest-first
        pages need reach down only to the rest; True when entries moved meanwhile."""
        total = oldest.total
        met: dict[str, float] = {}
        moved = self._take_page(oldest, -1, kept, unkeyed, seen, met)
        if total <= len(oldest.items):
            return moved
        stamps = [self._stamp(item) for item in oldest.items]
        last = max(stamps)
        older = sum(1 for stamp in stamps if 0 <= stamp < last)  # surely before the rest, whatever the tie order
        for page in range(math.ceil((total - older) / PAGE_SIZE) - 1, -1, -1):
            answer = self._fetch(start, end, page, True)
            moved = moved or answer.total > total
            moved = self._take_page(answer, page, kept, unkeyed, seen, met) or moved
        return moved

    def _take_page(self, answer: Page, page: int, kept: _Kept[T], unkeyed: list[RejectedRecord],
                   seen: SeenVersions | None, met: dict[str, float], *, stale: bool = False) -> bool:
        """Keep a page's entries; True when one shows entries moved: met before in another version, or (``stale``:
        page 0 as read before the deeper pages) met at all on a deeper page."""
        moved = False
        where = "oldest-first page 0" if page < 0 else f"page {page}"
        for i, item in enumerate(answer.items):
            got = self._take(kept, unkeyed, item, f"{where} item {i}", seen)
            if got is None:
                continue
            key, stamp = got
            if key in met and (stale or met[key] != stamp):
                moved = True
            met[key] = stamp
        return moved

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

    def _take(self, kept: _Kept[T], unkeyed: list[RejectedRecord], item: Any, where: str,
              seen: SeenVersions | None) -> tuple[str, float] | None:
        """Keep the newest version of each entry; its key and update time (None when it has no key)."""
        value: T | RejectedRecord | _Unchanged
        if (seen is not None and self._peek is not None and (peeked := self._peek(item)) is not None
                and seen.unchanged(*peeked, item)):
            (key, stamp), value = peeked, _UNCHANGED
        else:
            got = self._read(item, where)
            if got.key is None:
                if isinstance(got.value, RejectedRecord):
                    unkeyed.append(got.value)
                return None
            key, stamp, value = got.key, got.stamp, got.value
        old = kept.entries.get(key)
        if old is None or stamp >= old[0]:
            kept.entries[key] = (stamp, value)
        return key, stamp


def page_of(data: dict[str, Any], api: str, page: int, items_key: str) -> Page:
    """Check one answer's ``total`` and entry list."""
    total = data.get("total")
    total = whole(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ProtocolError(f"douyin {api}: page {page} has no usable total")
    items = data.get(items_key) or []
    if not isinstance(items, list):
        raise ProtocolError(f"douyin {api}: page {page} {items_key} is not a list")
    return Page(total=total, items=items)
