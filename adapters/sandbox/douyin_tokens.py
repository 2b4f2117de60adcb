"""Access / refresh tokens of the Douyin simulator (reference/storefronts.md §1.3).

Refresh semantics, from the ``token.refresh`` documentation:

1. more than 1 h before the access token expires: the SAME pair comes back, expiry unchanged;
2. within the last hour: a NEW pair; the old pair stays valid for one more hour;
3. after expiry: a NEW pair; the old pair is invalid at once.

Whether the old refresh token may itself be used again during its grace hour is not documented;
here it returns the pair that superseded it (so a retried refresh is harmless) until the grace ends.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from syncd.adapters.sandbox.douyin_errors import ApiError as TokenError


@dataclass
class _Access:
    token: str
    refresh: str
    expires_at: float


@dataclass
class _Refresh:
    token: str
    access: str
    expires_at: float
    successor: str | None = None  # refresh token that replaced this one


class TokenStore:
    """Issued tokens; thread-safe. Times are Unix seconds from the simulator's clock."""

    def __init__(self, app_key: str, token_ttl: float, refresh_ttl: float, seed: int) -> None:
        self._app_key = app_key
        self.token_ttl = token_ttl
        self.refresh_ttl = refresh_ttl
        self._seed = seed
        self._serial = 0
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._lock = threading.Lock()

    def _new_token(self, kind: str) -> str:
        self._serial += 1
        digest = hashlib.sha256(f"{self._app_key}|{self._seed}|{kind}|{self._serial}".encode()).hexdigest()
        return f"{kind}-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:28]}"

    def _issue(self, now: float) -> _Access:
        access = _Access(self._new_token("at"), self._new_token("rt"), now + self.token_ttl)
        self._access[access.token] = access
        self._refresh[access.refresh] = _Refresh(access.refresh, access.token, now + self.refresh_ttl)
        return access

    def create(self, now: float) -> tuple[str, str, float]:
        """``token.create``: a fresh pair (access, refresh, access expiry)."""
        with self._lock:
            a = self._issue(now)
            return a.token, a.refresh, a.expires_at

    def refresh(self, refresh_token: str, now: float) -> tuple[str, str, float]:
        """``token.refresh`` with the three documented cases."""
        with self._lock:
            rec = self._refresh.get(refresh_token)
            if rec is None:
                raise TokenError(50001, "dop.token-generate-failed:token-invalid", "refresh_token无效")
            if now >= rec.expires_at:
                raise TokenError(50001, "dop.token-generate-failed:token-expired", "refresh_token已过期")
            if rec.successor is not None:  # superseded, still within its grace hour
                succ = self._refresh[rec.successor]
                a = self._access[succ.access]
                return a.token, a.refresh, a.expires_at
            access = self._access.get(rec.access)
            if access is not None and now < access.expires_at - 3600:
                return access.token, access.refresh, access.expires_at
            new = self._issue(now)
            rec.successor = new.refresh
            if access is not None and now < access.expires_at:
                access.expires_at = now + 3600
                rec.expires_at = min(rec.expires_at, now + 3600)
            else:
                self._access.pop(rec.access, None)
                rec.expires_at = now  # invalid at once
            return new.token, new.refresh, new.expires_at

    def check(self, access_token: str, now: float) -> None:
        """Raise TokenError unless the access token exists and has not expired."""
        with self._lock:
            a = self._access.get(access_token)
            if a is None:
                raise TokenError(40003, "isv.access-token-no-existed",
                                 "access_token不存在,请使用最新的access_token访问")
            if now >= a.expires_at:
                raise TokenError(40003, "isv.access-token-expired", "access_token已过期,请刷新access_token或重新授权")

    def expire(self, now: float, access_token: str | None = None, expires_in: float = 0) -> int:
        """Admin: set the expiry of one (or every) access token to ``now + expires_in``; returns how many."""
        with self._lock:
            targets = [self._access[access_token]] if access_token in self._access else (
                [] if access_token else list(self._access.values()))
            for a in targets:
                a.expires_at = now + expires_in
            return len(targets)

    def expire_refresh(self, now: float, refresh_token: str | None = None) -> int:
        """Admin: make one (or every) refresh token expired."""
        with self._lock:
            targets = [self._refresh[refresh_token]] if refresh_token in self._refresh else (
                [] if refresh_token else list(self._refresh.values()))
            for r in targets:
                r.expires_at = now
            return len(targets)

    def snapshot(self, now: float) -> list[dict[str, object]]:
        """Admin view of the access tokens (expiry relative to now)."""
        with self._lock:
            return [{"access_token": a.token, "refresh_token": a.refresh, "expires_in": int(a.expires_at - now),
                     "valid": now < a.expires_at} for a in self._access.values()]
