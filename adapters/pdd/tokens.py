"""The Pinduoduo shop's token pair: reference/storefronts.md §2.3.

Refreshed with ``pdd.pop.auth.token.refresh`` before its ``expires_at`` and once when a call answers
10019; saved through the core's token store under the syncd shop id, by a single writer
(:mod:`adapters.common.tokens`). This module holds what is Pinduoduo's own: the refresh call and its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.common.fields import digits
from syncd.adapters.common.tokens import SingleWriterTokens
from syncd.adapters.pdd.config import PddShopConfig
from syncd.domain import Token
from syncd.errors import AuthError, ProtocolError, ReauthorizationRequired, RejectedError
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.pdd")

REFRESH_API = "pdd.pop.auth.token.refresh"
_EPOCH_THRESHOLD = 10**9  # an *_in above this is an absolute Unix time, not a duration
_MILLIS_THRESHOLD = 10**12  # an *_at above this is in milliseconds

Sender = Callable[[str, dict[str, Any], str | None], dict[str, Any]]


class TokenKeeper:
    """The shop's pair in the core's store, refreshed by a single writer with ``pdd.pop.auth.token.refresh``."""

    def __init__(self, config: PddShopConfig, ctx: AdapterContext, send_once: Sender) -> None:
        self._config = config
        self._key = config.id
        self._send = send_once
        auth = config.auth
        self._tokens = SingleWriterTokens(
            ctx.tokens, config.id, who=f"pdd shop {config.id}",
            refresh_before=timedelta(minutes=config.refresh_before_minutes), exchange=self._refresh, log=log,
            configured=[auth.access_token.get_secret_value(), auth.refresh_token.get_secret_value()] if auth else [])

    def known_secrets(self) -> list[str]:
        """Every token string this keeper has handled (for scrubbing messages)."""
        return self._tokens.known_secrets()

    def current(self) -> Token:
        """The stored token when it is not due for refresh; otherwise a refreshed one."""
        return self._tokens.current()

    def renew_after_rejection(self, rejected: Token) -> Token:
        """The platform refused ``rejected`` (10019): another pair, from the store or a refresh."""
        log.info("pdd shop %s: access token refused as expired; refreshing", self._key)
        return self._tokens.renew_after_rejection(rejected)

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
        self._tokens.remember(access, refresh)
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


def _number(value: Any) -> int | None:
    if (d := digits(value)) is not None:
        return int(d)
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
