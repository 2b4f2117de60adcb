"""The shared single-writer token pair (adapters/common/tokens.py), driven by a fake exchange."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from syncd import clock
from syncd.adapters.common.tokens import (
    ISSUED_AT,
    Exchange,
    RefreshedElsewhere,
    SingleWriterTokens,
    granted_lifetime,
    refresh_due,
    stamped,
)
from syncd.domain import Token
from syncd.errors import ProtocolError, ReauthorizationRequired, TransientError
from tests.fakes import FakeTokenStore

NOW = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)
KEY = "shop1"
REFRESH_BEFORE = timedelta(minutes=30)
WAIT = 5.0  # seconds a thread handshake may take before the test gives up (never reached when it works)


def pair(access: str, *, expires_in: timedelta = timedelta(hours=2)) -> Token:
    return Token(access_token=access, refresh_token=f"{access}-refresh", expires_at=NOW + expires_in)


class FakeExchange:
    """The platform's refresh call: the n-th call answers ``answers[n-1]`` (a pair or an error), else ``new-n``."""

    def __init__(self, *answers: Token | Exception, gate: threading.Event | None = None) -> None:
        self.answers = list(answers)
        self.calls: list[Token | None] = []
        self.gate = gate  # the first call waits for it, holding the guard
        self.entered = threading.Event()

    def __call__(self, stored: Token | None) -> Token:
        self.calls.append(stored)
        n = len(self.calls)
        if n == 1 and self.gate is not None:
            self.entered.set()
            assert self.gate.wait(WAIT), "the test never let the first refresh finish"
        answer = self.answers[n - 1] if n <= len(self.answers) else pair(f"new-{n}", expires_in=timedelta(hours=10))
        if isinstance(answer, Exception):
            raise answer
        return answer


