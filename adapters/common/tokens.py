"""One access/refresh token pair in the core's token store, renewed by a single writer at a time.

Shared by the adapters whose platform issues such a pair (Douyin Shop, Pinduoduo, 1688). The pair is read
from the store under one key, used while more than its refresh margin is left, and renewed ahead of that
or at once when the platform refuses it. Renewing runs under a process-local lock (threads of one
replica share the store's lease, which is taken per holder) plus the store's ``refresh_lock`` (the lease
that keeps replicas apart). Whoever waited re-reads what the winner stored; whoever finds the lease held
elsewhere uses the stored pair while it is still good, or is told to try again.

An adapter brings only its own part: the *exchange* (the wire call that trades the stored pair's refresh
token, or a configured one while nothing is stored, for a new pair, and the parsing of its expiries) and,
where it has them, a configured pair to fall back on and a last step before a pair is used.

The refresh margin is ``min(refresh_before, REFRESH_FRACTION × the lifetime the platform granted)``. A
platform may grant far less than the configured ``refresh_before`` (a 10-minute 1688 token against a
60-minute margin): a fixed margin then makes every pair due the moment it arrives, and syncd refreshed
before almost every call (issue 15). The granted lifetime is ``expires_at`` minus the moment the pair was
received, which :func:`stamped` keeps in ``Token.extra["issued_at"]``; a pair stored without it (older
rows, a pair from a config file) falls back to ``refresh_before`` alone, and its first refresh stamps the next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from syncd import clock
from syncd.domain import Token
from syncd.errors import TransientError
from syncd.protocols import TokenStore

# The stored pair (None while nothing is stored) → a new pair from the platform. It raises what the
# platform's answer means (ReauthorizationRequired when a person must act), or RefreshedElsewhere.
Exchange = Callable[[Token | None], Token]


class RefreshedElsewhere(Exception):  # a signal to the keeper, never raised past it
    """Raised by an exchange when the platform says another writer is refreshing this pair right now."""


ISSUED_AT = "issued_at"  # key in Token.extra: when the pair was received (aware UTC, ISO 8601)
# A refresh failing for now with no usable pair is tried again after 5 s, then 10, 20 … at most every 5 minutes
REFRESH_BACKOFF_FIRST = timedelta(seconds=5)
REFRESH_BACKOFF_MAX = timedelta(minutes=5)
IN_PROGRESS = "refresh-in-progress"  # another writer (replica) is refreshing the pair: not a failure
# Renew with a fifth of the granted lifetime left: a 10-minute token is renewed every 8 minutes, a 10-hour one
# still with the configured refresh_before (the smaller wins), and a late refresh keeps 80 % of the lifetime spare.
REFRESH_FRACTION = 0.2


def stamped(token: Token, at: datetime) -> Token:
    """``token`` marked as received at ``at`` (its granted lifetime is then ``expires_at - at``)."""
    return replace(token, extra={**token.extra, ISSUED_AT: clock.ensure_utc(at).isoformat()})


def granted_lifetime(token: Token) -> timedelta | None:
    """How long the platform granted ``token`` for, or None when that is not known (no usable stamp)."""
    raw = token.extra.get(ISSUED_AT)
    if not isinstance(raw, str):
        return None
    try:
        issued = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if issued.tzinfo is None:
        return None
    lifetime = clock.ensure_utc(token.expires_at) - issued
    return lifetime if lifetime > timedelta(0) else None


def refresh_margin(token: Token, refresh_before: timedelta) -> timedelta:
    """How much of ``token``'s life is left when it is due: ``refresh_before``, or less for a short-lived pair."""
    lifetime = granted_lifetime(token)
    return refresh_before if lifetime is None else min(refresh_before, lifetime * REFRESH_FRACTION)


def refresh_due(token: Token, refresh_before: timedelta, now: datetime) -> bool:
    """Whether ``token`` has its refresh margin (:func:`refresh_margin`) or less left at ``now``."""
    return clock.ensure_utc(token.expires_at) - now <= refresh_margin(token, refresh_before)


def _nothing() -> Token | None:
    return None


def _same(token: Token) -> Token:
    return token


