"""Shared pieces of the alert channel tests: frozen clock, fake monotonic, zero-wait retries, respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from syncd.domain import Message, Severity, Token
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy

NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000: the reference's signing vectors
SECRET = "SECtest"
DING_TOKEN = "ding-access-token-never-shown-7f3a"
WECOM_KEY = "wecom-key-never-shown-0c9d"
FEISHU_TOKEN = "feishu-hook-token-never-shown-5b1e"
SLACK_URL = "https://hooks.slack.com/services/T0NEVERSHN/B0NEVERSHN/slacktokenneverShown42"
HOOK_URL = "https://ops.example.com/hooks/syncd?token=hooktokenneverShown77"
HOOK_SECRET = "webhook-secret-never-shown-19"

ALL_SECRETS = (SECRET, DING_TOKEN, WECOM_KEY, FEISHU_TOKEN, SLACK_URL, "slacktokenneverShown42",
               "hooktokenneverShown77", HOOK_SECRET)


class NoTokens:
    """Alert sinks hold no tokens; a TokenStore that fails loudly if one ever asks."""

    def load(self, shop_id: str) -> Token | None:
        raise AssertionError("an alert sink asked for a token")

    def save(self, shop_id: str, token: Token) -> None:
        raise AssertionError("an alert sink saved a token")

    def refresh_lock(self, shop_id: str) -> AbstractContextManager[bool]:
        raise AssertionError("an alert sink asked for a refresh lock")


class FakeMonotonic:
    """A monotonic clock the test (and the fake retry sleep) moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def message(n: int = 2, title: str = "订单超时未发货", severity: Severity = Severity.WARNING) -> Message:
    """A message with ``n`` lines."""
    return Message(title=title, lines=[f"订单 {i} 已付款 49 小时仍未发货" for i in range(1, n + 1)], severity=severity)


def sent_json(request: httpx.Request) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.content)
    return body


def assert_no_secret(text: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text, f"secret {secret[:4]}… leaked into {text!r}"


@pytest.fixture
def clock_at() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mono() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    # one client for the session: building its TLS context costs ~0.1 s; respx mocks below it
    with httpx.Client() as client:
        yield client


@pytest.fixture
def ctx(http: httpx.Client, waits: list[float], mono: FakeMonotonic, tmp_path: Path) -> AdapterContext:
    def sleep(seconds: float) -> None:  # recorded, never slept; the sinks' windows see the time pass
        waits.append(seconds)
        mono.advance(seconds)

    # max_wait=0: backoff waits are zero; a retry_after over 20 s stops retrying (the core retries later)
    policy = RetryPolicy(attempts=3, max_seconds=20, initial_wait=1, max_wait=0, sleep=sleep)
    return AdapterContext(http=http, tokens=NoTokens(), data_dir=tmp_path, retry=policy)
