"""The seller's TOP session (access token) and its expiry: reference/storefronts.md §3.3.

Only service-market subscription apps may refresh a session (``taobao.top.auth.token.refresh``); every
other app type gets a session of fixed duration. So:

- ``can_refresh``: the session is refreshed ahead of its expiry (with the smaller of ``refresh_before_minutes``
  and a fifth of the lifetime granted left, as in :mod:`adapters.common.tokens`), and once when the platform
  refuses it (code 27); a refused refresh means a person must authorise the shop again.
- otherwise: the expiry comes from the shop file (``session_expires_at``); a warning is logged when it
  nears, the shop stops with :class:`ReauthorizationRequired` once it has passed or when the platform
  refuses the session.

Either way the session is kept in the core's token store with its expiry, so ``syncd status`` and the
alert rules see it. A stored session belongs to the session written in the shop file: when the operator
puts a new one there, the stored one is dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.common.fields import whole
from syncd.adapters.common.tokens import refresh_due, stamped
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.domain import Token
from syncd.errors import AuthError, ProtocolError, ReauthorizationRequired, RejectedError, TransientError
from syncd.protocols import TokenStore

log = logging.getLogger("syncd.adapters.taobao")

REFRESH_METHOD = "taobao.top.auth.token.refresh"
_EPOCH_SECONDS = 10**9  # an expires_in above this is an absolute Unix time, not a duration
_EPOCH_MILLIS = 10**12

Sender = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def fingerprint(secret: str) -> str:
    """A short, one-way tag of the configured session (to notice the operator changed it)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _seconds(value: Any) -> int | None:
    value = whole(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _expiry(value: int, now: datetime) -> datetime:
    if value > _EPOCH_MILLIS:
        return clock.from_epoch(value / 1000)
    if value > _EPOCH_SECONDS:
        return clock.from_epoch(value)
    return now + timedelta(seconds=value)


def parse_token_result(data: dict[str, Any], previous_refresh: str, tag: str) -> Token:
    """``top_auth_token_refresh_response`` → Token; ``token_result`` is a JSON string (an object accepted too)."""
    raw = data.get("token_result")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ProtocolError(f"taobao {REFRESH_METHOD}: token_result is not JSON") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"taobao {REFRESH_METHOD}: answer has no token_result object")
    access = raw.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProtocolError(f"taobao {REFRESH_METHOD}: token_result has no access_token")
    refresh = raw.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        refresh = previous_refresh  # no new refresh token: the one we sent stays in use
    now = clock.now()
    expires_in = _seconds(raw.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        raise ProtocolError(f"taobao {REFRESH_METHOD}: token_result has no usable expires_in")
    re_expires = _seconds(raw.get("re_expires_in"))
    extra = {"config_session": tag, "source": "refresh"}
    for key in ("taobao_user_id", "taobao_user_nick"):
        if raw.get(key) not in (None, ""):
            extra[key] = str(raw[key])
    return Token(access_token=access, refresh_token=refresh, expires_at=_expiry(expires_in, now),
                 refresh_expires_at=_expiry(re_expires, now) if re_expires else None, extra=extra)


class SessionKeeper:
    """The shop's session: from the shop file or the store, refreshed by a single writer where allowed."""

    def __init__(self, config: TaobaoShopConfig, store: TokenStore, send_once: Sender) -> None:
        self._config = config
        self._store = store
        self._key = config.id
        self._send = send_once
        self._tag = fingerprint(config.session.get_secret_value())
        self._local = threading.Lock()  # one refresher per process; the store's lock covers the others
        self._seen: set[str] = set()
        self._warned = False
        self._early_failing = False  # an early refresh is failing: warned once, until the session is fresh

    def known_secrets(self) -> list[str]:
        """Every session and refresh token this keeper has handled (for scrubbing messages)."""
        configured = [s.get_secret_value() for s in (self._config.session, self._config.refresh_token)
                      if s is not None]
        return [*configured, *self._seen]

    def current(self) -> Token:
        """The session to use now, with its expiry."""
        if not self._config.can_refresh:
            # The shop file is the only source: its session and expiry, kept in the store for status and alerts.
            fixed = self._from_config()
            stored = self._store.load(self._key)
            if stored is None or (stored.access_token, stored.expires_at) != (fixed.access_token, fixed.expires_at):
                self._store.save(self._key, fixed)
            self._check_lifetime(fixed)
            return fixed
        token = self._load()
        if token is None:
            if self._config.session_expires_at is None:
                # A refreshable session may come without its expiry: a refresh tells it.
                return self._renew(rejected=None)
            token = self._from_config()
            self._store.save(self._key, token)
        if not self._due(token):
            self._recovered()
            return token
        try:
            renewed = self._renew(rejected=None)
        except TransientError:
            # An early refresh that failed for now must not stop calls the current session still serves.
            if self._usable(token, None):
                if not self._early_failing:  # once, not at every call until it works
                    log.warning("taobao shop %s: early session refresh failed; using the current session",
                                self._key)
                self._early_failing = True
                return token
            raise
        self._recovered()
        return renewed

    def _recovered(self) -> None:
        if self._early_failing:
            log.info("taobao shop %s: the session is fresh again", self._key)
            self._early_failing = False

    def renew_after_rejection(self, rejected: Token, err: AuthError) -> Token:
        """The platform refused ``rejected``: refresh it once where the app may, else a person must act."""
        if not self._config.can_refresh:
            raise ReauthorizationRequired(
                f"{err}: the session was refused and this app cannot refresh it: authorise the shop again "
                "and put the new session and session_expires_at in the shop file", code=err.code) from err
        log.info("taobao shop %s: session refused; refreshing", self._key)
        return self._renew(rejected=rejected.access_token)

    def _check_lifetime(self, token: Token) -> None:
        left = clock.ensure_utc(token.expires_at) - clock.now()
        when = clock.shanghai_text(token.expires_at)
        if left <= timedelta(0):
            raise ReauthorizationRequired(
                f"taobao shop {self._key}: the session expired at {when} (Asia/Shanghai): authorise the shop "
                "again and put the new session and session_expires_at in the shop file", code="session-expired")
        if left <= timedelta(hours=self._config.warn_before_hours) and not self._warned:
            self._warned = True
            log.warning("taobao shop %s: the session expires at %s (Asia/Shanghai) and this app cannot refresh "
                        "it: authorise the shop again before then", self._key, when)

    def _from_config(self) -> Token:
        assert self._config.session_expires_at is not None
        refresh = self._config.refresh_token
        return Token(access_token=self._config.session.get_secret_value(),
                     refresh_token=refresh.get_secret_value() if refresh is not None else "",
                     expires_at=clock.ensure_utc(self._config.session_expires_at),
                     extra={"config_session": self._tag, "source": "config"})

    def _renew(self, rejected: str | None) -> Token:
        with self._local, self._store.refresh_lock(self._key) as got:
            if not got:
                return self._from_other_writer(rejected)
            stored = self._load()  # another writer may have finished while we waited
            if stored is not None and self._usable(stored, rejected) and not self._due(stored):
                return stored
            token = stamped(self._refresh(stored), clock.now())
            self._store.save(self._key, token)
            log.info("taobao shop %s: session refreshed, expires %s", self._key, token.expires_at.isoformat())
            return token

    def _from_other_writer(self, rejected: str | None) -> Token:
        stored = self._load()
        if stored is not None and self._usable(stored, rejected):
            return stored
        raise TransientError(f"taobao shop {self._key}: session refresh in progress elsewhere",
                             code="refresh-in-progress")

    def _refresh(self, stored: Token | None) -> Token:
        configured = self._config.refresh_token
        refresh = (stored.refresh_token if stored is not None and stored.refresh_token
                   else configured.get_secret_value() if configured is not None else "")
        try:
            data = self._send(REFRESH_METHOD, {"refresh_token": refresh})
        except (RejectedError, AuthError) as err:
            raise ReauthorizationRequired(
                f"taobao shop {self._key}: the session could not be refreshed ({err}): authorise the shop "
                "again and put the new session and refresh_token in the shop file",
                code=getattr(err, "code", None)) from err
        token = parse_token_result(data, refresh, self._tag)
        self._seen.update((token.access_token, token.refresh_token))
        return token

    def _load(self) -> Token | None:
        token = self._store.load(self._key)
        if token is None or token.extra.get("config_session") != self._tag:
            return None
        self._seen.update(t for t in (token.access_token, token.refresh_token) if t)
        return token

    def _due(self, token: Token) -> bool:
        # the smaller of refresh_before and a fraction of the granted lifetime (adapters.common.tokens)
        return refresh_due(token, timedelta(minutes=self._config.refresh_before_minutes), clock.now())

    @staticmethod
    def _usable(token: Token, rejected: str | None) -> bool:
        return token.access_token != rejected and clock.ensure_utc(token.expires_at) > clock.now()
