"""The Pinduoduo shop's token pair: reference/storefronts.md §2.3.

Refreshed with ``pdd.pop.auth.token.refresh`` before its ``expires_at`` and once when a call answers
10019; saved through the core's token store under the syncd shop id, by a single writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.pdd.config import PddShopConfig
from syncd import clock
from syncd.domain import Token
from syncd.errors import AuthError, ProtocolError, ReauthorizationRequired, RejectedError, TransientError
from syncd.registry import AdapterContext

log = logging.getLogger("adapters.pdd")

REFRESH_API = "pdd.pop.auth.token.refresh"
_EPOCH_THRESHOLD = 10**9  # an *_in above this is an absolute Unix time, not a duration
_MILLIS_THRESHOLD = 10**12  # an *_at above this is in milliseconds

Sender = Callable[[str, dict[str, Any], str | None], dict[str, Any]]


class TokenKeeper:
    """Loads the pair from the core's store; refreshes it under the store's refresh lock."""

    def __init__(self, config: PddShopConfig, ctx: AdapterContext, send_once: Sender) -> None:
        self._config = config
        self._store = ctx.tokens
        self._key = config.id
        self._send = send_once
        self._local = threading.Lock()  # one refresher per process; the store's lock covers the others
        self._seen: set[str] = set()

    def known_secrets(self) -> list[str]:
        """Every token string this keeper has handled (for scrubbing messages)."""
        auth = self._config.auth
        extra = [auth.access_token.get_secret_value(), auth.refresh_token.get_secret_value()] if auth else []
        return [*self._seen, *extra]

    def current(self) -> Token:
        """The stored token when it is not due for refresh; otherwise a refreshed one."""
        stored = self._load()
        if stored is not None and not self._due(stored):
            return stored
        try:
            return self._renew(rejected=None)
        except TransientError:
            # An early refresh that failed for now must not stop calls the current token still serves.
            if stored is not None and self._usable(stored, None):
                log.warning("pdd shop %s: early token refresh failed; using the current token", self._key)
                return stored
            raise

    def renew_after_rejection(self, rejected: Token) -> Token:
        """The platform refused ``rejected`` (10019): another pair, from the store or a refresh."""
        log.info("pdd shop %s: access token refused as expired; refreshing", self._key)
        return self._renew(rejected=rejected.access_token)

    def _renew(self, rejected: str | None) -> Token:
        with self._local, self._store.refresh_lock(self._key) as got:
            if not got:
                return self._from_other_writer(rejected)
            stored = self._load()  # another writer may have finished while we waited
            if stored is not None and self._usable(stored, rejected) and not self._due(stored):
                return stored
            token = self._refresh(stored)
            self._store.save(self._key, token)
            log.info("pdd shop %s: new access token saved, expires %s", self._key, token.expires_at.isoformat())
            return token

    def _from_other_writer(self, rejected: str | None) -> Token:
        stored = self._load()
        if stored is not None and self._usable(stored, rejected):
            return stored
        raise TransientError(f"pdd shop {self._key}: token refresh in progress elsewhere", code="refresh-in-progress")

    def _refresh(self, stored: Token | None) -> Token:
        if stored is not None:
            refresh_token, lapses = stored.refresh_token, stored.refresh_expires_at
        elif self._config.auth is not None:
            # The configured pair's expiry is unknown: refreshing it tells, and starts the stored chain.
            refresh_token, lapses = self._config.auth.refresh_token.get_secret_value(), None
        else:
            raise ReauthorizationRequired(
                f"pdd shop {self._key}: no token pair: authorise the app from the shop's main account and put "
                "access_token and refresh_token under auth in the shop file", code="no-token")
        if lapses is not None and clock.ensure_utc(lapses) <= clock.now():
            raise ReauthorizationRequired(
                f"pdd shop {self._key}: the refresh token lapsed at {clock.ensure_utc(lapses).isoformat()}: "
                "authorise the app again and put the new pair under auth in the shop file", code="refresh-expired")
        try:
            data = self._send(REFRESH_API, {"refresh_token": refresh_token}, None)
        except ReauthorizationRequired:
            raise
        except (AuthError, RejectedError) as err:
            raise ReauthorizationRequired(
                f"pdd shop {self._key}: the token refresh was refused ({err}): authorise the app again and put "
                "the new pair under auth in the shop file", code=getattr(err, "code", None)) from err
        return self._token_from(data, refresh_token, stored)

    def _token_from(self, data: dict[str, Any], sent_refresh: str, previous: Token | None) -> Token:
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if not isinstance(access, str) or not access:
            raise ProtocolError(f"pdd {REFRESH_API}: answer has no access_token")
        if not isinstance(refresh, str) or not refresh:
            refresh = sent_refresh  # some answers omit an unchanged refresh token
        self._seen.update((access, refresh))
        now = clock.now()
        expires_at = _moment(data.get("expires_at"), data.get("expires_in"), now)
        if expires_at is None:
            raise ProtocolError(f"pdd {REFRESH_API}: answer has no usable expires_at or expires_in")
        refresh_expires_at = _moment(data.get("refresh_token_expires_at"), data.get("refresh_token_expires_in"), now)
        if refresh_expires_at is None and refresh == sent_refresh and previous is not None:
            refresh_expires_at = previous.refresh_expires_at
        extra = {k: str(data[k]) for k in ("owner_id", "owner_name") if data.get(k) not in (None, "")}
        return Token(access_token=access, refresh_token=refresh, expires_at=expires_at,
                     refresh_expires_at=refresh_expires_at, extra=extra)

    def _load(self) -> Token | None:
        token = self._store.load(self._key)
        if token is not None:
            self._seen.update((token.access_token, token.refresh_token))
        return token

    def _due(self, token: Token) -> bool:
        left = clock.ensure_utc(token.expires_at) - clock.now()
        return left <= timedelta(minutes=self._config.refresh_before_minutes)

    @staticmethod
    def _usable(token: Token, rejected: str | None) -> bool:
        return token.access_token != rejected and clock.ensure_utc(token.expires_at) > clock.now()


def _number(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _moment(at: Any, within: Any, now: datetime) -> datetime | None:
    """An absolute ``*_expires_at`` (seconds or milliseconds) or else a relative ``*_expires_in``."""
    absolute = _number(at)
    if absolute is not None:
        return clock.from_epoch(absolute / 1000 if absolute > _MILLIS_THRESHOLD else absolute)
    relative = _number(within)
    if relative is None:
        return None
    return clock.from_epoch(relative) if relative > _EPOCH_THRESHOLD else now + timedelta(seconds=relative)
