"""A table read from a platform and kept for some hours (its carrier list): read once, however many calls ask.

A shop's uploads go a few at once (syncd.inflight); unguarded, each of the first ones found the table missing and
asked the platform for it (four ``order.logisticsCompanyList`` calls where one does). The read happens under a lock,
so the calls that come meanwhile wait for it and share its answer; a failed read leaves the old table (or none)
and the next call tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from syncd import clock

V = TypeVar("V")


class KeptTable(Generic[V]):
    """``load()``'s answer, kept ``hours`` (asked each time: the configuration's value), read once at a time."""

    def __init__(self, load: Callable[[], dict[str, V]], hours: Callable[[], float]) -> None:
        self._load = load
        self._hours = hours
        self._lock = threading.Lock()
        self._table: dict[str, V] | None = None
        self._at: datetime | None = None

    def get(self) -> dict[str, V]:
        with self._lock:
            now = clock.now()
            if self._table is None or self._at is None or now - self._at >= timedelta(hours=self._hours()):
                self._table = self._load()
                self._at = now
            return self._table