class SingleWriterTokens:
    """The pair under ``key``: reused while fresh, renewed by one writer at a time, re-read from the winner."""

    def __init__(
        self,
        store: TokenStore,
        key: str,
        *,
        who: str,
        refresh_before: timedelta,
        exchange: Exchange,
        log: logging.Logger,
        configured: Iterable[str] = (),
        fallback: Callable[[], Token | None] = _nothing,
        before_use: Callable[[Token], Token] = _same,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """``who`` starts every message ("pdd shop shop1"); ``configured``: token strings from the config.

        ``fallback``: a pair to use while nothing is stored and the first refresh failed for now.
        ``before_use``: applied to each pair :meth:`current` hands out except such a fall-back.
        ``lock``: the process-local half of the guard; one of its own unless a test hands in one to watch.
        """
        self._store = store
        self._key = key
        self._who = who
        self._refresh_before = refresh_before
        self._exchange = exchange
        self._log = log
        self._configured = list(configured)
        self._fallback = fallback
        self._before_use = before_use
        self._local = lock if lock is not None else threading.Lock()
        self._seen: set[str] = set()
        self._early_failing = False  # an early refresh is failing: warned once, until one succeeds
        # a refresh that failed for now with no pair to fall back on: when the next may be tried, and how often it
        # failed in a row (every stage's run of a shop asks for a pair; a platform that is down is not asked by each)
        self._retry_at: datetime | None = None
        self._failed_in_a_row = 0

    def known_secrets(self) -> list[str]:
        """Every token string handled so far, then the configured ones, for scrubbing messages."""
        return [*self._seen, *self._configured]

    def remember(self, *secrets: str) -> None:
        """Count token strings an exchange has seen among :meth:`known_secrets`."""
        self._seen.update(secrets)

    # ---- handing out a pair ------------------------------------------------------------------------

    def current(self) -> Token:
        """A usable pair: the stored one while it is not due, else a renewed one."""
        stored = self.load()
        if stored is not None and not self.due(stored):
            self._recovered()
            return self._before_use(stored)
        now = clock.now()
        if self._retry_at is not None and now < self._retry_at and self._fall_back_from(stored) is None:
            raise TransientError(f"{self._who}: token refresh failed {self._failed_in_a_row} time(s) in a row; next "
                                 f"try in {(self._retry_at - now).total_seconds():.0f} s", code="refresh-backoff",
                                 retry_after=(self._retry_at - now).total_seconds())
        try:
            token = self._renew(rejected=None)
        except TransientError as err:
            # An early refresh that failed for now must not stop calls the current token still serves.
            fallback = self._fall_back_from(stored)
            if fallback is None and err.code == IN_PROGRESS:  # another replica's refresh: its pair comes soon
                raise
            if fallback is None:
                self._failed_in_a_row += 1
                wait = min(REFRESH_BACKOFF_MAX, REFRESH_BACKOFF_FIRST * 2 ** (self._failed_in_a_row - 1))
                self._retry_at = clock.now() + wait
                raise
            if not self._early_failing:  # the edge, not the storm: every call until it works would say it
                self._log.warning("%s: early token refresh failed; using the current token", self._who)
            self._early_failing = True
            return fallback
        self._recovered()
        return self._before_use(token)

    def _recovered(self) -> None:
        self._retry_at, self._failed_in_a_row = None, 0
        if self._early_failing:
            self._log.info("%s: the access token is fresh again", self._who)
            self._early_failing = False

    def _fall_back_from(self, stored: Token | None) -> Token | None:
        """After a refresh failed for now: the stored pair while it still serves, else (nothing stored) the fallback."""
        if stored is None:
            return self._fallback()
        return stored if self.usable(stored) else None

    def renew_after_rejection(self, rejected: Token) -> Token:
        """The platform refused ``rejected``: another pair, from the store if one is there, else refreshed."""
        return self._renew(rejected=rejected.access_token)

    def _renew(self, rejected: str | None) -> Token:
        with self.guard() as got:
            if not got:
                return self._from_other_writer(rejected)
            stored = self.load()  # another writer may have finished while we waited
            if stored is not None and self.usable(stored, rejected) and not self.due(stored):
                return stored
            try:
                token = stamped(self._exchange(stored), clock.now())
            except RefreshedElsewhere:
                return self._from_other_writer(rejected)
            self.save(token)
            self._log.info("%s: new access token saved, expires %s", self._who, token.expires_at.isoformat())
            return token

    def _from_other_writer(self, rejected: str | None) -> Token:
        stored = self.load()
        if stored is not None and self.usable(stored, rejected):
            return stored
        raise TransientError(f"{self._who}: token refresh in progress elsewhere", code=IN_PROGRESS)

    # ---- the parts an adapter builds on ------------------------------------------------------------

    @contextmanager
    def guard(self) -> Iterator[bool]:
        """The single-writer guard; yields False when another replica holds the store's lease."""
        with self._local, self._store.refresh_lock(self._key) as got:
            yield got

    def load(self) -> Token | None:
        """The stored pair, or None; its tokens join :meth:`known_secrets`."""
        token = self._store.load(self._key)
        if token is not None:
            self._seen.update((token.access_token, token.refresh_token))
        return token

    def save(self, token: Token) -> None:
        """Store ``token`` as the pair (call it under :meth:`guard`)."""
        self._store.save(self._key, token)

    def due(self, token: Token) -> bool:
        """Whether ``token`` has its refresh margin or less left (:func:`refresh_margin`)."""
        return refresh_due(token, self._refresh_before, clock.now())

    @staticmethod
    def usable(token: Token, rejected: str | None = None) -> bool:
        """Whether ``token`` has not expired and is not the access token the platform just refused."""
        return token.access_token != rejected and clock.ensure_utc(token.expires_at) > clock.now()


__all__ = ["ISSUED_AT", "REFRESH_FRACTION", "Exchange", "RefreshedElsewhere", "SingleWriterTokens",
           "granted_lifetime", "refresh_due", "refresh_margin", "stamped"]
