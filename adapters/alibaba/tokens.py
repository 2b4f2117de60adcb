"""The 1688 buyer's token pair: reference/suppliers-tracking-alerts.md §A.3.

The access token lives 10 hours and is refreshed ahead of expiry with ``system.oauth2/getToken``
(grant_type=refresh_token); the refresh token lives about half a year and is extended with
``system.oauth2/postponeToken`` once fewer than 30 days remain (1688 refuses earlier). Every pair is saved
through the core's token store under ``"supplier:" + id`` with its ``refresh_expires_at``, so the core can
warn a person long before the only way back is authorising again in a browser. One refresher at a time:
the single writer of :mod:`adapters.common.tokens` (a process-local lock plus the store's ``refresh_lock``);
this module holds what is 1688's own: getToken, postponeToken and their answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.adapters.alibaba.errors import REAUTHORIZE_HINT
from syncd.adapters.alibaba.mapping import parse_time, text
from syncd.adapters.common.tokens import SingleWriterTokens, stamped
from syncd.domain import Token
from syncd.errors import FatalError, ProtocolError, ReauthorizationRequired, TransientError
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.alibaba")

TOKEN_PATH = "http/1/system.oauth2/getToken"  # noqa: S105 - an endpoint, not a secret
POSTPONE_PATH = "param2/1/system.oauth2/postponeToken"
POSTPONE_WITHIN = timedelta(days=30)  # 1688 only extends a refresh token with less than this left
POSTPONE_PAUSE = timedelta(hours=1)  # after a refused extension, try again this much later
_CLIENT_WORDS = ("invalid_client", "client_secret", "client_id", "appkey", "app key", "signature")

# (path below /openapi/ without the app key, form) → (HTTP status, JSON object body)
SystemPost = Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]


def store_key(supplier_id: str) -> str:
    """Where the pair lives in the core's token store."""
    return f"supplier:{supplier_id}"


