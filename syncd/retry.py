"""One retry policy: bounded in attempts and time, only TransientError, honouring retry-after."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.stop import stop_any, stop_base
from tenacity.wait import wait_exponential_jitter

from syncd.config.models import RetrySettings
from syncd.errors import TransientError

T = TypeVar("T")
log = logging.getLogger("syncd.retry")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    max_seconds: float = 30.0
    initial_wait: float = 0.5
    max_wait: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    # The daemon's stop event: a wait between attempts ends when it is set, and no attempt follows (SIGTERM
    # must not wait out a back-off: the step in flight ends and the work stays for the next start).
    stopping: threading.Event | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, s: RetrySettings, stopping: threading.Event | None = None) -> RetryPolicy:
        def sleep(seconds: float) -> None:
            if stopping is None:
                time.sleep(seconds)
            else:
                stopping.wait(seconds)

        return cls(attempts=s.attempts, max_seconds=s.max_seconds, initial_wait=s.initial_wait, max_wait=s.max_wait,
                   sleep=sleep, stopping=stopping)


class _StopOnLongRetryAfter(stop_base):
    """A ban longer than we are willing to wait ends this try; the next scheduled run picks it up."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        ra = getattr(exc, "retry_after", None)
        return ra is not None and ra > self.limit


class _StopWhenStopping(stop_base):
    def __init__(self, event: threading.Event | None) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.event is not None and self.event.is_set()


def call(policy: RetryPolicy, fn: Callable[[], T], *, what: str, longest_wait: float | None = None) -> T:
    """Run ``fn``, retrying TransientError with exponential backoff + jitter; re-raise the last error.

    ``longest_wait``: a retry-after longer than this is not waited out here but raised at once (a supplier's
    flow-control ban: the stage leaves that supplier for a later run instead of sleeping through the ban
    while other suppliers' work waits behind it)."""
    # Most calls succeed at once: the first attempt runs before any retry machinery is built (a tenacity
    # Retrying and its stop, wait and retry objects cost about a tenth of a fast local HTTP call). A
    # transient failure is then handed to tenacity as its own first attempt, so attempts, waits, the time
    # budget and the log lines are exactly those of a call retried from the start.
    started = time.monotonic()
    first: TransientError | None = None
    try:
        return fn()
    except TransientError as err:
        first = err

    def attempt() -> T:
        nonlocal first
        if first is not None:
            err, first = first, None
            raise err
        return fn()

    spent = time.monotonic() - started
    # multiplier (not the deprecated initial=) scales 1, 2, 4... to initial_wait, 2×initial_wait...
    backoff = wait_exponential_jitter(multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait)

    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        ra = getattr(exc, "retry_after", None) or 0.0
        return max(float(ra), backoff(rs) if policy.max_wait > 0 else 0.0)

    # Each attempt is DEBUG: a storm of them would drown the log. The edges are logged by whoever sees the
    # outcome: an error that survives every attempt is re-raised, and the stage's scope logs it once when the
    # scope starts failing and once when it recovers (syncd/stages/runner.py).
    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        log.debug("%s: attempt %d failed (%s); retrying", what, rs.attempt_number, exc)

    retrying = Retrying(
        stop=stop_any(stop_after_attempt(policy.attempts), stop_after_delay(max(0.0, policy.max_seconds - spent)),
                      _StopOnLongRetryAfter(max(policy.max_wait, policy.max_seconds) if longest_wait is None
                                            else longest_wait),
                      _StopWhenStopping(policy.stopping)),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
        sleep=policy.sleep,
        before_sleep=before_sleep,
    )
    try:
        result = retrying(attempt)
    except TransientError as err:
        log.debug("%s: gave up (%s)", what, err)
        raise
    log.debug("%s: succeeded after a retry", what)
    return result
