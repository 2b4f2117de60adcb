"""Refusing a replayed push inside its timestamp window (1688 messages, webhook stock pushes).

A push outside the window is refused as stale by its sender's check; inside the window the same message
(same id, or same signature) must be taken once. The memory lasts one window, so it stays small; a restart
forgets it, which is why stock pushes also carry the time their figures were true (an older figure than the
one stored never wins).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_REMEMBERED = 100_000  # ids kept at most (a flood of genuine, distinct pushes pushes the oldest out)


class ReplayGuard:
    """Ids seen in the last window; thread-safe (the callback listener serves requests on several threads)."""

    def __init__(self, max_remembered: int = MAX_REMEMBERED) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when it may be forgotten (epoch seconds)
        self._max = max_remembered
        self._lock = threading.Lock()

    def first_time(self, key: str, now: float, window: float) -> bool:
        """True the first time ``key`` is offered within ``window`` seconds (it is remembered from then on);
        False for a replay."""
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until > now:
                    break
                del self._seen[oldest]
            known = self._seen.get(key)
            if known is not None and known > now:
                return False
            self._seen[key] = now + 2 * window  # a message may be stamped up to one window in the future
            self._seen.move_to_end(key)
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._seen)


__all__ = ["MAX_REMEMBERED", "ReplayGuard"]
