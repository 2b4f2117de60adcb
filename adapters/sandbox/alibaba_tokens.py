"""Access / refresh tokens of the 1688 simulator (reference/suppliers-tracking-alerts.md §A.3).

``getToken`` (grant_type=refresh_token) issues a new 10-hour access token and keeps the refresh token;
``postponeToken`` replaces the refresh token with a new half-year one, only inside its last 30 days
(HTTP 400 before), and the old one stops working. Revoking (admin) kills every refresh token, as a
buyer cancelling the authorisation does. Error bodies follow the OAuth spelling (``error`` /
``error_description``) — the exact 1688 wording is unconfirmed; these are the simulator's choice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from syncd.adapters.sandbox.alibaba_seed import SANDBOX_1688_LOGIN, SANDBOX_1688_MEMBER_ID, compact_time

ACCESS_TTL = 36_000  # 10 hours
REFRESH_TTL = 180 * 86_400  # about half a year
POSTPONE_WITHIN = 30 * 86_400


class TokenFailure(Exception):
    """An OAuth error answer: HTTP status and body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        self.status, self.error, self.description = status, error, description
        super().__init__(f"{error}: {description}")

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Refresh:
    expires_at: float
    alive: bool = True


class AlibabaTokens:
    """Issued tokens; not thread-safe by itself (the simulator serialises calls)."""

    def __init__(self, app_key: str, seed: int, access_ttl: float = ACCESS_TTL,
                 refresh_ttl: float = REFRESH_TTL) -> None:
        self._app_key, self._seed = app_key, seed
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self._serial = 0
        self.access: dict[str, float] = {}  # access token → expiry
        self.refresh: dict[str, Refresh] = {}
        self.refreshes = 0
        self.postpones = 0

    def _new(self, kind: str) -> str:
        self._serial += 1
        digest = hashlib.sha256(f"{self._app_key}|{self._seed}|{kind}|{self._serial}".encode()).hexdigest()
        return f"{kind}-{digest[:36]}"

    def issue(self, now: float, access: str | None = None, refresh: str | None = None) -> tuple[str, str]:
        """A new pair (given values: pre-issued, known to tests and the demo)."""
        a, r = access or self._new("at"), refresh or self._new("rt")
        self.access[a] = now + self.access_ttl
        self.refresh[r] = Refresh(now + self.refresh_ttl)
        return a, r

    def answer(self, access: str, refresh: str, now: float) -> dict[str, Any]:
        """The token answer 1688 gives (§A.3 field names)."""
        lapses = self.refresh[refresh].expires_at
        return {"access_token": access, "refresh_token": refresh, "expires_in": str(int(self.access[access] - now)),
                "expires_time": compact_time(self.access[access]), "refresh_token_timeout": compact_time(lapses),
                "resource_owner": SANDBOX_1688_LOGIN, "memberId": SANDBOX_1688_MEMBER_ID, "aliId": "2209000000001",
                "uid": "2209000000001"}

    def _live(self, refresh_token: str, now: float) -> Refresh:
        record = self.refresh.get(refresh_token)
        if record is None or not record.alive:
            raise TokenFailure(401, "invalid_grant", "refresh_token is invalid or the authorisation was revoked")
        if now >= record.expires_at:
            raise TokenFailure(401, "invalid_grant", "refresh_token expired")
        return record

    def grant(self, refresh_token: str, now: float) -> dict[str, Any]:
        """``getToken`` with grant_type=refresh_token."""
        self._live(refresh_token, now)
        access = self._new("at")
        self.access[access] = now + self.access_ttl
        self.refreshes += 1
        return self.answer(access, refresh_token, now)

    def postpone(self, refresh_token: str, access_token: str, now: float) -> dict[str, Any]:
        """``postponeToken``: a new refresh token for an old one in its last 30 days."""
        record = self._live(refresh_token, now)
        if access_token not in self.access:
            raise TokenFailure(400, "invalid_request", "access_token is invalid")
        if record.expires_at - now >= POSTPONE_WITHIN:
            raise TokenFailure(400, "invalid_request", "refresh_token can only be postponed in its last 30 days")
        record.alive = False
        fresh = self._new("rt")
        self.refresh[fresh] = Refresh(now + self.refresh_ttl)
        self.postpones += 1
        return self.answer(access_token, fresh, now)

    def check(self, access_token: str, now: float) -> str | None:
        """Why the access token is refused (None when it is good)."""
        expires_at = self.access.get(access_token)
        if expires_at is None:
            return "access_token is invalid"
        if now >= expires_at:
            return "access_token expired"
        return None

    def expire_access(self, now: float) -> int:
        """Every access token issued so far expires now."""
        for token in self.access:
            self.access[token] = min(self.access[token], now)
        return len(self.access)

    def revoke(self, now: float) -> None:
        """The buyer withdrew the authorisation: no token works any more."""
        self.expire_access(now)
        for record in self.refresh.values():
            record.alive = False

    def age_refresh(self, days_left: float, now: float) -> None:
        """Every live refresh token lapses ``days_left`` days from now (to reach the postpone window)."""
        for record in self.refresh.values():
            if record.alive:
                record.expires_at = now + days_left * 86_400

    def counts(self, now: float) -> dict[str, int]:
        return {"access_valid": sum(1 for t in self.access.values() if now < t),
                "refresh_alive": sum(1 for r in self.refresh.values() if r.alive and now < r.expires_at),
                "refreshes": self.refreshes, "postpones": self.postpones}
