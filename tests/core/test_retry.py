"""The one retry policy: bounded, transient-only, honouring retry-after; no real sleeping."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from syncd.config.models import RetrySettings
from syncd.errors import RateLimitedError, RejectedError, TransientError
from syncd.retry import RetryPolicy, call


def _flaky(errors: list[Exception]):
    calls = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return fn, calls


def test_call_given_transient_errors_retries_until_success():
    waits: list[float] = []
    fn, calls = _flaky([TransientError("busy"), TransientError("busy")])
    assert call(RetryPolicy(sleep=waits.append, initial_wait=0.5, max_wait=10), fn, what="t") == "ok"
    assert len(calls) == 3 and len(waits) == 2 and all(w > 0 for w in waits)


def test_call_given_more_failures_than_attempts_raises_the_last_error():
    fn, calls = _flaky([TransientError(f"busy {i}") for i in range(9)])
    with pytest.raises(TransientError, match="busy 3"):
        call(RetryPolicy(attempts=4, sleep=lambda _: None), fn, what="t")
    assert len(calls) == 4


def test_call_given_a_business_refusal_never_retries():
    fn, calls = _flaky([RejectedError("bad address")])
    with pytest.raises(RejectedError):
        call(RetryPolicy(sleep=lambda _: None), fn, what="t")
    assert len(calls) == 1


def test_call_given_retry_after_waits_at_least_that_long():
    waits: list[float] = []
    fn, _ = _flaky([RateLimitedError("slow down", retry_after=7.0)])
    call(RetryPolicy(sleep=waits.append, initial_wait=0.1, max_wait=10), fn, what="t")
    assert waits == [pytest.approx(7.0, abs=0.2)] or waits[0] >= 7.0


def test_call_given_a_ban_longer_than_the_budget_gives_up_at_once():
    fn, calls = _flaky([RateLimitedError("banned", retry_after=3600)])
    with pytest.raises(RateLimitedError):
        call(RetryPolicy(sleep=lambda _: None, max_seconds=30, max_wait=10), fn, what="t")
    assert len(calls) == 1


def test_call_given_a_retry_after_above_longest_wait_raises_at_once():
    waits: list[float] = []
    fn, calls = _flaky([RateLimitedError("flow control", retry_after=10.0)])
    with pytest.raises(RateLimitedError):
        call(RetryPolicy(sleep=waits.append, max_seconds=30, max_wait=10), fn, what="t", longest_wait=2.0)
    assert len(calls) == 1 and waits == []


def test_call_given_a_retry_after_within_longest_wait_still_waits_it():
    waits: list[float] = []
    fn, calls = _flaky([RateLimitedError("flow control", retry_after=1.5)])
    assert call(RetryPolicy(sleep=waits.append, initial_wait=0.1, max_wait=10), fn, what="t", longest_wait=2.0) == "ok"
    assert len(calls) == 2 and waits[0] >= 1.5


def test_call_given_the_daemon_stopping_during_a_back_off_makes_no_further_attempt():
    stopping = threading.Event()
    policy = RetryPolicy.from_settings(RetrySettings(attempts=5, max_seconds=60, initial_wait=30, max_wait=30),
                                       stopping=stopping)
    errors: list[Exception] = [TransientError("busy"), TransientError("busy")]
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        stopping.set()  # SIGTERM arrives while this attempt runs: the 30 s back-off must not be waited out
        raise errors.pop(0)

    started = time.monotonic()
    with pytest.raises(TransientError):
        call(policy, fn, what="t")
    assert len(calls) == 1
    assert time.monotonic() - started < 5


def test_call_counts_the_first_attempt_in_the_time_budget(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) == 1:
            now[0] += 25.0  # a first attempt that hangs for 25 of the 30 seconds
        raise TransientError("busy")

    with pytest.raises(TransientError):
        call(RetryPolicy(attempts=5, max_seconds=30, initial_wait=10, max_wait=10, sleep=sleep), fn, what="t")
    assert len(calls) == 2  # one 10 s wait and one more attempt exhaust the 30 s; not three more


def test_call_given_retried_failures_logs_the_attempts_at_debug_only(caplog):
    fn, calls = _flaky([TransientError("busy"), TransientError("busy")])
    with caplog.at_level(logging.DEBUG, logger="syncd.retry"):
        assert call(RetryPolicy(sleep=lambda _: None), fn, what="douyin order.searchList") == "ok"
    assert len(calls) == 3
    attempts = [r for r in caplog.records if "attempt" in r.getMessage()]
    assert [r.getMessage() for r in attempts] == ["douyin order.searchList: attempt 1 failed (busy); retrying",
                                                   "douyin order.searchList: attempt 2 failed (busy); retrying"]
    # the edges belong to the stage's scope (runner): nothing of a retry storm reaches INFO
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_call_given_every_attempt_failing_logs_nothing_above_debug(caplog):
    fn, _ = _flaky([TransientError("down")] * 4)
    with caplog.at_level(logging.DEBUG, logger="syncd.retry"), pytest.raises(TransientError):
        call(RetryPolicy(attempts=4, sleep=lambda _: None), fn, what="t")
    assert caplog.records and all(r.levelno == logging.DEBUG for r in caplog.records)
