"""One retry policy: bounded in attempts and time, only TransientError, honouring retry-after."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
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


def _stop_on_long_retry_after(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    # A ban longer than we are willing to wait ends this try; the next scheduled run picks it up.
    def stop(rs: RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome else None
        ra = getattr(exc, "retry_after", None)
        return ra is not None and ra > max(policy.max_wait, policy.max_seconds)

    return stop


def call(policy: RetryPolicy, fn: Callable[[], T], *, what: str) -> T:
    """Run ``fn``, retrying TransientError with exponential backoff + jitter; re-raise the last error."""
    backoff = wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait)

    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        ra = getattr(exc, "retry_after", None) or 0.0
        return max(float(ra), backoff(rs) if policy.max_wait > 0 else 0.0)

    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        log.info("%s: attempt %d failed (%s); retrying", what, rs.attempt_number, exc)

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds)
        | _stop_on_long_retry_after(policy),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
        sleep=policy.sleep,
        before_sleep=before_sleep,
    )
    return retrying(fn)
