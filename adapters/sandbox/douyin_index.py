"""An index of the Douyin simulator's entries by update time, so a listing page costs O(log N + page).

``order.searchList`` and ``afterSale.List`` filter on an update-time window and page through it; the
simulator used to scan every entry for every page, so the sandbox slowed down as it grew (a 100,000
order bench lasted 20 minutes, and the daemon's polling cost grew with that wall time). The index keeps
``(time, key)`` pairs in one sorted list. Whoever changes an entry's time calls :meth:`TimeIndex.put`
(the order and after-sale books do it in the few places that stamp a time); a key whose time is not a
plain number is set aside in :attr:`TimeIndex.odd` and the caller falls back to a full scan.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from operator import itemgetter
from typing import Any

_TIME = itemgetter(0)


def orderable(value: Any) -> bool:
    """A time the index can hold: an int or a float that is not NaN (bool counts, as it compares as int)."""
    return isinstance(value, int | float) and value == value


class TimeIndex:
    """Keys sorted by ``(time, key)``; each key at most once, at the time last put."""

    def __init__(self) -> None:
        self._entries: list[tuple[int | float, str]] = []
        self._at: dict[str, int | float] = {}
        self.odd: set[str] = set()  # keys whose time cannot be ordered: callers scan instead

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, time: Any) -> None:
        """Record ``key`` at ``time`` (moving it if it was elsewhere)."""
        old = self._at.get(key)
        if old is not None:
            if old == time and type(old) is type(time):
                return
            del self._entries[bisect_left(self._entries, (old, key))]
            del self._at[key]
        if orderable(time):
            self.odd.discard(key)
            insort(self._entries, (time, key))
            self._at[key] = time
        else:
            self.odd.add(key)

    def span(self, start: float | None, end: float | None) -> range:
        """Positions of the keys with ``start <= time <= end`` (an open end when None), oldest first."""
        lo = 0 if start is None else bisect_left(self._entries, start, key=_TIME)
        hi = len(self._entries) if end is None else bisect_right(self._entries, end, key=_TIME)
        return range(lo, max(lo, hi))

    def key_at(self, position: int) -> str:
        """The key at one position of :meth:`span`."""
        return self._entries[position][1]

    def keys(self, positions: range) -> list[str]:
        """The keys at these positions, in the range's order."""
        entries = self._entries
        return [entries[i][1] for i in positions]

    def check(self) -> None:
        """Raise AssertionError if the list is unsorted or disagrees with the per-key times (for tests)."""
        if self._entries != sorted(self._entries):
            raise AssertionError("time index out of order")
        if {k: t for t, k in self._entries} != self._at or len(self._at) != len(self._entries):
            raise AssertionError("time index disagrees with its per-key times")