class WatchedLock:
    """A lock that counts who has asked for it, so a test can wait until a second thread queues on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = threading.Condition()
        self.asked = 0

    def __enter__(self) -> bool:
        with self._asked:
            self.asked += 1
            self._asked.notify_all()
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait_for(self, askers: int) -> bool:
        with self._asked:
            return self._asked.wait_for(lambda: self.asked >= askers, WAIT)


def keeper(store: FakeTokenStore, exchange: Exchange, **kwargs: Any) -> SingleWriterTokens:
    return SingleWriterTokens(store, KEY, who=f"test shop {KEY}", refresh_before=REFRESH_BEFORE, exchange=exchange,
                              log=logging.getLogger("tests.common_tokens"), **kwargs)


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(frozen: time_machine.Traveller) -> FakeTokenStore:
    return FakeTokenStore()


# ---- reuse and refresh ahead of expiry ------------------------------------------------------------------


def test_current_given_a_pair_not_yet_due_reuses_it_without_a_call_or_the_guard(store: FakeTokenStore) -> None:
    stored = pair("fresh", expires_in=REFRESH_BEFORE + timedelta(seconds=1))
    store.tokens[KEY] = stored
    exchange = FakeExchange()

    assert keeper(store, exchange).current() is stored
    assert exchange.calls == []
    assert store.locks == 0 and store.saved == []


def test_current_given_a_pair_with_refresh_before_left_refreshes_it_once_and_saves_the_new_pair(
        store: FakeTokenStore) -> None:
    stored = pair("old", expires_in=REFRESH_BEFORE)  # exactly on the edge counts as due
    store.tokens[KEY] = stored
    exchange = FakeExchange()

    got = keeper(store, exchange).current()

    assert exchange.calls == [stored]  # the exchange is handed the stored pair to take its refresh token from
    assert got.access_token == "new-1"
    assert store.tokens[KEY] is got and store.saved == [got]


def test_current_given_two_threads_at_once_refreshes_once_and_both_use_the_new_pair(store: FakeTokenStore) -> None:
    store.tokens[KEY] = pair("old", expires_in=timedelta(minutes=5))
    gate = threading.Event()
    exchange = FakeExchange(gate=gate)
    lock = WatchedLock()
    tokens = keeper(store, exchange, lock=lock)
    got: dict[str, Token] = {}
    threads = {name: threading.Thread(target=lambda name=name: got.setdefault(name, tokens.current()))
               for name in ("first", "second")}

    threads["first"].start()
    assert exchange.entered.wait(WAIT)  # the first thread is refreshing, inside the guard
    threads["second"].start()
    assert lock.wait_for(2), "the second thread did not wait on the single-writer guard"
    gate.set()
    for thread in threads.values():
        thread.join(WAIT)

    assert len(exchange.calls) == 1
    assert got["first"].access_token == got["second"].access_token == "new-1"
    assert store.saved == [got["first"]]


# ---- after the platform refused a token ------------------------------------------------------------------


def test_renew_after_rejection_renews_once_and_a_second_rejection_reuses_what_the_other_writer_stored(
        store: FakeTokenStore) -> None:
    old = pair("old", expires_in=timedelta(hours=5))  # far from due: only the refusal makes it renew
    store.tokens[KEY] = old
    exchange = FakeExchange()
    winner, other = keeper(store, exchange), keeper(store, exchange)  # two writers over one store

    renewed = winner.renew_after_rejection(old)
    again = other.renew_after_rejection(old)  # a call that was still using ``old`` is refused too

    assert exchange.calls == [old]
    assert renewed.access_token == "new-1"
    assert again == renewed
    assert store.saved == [renewed]


def test_renew_after_rejection_given_the_lease_held_elsewhere_uses_the_pair_the_holder_stored(
        store: FakeTokenStore) -> None:
    old = pair("old")
    store.tokens[KEY] = pair("winner")
    store.lock_free = False
    exchange = FakeExchange()

    got = keeper(store, exchange).renew_after_rejection(old)

    assert got.access_token == "winner"
    assert exchange.calls == [] and store.saved == []


def test_renew_after_rejection_given_the_lease_held_elsewhere_and_only_the_refused_pair_stored_raises_transient(
        store: FakeTokenStore) -> None:
    old = pair("old")
    store.tokens[KEY] = old
    store.lock_free = False
    exchange = FakeExchange()

    with pytest.raises(TransientError, match="test shop shop1: token refresh in progress elsewhere") as caught:
        keeper(store, exchange).renew_after_rejection(old)

    assert caught.value.code == "refresh-in-progress"
    assert exchange.calls == [] and store.tokens[KEY] is old


def test_refresh_given_the_platform_says_another_writer_is_refreshing_uses_the_pair_it_stored(
        store: FakeTokenStore) -> None:
    store.tokens[KEY] = pair("old", expires_in=timedelta(minutes=5))

    class Raced(FakeExchange):
        def __call__(self, stored: Token | None) -> Token:
            self.calls.append(stored)
            store.tokens[KEY] = pair("winner", expires_in=timedelta(hours=10))  # the other writer's save
            raise RefreshedElsewhere

    exchange = Raced()

    got = keeper(store, exchange).current()

    assert got.access_token == "winner"
    assert len(exchange.calls) == 1
    assert store.saved == []  # the winner saved it; this keeper writes nothing


# ---- a refresh that fails --------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    ReauthorizationRequired("test refresh refused", code="refresh-expired"),
    TransientError("test platform busy"),
    ProtocolError("test answer has no access_token"),
], ids=["refused", "transient", "malformed"])
def test_current_given_a_failed_refresh_raises_it_and_leaves_the_stored_pair_untouched(
        store: FakeTokenStore, failure: Exception) -> None:
    old = pair("old", expires_in=-timedelta(minutes=1))  # expired: nothing to fall back on
    store.tokens[KEY] = old

    with pytest.raises(type(failure)) as caught:
        keeper(store, FakeExchange(failure)).current()

    assert caught.value is failure
    assert store.tokens == {KEY: old} and store.saved == []


def test_current_given_a_refresh_failing_for_now_with_nothing_usable_waits_longer_each_time_before_asking_again(
        store: FakeTokenStore, frozen: time_machine.Traveller) -> None:
    """A platform that answers 503 to everything: each stage's run of the shop asks for a pair; the refresh call
    itself is made after 5 s, then 10 s, then 20 s … not at every run."""
    store.tokens[KEY] = pair("old", expires_in=-timedelta(minutes=1))
    down = TransientError("test platform busy")
    exchange = FakeExchange(down, down)
    tokens = keeper(store, exchange)

    with pytest.raises(TransientError, match="platform busy"):
        tokens.current()
    with pytest.raises(TransientError, match="failed 1 time") as waiting:
        tokens.current()  # 0 s later: not asked again
    assert waiting.value.code == "refresh-backoff" and waiting.value.retry_after == pytest.approx(5)
    assert len(exchange.calls) == 1

    frozen.shift(timedelta(seconds=5))
    with pytest.raises(TransientError, match="platform busy"):
        tokens.current()  # asked again, failing again: now 10 s
    frozen.shift(timedelta(seconds=9))
    with pytest.raises(TransientError, match=r"failed 2 time\(s\) in a row; next try in 1 s"):
        tokens.current()
    assert len(exchange.calls) == 2

    frozen.shift(timedelta(seconds=1))
    assert tokens.current().access_token == "new-3"
    assert len(exchange.calls) == 3

    store.tokens[KEY] = pair("old", expires_in=-timedelta(minutes=1))  # later, down again: 5 s once more
    exchange.answers.extend([pair("unused"), down])
    with pytest.raises(TransientError, match="platform busy"):
        tokens.current()
    with pytest.raises(TransientError, match="failed 1 time") as waiting:
        tokens.current()
    assert waiting.value.retry_after == pytest.approx(5)


def test_current_given_an_early_refresh_failing_for_now_serves_the_stored_pair_as_it_is(
        store: FakeTokenStore) -> None:
    old = pair("old", expires_in=timedelta(minutes=10))  # due, but still good for ten minutes
    store.tokens[KEY] = old
    touched: list[Token] = []

    got = keeper(store, FakeExchange(TransientError("test platform busy")),
                 before_use=lambda t: touched.append(t) or t).current()

    assert got is old
    assert touched == []  # a fall-back is handed out as it is
    assert store.saved == []


def test_current_given_nothing_stored_and_the_first_refresh_failing_for_now_uses_the_fallback(
        store: FakeTokenStore) -> None:
    configured = pair("configured", expires_in=timedelta(minutes=1))
    exchange = FakeExchange(TransientError("test platform busy"))

    got = keeper(store, exchange, fallback=lambda: configured).current()

    assert got is configured
    assert exchange.calls == [None]  # nothing stored: the exchange takes the configured refresh token itself
    assert store.saved == []


def test_current_applies_before_use_to_a_reused_and_to_a_renewed_pair(store: FakeTokenStore) -> None:
    store.tokens[KEY] = pair("fresh")
    touched: list[str] = []
    tokens = keeper(store, FakeExchange(), before_use=lambda t: touched.append(t.access_token) or t)

    tokens.current()
    store.tokens[KEY] = pair("old", expires_in=timedelta(minutes=5))
    tokens.current()

    assert touched == ["fresh", "new-1"]


def test_known_secrets_lists_stored_remembered_and_configured_tokens(store: FakeTokenStore) -> None:
    store.tokens[KEY] = pair("stored")
    tokens = keeper(store, FakeExchange(), configured=["cfg-access", "cfg-refresh"])

    tokens.current()
    tokens.remember("seen-in-an-answer")

    assert sorted(tokens.known_secrets()) == sorted(
        ["stored", "stored-refresh", "seen-in-an-answer", "cfg-access", "cfg-refresh"])


# ---- refresh timing: a fraction of the lifetime the platform granted (issue 15.5) --------------------------


class ShortLived:
    """A platform that grants ``lifetime`` from the moment of each exchange (1688's sandbox: 10 minutes)."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self.calls = 0

    def __call__(self, stored: Token | None) -> Token:
        self.calls += 1
        return Token(access_token=f"short-{self.calls}", refresh_token="r",
                     expires_at=clock.now() + self.lifetime)


def test_current_given_pairs_living_less_than_refresh_before_refreshes_once_per_four_fifths_of_their_life(
        store: FakeTokenStore, frozen: time_machine.Traveller) -> None:
    exchange = ShortLived(timedelta(minutes=10))  # refresh_before is 30 minutes: every such pair is "due" at once
    tokens = keeper(store, exchange)

    for _ in range(40):  # one call every 30 s for 20 minutes
        tokens.current()
        frozen.shift(timedelta(seconds=30))

    # renewed with a fifth (2 min) of each 10-minute pair left: at 0, 8 and 16 minutes, not at every call
    assert exchange.calls == 3


def test_refresh_due_given_a_long_lived_pair_is_due_with_refresh_before_left() -> None:
    long_lived = stamped(Token("a", "r", NOW + timedelta(hours=10)), NOW)
    assert not refresh_due(long_lived, REFRESH_BEFORE, NOW + timedelta(hours=9, minutes=29))
    assert refresh_due(long_lived, REFRESH_BEFORE, NOW + timedelta(hours=9, minutes=30))


def test_refresh_due_given_a_pair_without_a_usable_stamp_falls_back_to_refresh_before() -> None:
    for extra in ({}, {ISSUED_AT: "not a time"}, {ISSUED_AT: "2024-05-20T08:00:00"}, {ISSUED_AT: 12}):
        legacy = Token("a", "r", NOW + timedelta(minutes=10), extra=dict(extra))
        assert refresh_due(legacy, REFRESH_BEFORE, NOW)
        assert not refresh_due(legacy, timedelta(minutes=5), NOW)


def test_current_saves_each_new_pair_with_the_moment_it_was_received(
        store: FakeTokenStore, frozen: time_machine.Traveller) -> None:
    keeper(store, ShortLived(timedelta(minutes=10))).current()

    saved = store.tokens[KEY]
    assert saved.extra[ISSUED_AT] == NOW.isoformat()
    assert granted_lifetime(saved) == timedelta(minutes=10)


def test_current_given_early_refresh_failing_at_every_call_warns_once_and_says_when_it_is_fresh_again(
        store: FakeTokenStore, frozen: time_machine.Traveller, caplog: pytest.LogCaptureFixture) -> None:
    store.tokens[KEY] = pair("old", expires_in=timedelta(minutes=20))  # due (30 min margin), still usable
    down = TransientError("platform busy")
    tokens = keeper(store, FakeExchange(down, down, down))

    with caplog.at_level(logging.INFO, logger="tests.common_tokens"):
        for _ in range(3):
            assert tokens.current().access_token == "old"
        assert tokens.current().access_token == "new-4"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "test shop shop1: early token refresh failed; using the current token"]
    assert any("fresh again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
