"""One retry policy: bounded in attempts and time, only TransientError, honouring retry-after."""

from __future__ import annotations

import logging
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

    @classmethod
    def from_settings(cls, s: RetrySettings) -> RetryPolicy:
        return cls(attempts=s.attempts, max_seconds=s.max_seconds, initial_wait=s.initial_wait, max_wait=s.max_wait)


class _StopOnLongRetryAfter(stop_base):
    """A ban longer than we are willing to wait ends this try; the next scheduled run picks it up."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        ra = getattr(exc, "retry_after", None)
        return ra is not None and ra > self.limit


def call(policy: RetryPolicy, fn: Callable[[], T], *, what: str) -> T:
    """Run ``fn``, retrying TransientError with exponential backoff + jitter; re-raise the last error."""
    # multiplier (not the deprecated initial=) scales 1, 2, 4... to initial_wait, 2×initial_wait...
    backoff = wait_exponential_jitter(multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait)

    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        ra = getattr(exc, "retry_after", None) or 0.0
        return max(float(ra), backoff(rs) if policy.max_wait > 0 else 0.0)

    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        log.info("%s: attempt %d failed (%s); retrying", what, rs.attempt_number, exc)

    retrying = Retrying(
        stop=stop_any(stop_after_attempt(policy.attempts), stop_after_delay(policy.max_seconds),
                      _StopOnLongRetryAfter(max(policy.max_wait, policy.max_seconds))),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
        sleep=policy.sleep,
        before_sleep=before_sleep,
    )
    return retrying(fn)
