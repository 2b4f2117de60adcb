"""Fixtures shared by the adapter tests: recorded waits, a fake limiter and token store, a context, respx.

A package conftest overrides any of them where its adapter needs something else (a pre-loaded
``store``, another ``limiter``, a longer ``retry_max_seconds``, its own ``ctx`` or ``api``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from syncd.protocols import TokenStore
from syncd.ratelimit import RateLimiter
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.fakes import FakeLimiter, FakeTokenStore


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def limiter() -> FakeLimiter:
    return FakeLimiter()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def retry_max_seconds() -> float:
    """The retry policy's budget: a retry-after longer than this stops retrying."""
    return 60


@pytest.fixture
def store() -> FakeTokenStore:
    return FakeTokenStore()


@pytest.fixture
def ctx(http: httpx.Client, store: TokenStore, waits: list[float], limiter: RateLimiter,
        retry_max_seconds: float, tmp_path: Path) -> AdapterContext:
    # max_wait=0 makes every backoff zero; the waits (retry-after) are recorded, never slept.
    policy = RetryPolicy(attempts=3, max_seconds=retry_max_seconds, initial_wait=1, max_wait=0, sleep=waits.append)
    return AdapterContext(http=http, tokens=store, data_dir=tmp_path, retry=policy, limiter=limiter)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture(params=["UTC", "Asia/Shanghai", "America/Los_Angeles"])
def host_tz(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The host's local time zone must not matter (CI also runs the suite under TZ=Asia/Shanghai)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()
