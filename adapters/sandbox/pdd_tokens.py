"""Access / refresh tokens of the Pinduoduo simulator (reference/storefronts.md §2.3).

``pdd.pop.auth.token.refresh`` issues a new pair; the old access token lives on until its own expiry.
How PDD treats a refresh token already used is not documented: here a used refresh token, presented
again before it lapses, returns the newest pair of its chain (a retried refresh, or a second daemon
started from the same shop file, is harmless).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from syncd.adapters.sandbox.pdd_errors import REFRESH, TOKEN, PddApiError


@dataclass
class Pair:
    """An issued pair and its expiries (Unix seconds)."""

    access: str
    refresh: str
    expires_at: float
    refresh_expires_at: float


class PddTokens:
    """Issued tokens; not thread-safe by itself (the simulator serialises calls)."""

    def __init__(self, client_id: str, token_ttl: float, refresh_ttl: float, seed: int) -> None:
        self._client_id = client_id
        self.token_ttl = token_ttl
        self.refresh_ttl = refresh_ttl
        self._seed = seed
        self._serial = 0
        self._access: dict[str, float] = {}  # access token → expiry
        self._refresh: dict[str, Pair] = {}  # refresh token → the pair it came with
        self._successor: dict[str, str] = {}  # used refresh token → the refresh token that replaced it

    def _new(self, kind: str) -> str:
        self._serial += 1
        digest = hashlib.sha256(f"{self._client_id}|{self._seed}|{kind}|{self._serial}".encode()).hexdigest()
        return f"{kind}{digest[:32]}"

    def issue(self, now: float, access: str | None = None, refresh: str | None = None) -> Pair:
        """A new pair (``access`` / ``refresh`` given: pre-issued known values)."""
        pair = Pair(access or self._new("at"), refresh or self._new("rt"), now + self.token_ttl,
                    now + self.refresh_ttl)
        self._access[pair.access] = pair.expires_at
        self._refresh[pair.refresh] = pair
        return pair

    def refresh(self, refresh_token: str, now: float) -> Pair:
        """``pdd.pop.auth.token.refresh``."""
        pair = self._refresh.get(refresh_token)
        if pair is None:
            raise PddApiError(REFRESH, "refresh_token无效")
        if now >= pair.refresh_expires_at:
            raise PddApiError(REFRESH, "refresh_token已过期")
        newest = refresh_token
        for _ in range(len(self._successor) + 1):
            if newest not in self._successor:
                break
            newest = self._successor[newest]
        if newest != refresh_token:
            return self._refresh[newest]
        fresh = self.issue(now)
        self._successor[refresh_token] = fresh.refresh
        return fresh

    def expiry(self, access_token: str) -> float:
        """When the access token expires (now, if it was expired early)."""
        return self._access.get(access_token, 0.0)

    def check(self, access_token: str, now: float) -> None:
        """10019 unless the access token exists and has not expired."""
        expires_at = self._access.get(access_token)
        if expires_at is None:
            raise PddApiError(TOKEN, "access_token不存在或已失效")
        if now >= expires_at:
            raise PddApiError(TOKEN, "access_token已过期，请刷新")

    def expire_all(self, now: float) -> int:
        """Every access token issued so far expires now; returns how many."""
        for token in self._access:
            self._access[token] = min(self._access[token], now)
        return len(self._access)

    def counts(self, now: float) -> dict[str, int]:
        """Access tokens issued and still valid (for the admin state)."""
        return {"issued": len(self._access), "valid": sum(1 for t in self._access.values() if now < t)}
