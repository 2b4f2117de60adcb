"""Reading one TOP time-window listing to its end without losing what moves: reference §3.4 and §4.1.

Used for ``taobao.trades.sold.increment.get`` and ``taobao.refunds.receive.get``; both take
``start_modified`` / ``end_modified`` (Asia/Shanghai text), ``page_no`` from 1, ``page_size`` ≤ 100.

How a window is read, and why:

1. The first page is asked with ``use_has_next=true`` (no total, about 80 % cheaper for the platform) —
   unless the pull counted the window just before: that count is the first page asked with its total
   (:meth:`WindowReader.count`), kept and used here, so counting costs no call of its own. A window that
   fits in one page is read in one go: nothing can move between two pages of it.
2. When ``has_next`` (or the count) says there is more, paging forward would lose trades: results are sorted
   by ``modified`` descending, and a trade modified while we page leaves the window (its new ``modified``
   is past the end) and shifts every later trade one place forward, onto a page already read. TOP's
   advice is to page backwards. So the total is asked (``use_has_next=false``, ``page_size=1``; known
   already after a count) and the pages are read from the last to the first, page 1 again at the end: a
   shift then only moves trades onto pages not read yet. After a count, page 1 is asked again only when a
   page's total differs from the count's: while the total holds, no trade left the window or arrived in it
   since the count, and the count's page 1 is still the window's page 1 (saving a call per window).
   A trade that left the window shows up in a later window; the caller keeps the newest copy of each.
3. Paging backwards is safe against trades leaving the window, not against trades moving inside it
   (a window reaching into the present) or arriving late: those shift trades onto pages already read.
   Either shows: the moved trade is met twice in one pass *with another ``modified``*, or a page counts
   more than the total did. Then the window is read again, at most :data:`MAX_PASSES` times. A trade met
   twice with the same ``modified`` only slid onto the next page because another trade left the window
   (each trade we ship does, stamped by the ship call): nothing was lost, the window is not read again.
   A window ends at least the pull's lag before the read starts, so a trade moves inside it only when
   stamped late, and the pull reads every stretch once more when it has settled.
4. A window deeper than :data:`MAX_PAGES` pages is split in halves (bounded: one second is the floor).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.common.fields import whole
from syncd.adapters.taobao.mapping import items
from syncd.errors import ProtocolError

log = logging.getLogger("syncd.adapters.taobao")

PAGE_SIZE = 100  # the most TOP gives per page
MAX_PAGES = 500  # pages one window may take before it is split
MAX_PASSES = 3  # backward passes over one window while its trades keep moving
DAY = timedelta(days=1)  # the longest window TOP accepts

Caller = Callable[[str, Mapping[str, Any]], dict[str, Any]]
KeyOf = Callable[[Any], str | None]
Item = tuple[str, Any]  # (where it was found, the raw item)


def spans(start: datetime, end: datetime, longest: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive windows of at most ``longest``."""
    at = start
    while at < end:
        nxt = min(at + longest, end)
        yield at, nxt
        at = nxt