class TokenKeeper:
    """The buyer's pair in the core's store: refreshed by a single writer, its refresh token postponed when due."""

    def __init__(self, config: AlibabaSupplierConfig, ctx: AdapterContext, post: SystemPost) -> None:
        self._config = config
        self._post = post
        self._postpone_failed_at: datetime | None = None
        self._lapse_unknown_told = False  # "1688 did not say when the refresh token lapses": once per process
        self._tokens = SingleWriterTokens(
            ctx.tokens, store_key(config.id), who=f"1688 supplier {config.id}",
            refresh_before=timedelta(minutes=config.refresh_before_minutes), exchange=self._refresh, log=log,
            configured=[s.get_secret_value() for s in (config.access_token, config.refresh_token) if s],
            fallback=self._configured, before_use=self._maybe_postpone)

    def known_secrets(self) -> list[str]:
        """Every token string handled so far, for scrubbing messages."""
        return self._tokens.known_secrets()

    # ---- the access token --------------------------------------------------------------------------

    def current(self) -> Token:
        """A usable pair: the stored one, refreshed when due, its refresh token postponed when due."""
        return self._tokens.current()

    def _configured(self) -> Token | None:
        """The supplier file's access token, while nothing is stored (its expiry unknown: not saved)."""
        if self._config.access_token is None or self._config.refresh_token is None:
            return None
        return Token(access_token=self._config.access_token.get_secret_value(),
                     refresh_token=self._config.refresh_token.get_secret_value(),
                     expires_at=clock.now() + timedelta(minutes=1))

    def renew_after_rejection(self, rejected: Token) -> Token:
        """1688 refused ``rejected`` (HTTP 401 / token error): another pair, from the store or a refresh."""
        log.info("1688 supplier %s: access token refused; refreshing", self._config.id)
        return self._tokens.renew_after_rejection(rejected)

    def _refresh(self, stored: Token | None) -> Token:
        if stored is not None:
            refresh_token, lapses = stored.refresh_token, stored.refresh_expires_at
        elif self._config.refresh_token is not None:
            refresh_token, lapses = self._config.refresh_token.get_secret_value(), None
        else:
            raise ReauthorizationRequired(
                f"1688 supplier {self._config.id}: no token pair: authorise the app with the 1688 buyer account "
                "and put refresh_token (and access_token) in the supplier file", code="no-token")
        if lapses is not None and clock.ensure_utc(lapses) <= clock.now():
            raise ReauthorizationRequired(
                f"1688 supplier {self._config.id}: the refresh token lapsed at "
                f"{clock.ensure_utc(lapses).isoformat()}: {REAUTHORIZE_HINT}", code="refresh-expired")
        status, body = self._post(TOKEN_PATH, {
            "grant_type": "refresh_token", "client_id": self._config.app_key,
            "client_secret": self._config.app_secret.get_secret_value(), "refresh_token": refresh_token})
        self._raise_for(status, body, "getToken")
        return self._token_from(body, refresh_token, stored)

    # ---- the refresh token -------------------------------------------------------------------------

    def _maybe_postpone(self, token: Token) -> Token:
        lapses = token.refresh_expires_at
        now = clock.now()
        if lapses is None or clock.ensure_utc(lapses) - now >= POSTPONE_WITHIN or clock.ensure_utc(lapses) <= now:
            return token
        if self._postpone_failed_at is not None and now - self._postpone_failed_at < POSTPONE_PAUSE:
            return token
        try:
            return self._postpone(token)
        except (TransientError, FatalError) as err:
            # The pair still works; a person is warned by the core from refresh_expires_at.
            if self._postpone_failed_at is None:
                log.warning("1688 supplier %s: extending the refresh token (lapses %s) failed: %s", self._config.id,
                            clock.ensure_utc(lapses).isoformat(), err)
            self._postpone_failed_at = now
            return token

    def _postpone(self, token: Token) -> Token:
        with self._tokens.guard() as got:
            if not got:
                return token
            stored = self._tokens.load() or token
            lapses = stored.refresh_expires_at
            if lapses is not None and clock.ensure_utc(lapses) - clock.now() >= POSTPONE_WITHIN:
                return stored  # another writer extended it
            status, body = self._post(POSTPONE_PATH, {
                "client_id": self._config.app_key, "client_secret": self._config.app_secret.get_secret_value(),
                "refresh_token": stored.refresh_token, "access_token": stored.access_token})
            self._raise_for(status, body, "postponeToken")
            refresh = text(body.get("refresh_token"))
            if not refresh:
                raise ProtocolError("1688 postponeToken: answer has no refresh_token")
            self._tokens.remember(refresh)
            new_lapses = self._moment(body.get("refresh_token_timeout"), "postponeToken", "refresh_token_timeout")
            access = text(body.get("access_token")) or stored.access_token
            expires = self._expiry(body, clock.now(), "postponeToken", required=False) or stored.expires_at
            self._tokens.remember(access)
            renewed = Token(access_token=access, refresh_token=refresh, expires_at=expires,
                            refresh_expires_at=new_lapses, extra=stored.extra)
            if expires != stored.expires_at:  # a new access token came with it: its lifetime starts now
                renewed = stamped(renewed, clock.now())
            self._tokens.save(renewed)
            self._postpone_failed_at = None
            log.info("1688 supplier %s: refresh token extended to %s", self._config.id,
                     new_lapses.isoformat() if new_lapses else "an unknown date")
            return renewed

    # ---- answers -----------------------------------------------------------------------------------

    def _raise_for(self, status: int, body: dict[str, Any], what: str) -> None:
        code = text(body.get("error")) or text(body.get("error_code"))
        if status < 400 and not code:
            return
        words = text(body.get("error_description")) or text(body.get("error_message"))
        for secret in [*self.known_secrets(), self._config.app_secret.get_secret_value()]:
            if secret:
                words = words.replace(secret, "***")
        detail = f"1688 {what}: {code or f'HTTP {status}'}" + (f" ({words[:200]})" if words else "")
        haystack = f"{code} {words}".lower()
        if "frequency" in haystack:
            raise TransientError(detail, code=code or None)
        if any(w in haystack for w in _CLIENT_WORDS):
            raise FatalError(f"{detail}: check app_key and app_secret in the supplier file")
        if what == "postponeToken":
            raise FatalError(detail)  # refused (too early, or the pair is gone): the next refresh tells which
        raise ReauthorizationRequired(f"{detail}: {REAUTHORIZE_HINT}", code=code or str(status))

    def _token_from(self, body: dict[str, Any], sent_refresh: str, previous: Token | None) -> Token:
        access = text(body.get("access_token"))
        if not access:
            raise ProtocolError("1688 getToken: answer has no access_token")
        refresh = text(body.get("refresh_token")) or sent_refresh  # a refresh grant may omit it
        self._tokens.remember(access, refresh)
        expires_at = self._expiry(body, clock.now(), "getToken", required=True)
        assert expires_at is not None
        lapses = self._moment(body.get("refresh_token_timeout"), "getToken", "refresh_token_timeout")
        if lapses is None and refresh == sent_refresh and previous is not None:
            lapses = previous.refresh_expires_at
        if lapses is None and not self._lapse_unknown_told:
            self._lapse_unknown_told = True  # the same at every refresh: saying it again tells nothing new
            log.warning("1688 supplier %s: 1688 did not say when the refresh token lapses; no early warning "
                        "is possible until it does", self._config.id)
        extra = {k: text(body[k]) for k in ("memberId", "aliId") if text(body.get(k))}
        return Token(access_token=access, refresh_token=refresh, expires_at=expires_at,
                     refresh_expires_at=lapses, extra=extra or (previous.extra if previous else {}))

    @staticmethod
    def _moment(value: Any, what: str, field: str) -> datetime | None:
        try:
            return parse_time(value)
        except ValueError as err:
            raise ProtocolError(f"1688 {what}: {field} is not a time") from err

    def _expiry(self, body: dict[str, Any], now: datetime, what: str, *, required: bool) -> datetime | None:
        within = text(body.get("expires_in"))
        if within.isascii() and within.isdigit() and int(within) > 0:
            return now + timedelta(seconds=int(within))
        at = self._moment(body.get("expires_time"), what, "expires_time")
        if at is None and required:
            raise ProtocolError(f"1688 {what}: answer has no usable expires_in or expires_time")
        return at


__all__ = ["POSTPONE_PATH", "POSTPONE_WITHIN", "TOKEN_PATH", "TokenKeeper", "store_key"]
