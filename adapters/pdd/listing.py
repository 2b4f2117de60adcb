"""Windows and paging of Pinduoduo's incremental lists: reference/storefronts.md §2.4, §4.1.

Both ``pdd.order.number.list.increment.get`` and ``pdd.refund.list.increment.get`` take a window of at
most 30 minutes and pages of at most 100 from page 1. The platform warns that paging forward by update
time loses orders: an order updated while we page leaves its place, and every order behind it slides one
place forward, across a page boundary already read.

Our choice (``paging: backward``, the default): read page 1 to learn ``total_count``, then the LAST page
first and back to page 1 (page 1 once more). Updates that take an order out of the window (its new time is
after the window's end: the core lists up to now − lag) only shift orders towards pages not read yet, so
nothing is lost, only read twice and deduplicated. An order updated INTO the window meanwhile changes
``total_count``: then the whole window is read once more. A window of one page costs one call.

``paging: has_next`` pages forward with ``use_has_next=true`` while ``has_next`` (no total; faster, but
may miss an order that moved; the overlap of the next window and the daily sweep re-read it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from syncd.adapters.common.fields import whole
from syncd.errors import ProtocolError

log = logging.getLogger("syncd.adapters.pdd")

PAGE_SIZE = 100  # the most either API gives
MAX_WINDOW_SECONDS = 30 * 60
MAX_PAGES = 1000  # 100,000 changes in 30 minutes: far beyond a dropshipping shop; a guard, not a limit
PASSES = 2  # a window whose total changed while paging is read once more, then accepted

Fetch = Callable[[int, int, bool], dict[str, Any]]  # (page, page_size, use_has_next) → the *_response object
Item = tuple[str, Any]  # (position for messages, raw item)


def sub_windows(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end]`` (Unix seconds, both ends included) cut into spans of at most 30 minutes that share
    no second, so a count over them counts each order once."""
    out: list[tuple[int, int]] = []
    at = start
    while at <= end:
        stop = min(at + MAX_WINDOW_SECONDS, end)
        out.append((at, stop))
        at = stop + 1
    return out


def read_backward(fetch: Fetch, items_key: str, what: str) -> tuple[list[Item], int]:
    """Every item of one window, last page first (see the module docstring); returns (items, total_count)."""
    items: list[Item] = []
    total = 0
    for attempt in range(1, PASSES + 1):
        first = fetch(1, PAGE_SIZE, False)
        total = _total(first, what, 1)
        items += _items(first, items_key, what, 1)
        pages = math.ceil(total / PAGE_SIZE)
        if pages > MAX_PAGES:
            raise ProtocolError(f"{what}: {total} entries in one window exceed {MAX_PAGES} pages")
        if pages <= 1:
            return items, total
        moved = False
        for page in range(pages, 0, -1):
            data = fetch(page, PAGE_SIZE, False)
            moved = moved or _total(data, what, page) != total
            items += _items(data, items_key, what, page)
        if not moved:
            return items, total
        log.info("%s: entries entered or left the window while paging (pass %d); reading it again", what, attempt)
    return items, total


def read_has_next(fetch: Fetch, items_key: str, what: str) -> list[Item]:
    """Every item of one window, forward with ``use_has_next`` while ``has_next``."""
    items: list[Item] = []
    for page in range(1, MAX_PAGES + 1):
        data = fetch(page, PAGE_SIZE, True)
        got = _items(data, items_key, what, page)
        items += got
        has_next = data.get("has_next")
        if not isinstance(has_next, bool):
            raise ProtocolError(f"{what}: page {page} has no boolean has_next")
        if not has_next or not got:
            return items
    raise ProtocolError(f"{what}: paging did not end after {MAX_PAGES} pages")


def _total(data: dict[str, Any], what: str, page: int) -> int:
    total = data.get("total_count")
    total = whole(total)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ProtocolError(f"{what}: page {page} has no usable total_count")
    return total


def _items(data: dict[str, Any], key: str, what: str, page: int) -> list[Item]:
    got = data.get(key)
    if got is None:
        return []
    if not isinstance(got, list):
        raise ProtocolError(f"{what}: page {page} {key} is not a list")
    return [(f"page {page} item {i}", item) for i, item in enumerate(got)]
