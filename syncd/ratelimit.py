"""Rate budgets per (platform, API, shop): token buckets that make the caller wait, bounded.

Adapters call :meth:`RateLimiter.acquire` before every request with the budget of that API for that
shop (the platform's published limit, or the shop's ``rate_limits`` override), so the platform never has
to refuse with a flow-control error. When it refuses all the same (a ban for some seconds), the adapter
:meth:`pauses <RateLimiter.pause>` that scope: calls under it fail at once until the ban is over, so a stage
leaves that supplier for a later run instead of sleeping through the ban.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncd.errors import RateLimitedError

# A retry-after longer than this is a ban: the scope is paused and the stage moves on to other work, instead of
# waiting it out in place (shorter waits, a 5xx blip, are retried in place by syncd.retry).
BAN_SECONDS = 2.0


KEPT_TIMES = 20_000  # call times kept per key (and per API in syncd.http.CallStats), for the peak rate


def peak_per_second(times: Sequence[float], window: float = 10.0) -> float:
    """The most calls per second over any ``window`` seconds of the sorted call ``times``: what a budget reached
    while saturated."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best / window


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float


class RateLimiter:
    """Thread-safe token buckets keyed by ``platform:shop:api``."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 max_wait: float = 60.0) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._paused: dict[str, float] = {}  # key prefix → clock reading when calls may resume
        self.max_wait = max_wait
        self.waited = 0.0  # seconds spent waiting, for metrics and the benchmark
        # per key, when its calls were let through (the last KEPT_TIMES): the budget use the benchmark reports
        self._times: dict[str, deque[float]] = {}

    def _reserve(self, key: str, rate: float, burst: float | None) -> float:
        """Take one token (possibly going into debt); return how long the caller must wait for it."""
        now = self._clock()
        # No burst unless asked: a platform counting per second refuses a full bucket spent at once.
        capacity = max(1.0, burst if burst is not None else 1.0)
        with self._lock:
            b = self._buckets.get(key)
            if b is None or b.rate != rate or b.capacity != capacity:
                b = self._buckets[key] = _Bucket(rate, capacity, capacity, now)
            b.tokens = min(b.capacity, b.tokens + (now - b.stamp) * b.rate)
            b.stamp = now
            b.tokens -= 1.0
            wait = 0.0 if b.tokens >= 0 else -b.tokens / b.rate
            self._times.setdefault(key, deque(maxlen=KEPT_TIMES)).append(now + wait)
            return wait

    def rates(self) -> dict[str, float]:
        """The budget (calls per second) of every key used so far."""
        with self._lock:
            return {k: b.rate for k, b in self._buckets.items()}

    def use(self, window: float = 10.0) -> dict[str, tuple[int, float, float]]:
        """Per key used so far: (calls let through, the budget per second, the peak calls per second over any
        ``window`` seconds) — how much of its budget a scope used while it had work waiting."""
        with self._lock:
            got = {k: (list(self._times.get(k, ())), b.rate) for k, b in self._buckets.items()}
        return {k: (len(times), rate, peak_per_second(times, window)) for k, (times, rate) in got.items()}

    def call_times(self) -> dict[str, tuple[float, list[float]]]:
        """Per key used so far: its budget per second and when its calls were let through (the last KEPT_TIMES,
        on this limiter's clock) — for the benchmark's budget use while work waited."""
        with self._lock:
            return {k: (b.rate, list(self._times.get(k, ()))) for k, b in self._buckets.items()}

    def pause(self, scope: str, seconds: float) -> None:
        """No call under keys starting with ``scope`` for ``seconds`` (a flow-control ban the platform gave)."""
        until = self._clock() + max(0.0, seconds)
        with self._lock:
            self._paused[scope] = max(until, self._paused.get(scope, 0.0))

    def pause_if_ban(self, scope: str, err: RateLimitedError) -> bool:
        """Pause ``scope`` for ``err``'s retry-after when that is a ban (longer than BAN_SECONDS); True if so."""
        if err.retry_after is None or err.retry_after <= BAN_SECONDS:
            return False
        self.pause(scope, err.retry_after)
        return True

    def paused_for(self, key: str) -> float:
        """Seconds until calls under ``key`` may resume (0: not paused)."""
        now = self._clock()
        with self._lock:
            for scope, until in list(self._paused.items()):
                if until <= now:
                    del self._paused[scope]
            return max((until - now for scope, until in self._paused.items() if key.startswith(scope)), default=0.0)

    def refuse_if_paused(self, key: str) -> None:
        """RateLimitedError (with the seconds left) while ``key`` is paused."""
        paused = self.paused_for(key) if self._paused else 0.0
        if paused > 0:
            raise RateLimitedError(f"{key}: flow-control pause, calls resume in {paused:.0f} s", retry_after=paused)

    def acquire(self, key: str, per_second: float, burst: float | None = None) -> None:
        """Wait until a call under ``key`` fits its budget; RateLimitedError if that is longer than max_wait, or
        at once while its scope is paused."""
        self.refuse_if_paused(key)
        wait = self._reserve(key, per_second, burst)
        if wait > self.max_wait:
            with self._lock:
                self._buckets[key].tokens += 1.0  # give the token back: this call is not made
            raise RateLimitedError(f"rate budget {key}: next call in {wait:.0f} s", retry_after=wait)
        if wait > 0:
            self.waited += wait
            self._sleep(wait)