class WindowReader:
    """Every item of one listing API over a time window, paged as described in the module doc."""

    def __init__(self, call: Caller, method: str, list_key: str, item_key: str, fields: str,
                 count_field: str, key_of: KeyOf) -> None:
        self._call = call
        self._key_of = key_of
        self.method = method
        self._list_key = list_key
        self._item_key = item_key
        self._fields = fields
        self._count_field = count_field
        self._first: tuple[tuple[datetime, datetime], dict[str, Any]] | None = None  # the last count's first page

    def read(self, start: datetime, end: datetime) -> tuple[list[Item], int]:
        """Items of ``[start, end]`` (some possibly twice) and the platform's count of them."""
        base = self._base(start, end)
        kept, self._first = self._first, None
        counted: int | None = None
        if kept is not None and kept[0] == (start, end):
            first = kept[1]  # read, with its total, by the count just before
            counted = self._counted(first)
        else:
            first = self._call(self.method, {**base, "page_no": 1, "page_size": PAGE_SIZE, "use_has_next": True})
        found = self._items(first, start, 1)
        if counted is None and not _flag(first.get("has_next")):
            return found, len(found)  # one page read in one go: nothing could move
        if counted is not None and counted <= PAGE_SIZE:
            return found, counted
        for attempt in range(MAX_PASSES):
            total = counted if counted is not None and attempt == 0 else self._total(start, end)
            pages = math.ceil(total / PAGE_SIZE)
            if pages > MAX_PAGES:
                return self._split(start, end, total)
            log.debug("taobao %s %s..%s: %d items over %d pages; paging backwards", self.method,
                      base["start_modified"], base["end_modified"], total, pages)
            # after a count its page 1 is in ``found`` already, with the total this pass pages by
            moved = self._backwards(base, start, pages, total, found,
                                    first if attempt == 0 and counted is not None else None)
            if not moved:
                return found, total
            log.info("taobao %s %s..%s: items moved while paging; reading the window again", self.method,
                     base["start_modified"], base["end_modified"])
        log.warning("taobao %s %s..%s: items kept moving over %d passes; the next run's overlap reads them again",
                    self.method, base["start_modified"], base["end_modified"], MAX_PASSES)
        return found, total

    def _backwards(self, base: dict[str, Any], start: datetime, pages: int, total: int, found: list[Item],
                   first: dict[str, Any] | None = None) -> bool:
        """Pages ``pages``..1 into ``found``; True when something moved meanwhile (see the module doc). With
        ``first`` (page 1 as the count read it, already in ``found``), page 1 is asked again only when a page's
        total differs from ``total``."""
        seen: dict[str, Any] = {}  # key → its modified as met in this pass
        moved = changed = False
        for page in range(pages, 0, -1):
            if page == 1 and first is not None and not changed:
                data = first  # nothing left or arrived since the count: its page 1 still holds
            else:
                data = self._call(self.method, {**base, "page_no": page, "page_size": PAGE_SIZE,
                                                "use_has_next": False})
            counted = data.get("total_results")
            if isinstance(counted, int) and not isinstance(counted, bool):
                moved = moved or counted > total  # arrived late: trades shifted onto pages already read
                changed = changed or counted != total
            for where, item in self._items(data, start, page):
                key = self._key_of(item)
                stamp = item.get("modified") if isinstance(item, dict) else None
                if key is not None and key in seen:
                    # met again in another version: it moved inside the window, shifting others onto read pages;
                    # met on page 1 as counted and on a later page: it slid back, so something came in meanwhile
                    moved = moved or seen[key] != stamp or data is first
                if key is not None:
                    seen[key] = stamp
                if data is not first:
                    found.append((where, item))
        return moved

    def count(self, start: datetime, end: datetime) -> int:
        """The platform's count of items in ``[start, end]``: one call for the window's first page, kept for a
        :meth:`read` of the same window that follows, so the count costs no call of its own."""
        first = self._call(self.method, {**self._base(start, end), "page_no": 1, "page_size": PAGE_SIZE,
                                         "use_has_next": False})
        self._first = ((start, end), first)
        return self._counted(first)

    def _total(self, start: datetime, end: datetime) -> int:
        return self._counted(self._call(self.method, {**self._base(start, end), "fields": self._count_field,
                                                      "page_no": 1, "page_size": 1, "use_has_next": False}))

    def _counted(self, data: dict[str, Any]) -> int:
        total = data.get("total_results", 0 if not data.get(self._list_key) else None)
        total = whole(total)
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise ProtocolError(f"taobao {self.method}: answer has no usable total_results")
        return total

    def _split(self, start: datetime, end: datetime, total: int) -> tuple[list[Item], int]:
        if end - start <= timedelta(seconds=1):
            raise ProtocolError(f"taobao {self.method}: {total} items in one second exceed {MAX_PAGES} pages")
        mid = start + (end - start) / 2
        log.info("taobao %s: %d items in one window; splitting it", self.method, total)
        left, left_total = self.read(start, mid)
        right, right_total = self.read(mid, end)
        return left + right, left_total + right_total

    def _base(self, start: datetime, end: datetime) -> dict[str, Any]:
        return {"start_modified": clock.shanghai_text(start), "end_modified": clock.shanghai_text(end),
                "fields": self._fields}

    def _items(self, data: dict[str, Any], start: datetime, page: int) -> list[Item]:
        where = f"{self.method} window {clock.shanghai_text(start)} page {page}"
        return [(f"{where} item {i}", item)
                for i, item in enumerate(items(data.get(self._list_key), self._item_key, where))]


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
