"""Sessions (access tokens) and refresh tokens of the Taobao simulator (reference/storefronts.md §3.3).

A session unknown or expired answers code 27 ``Invalid session`` with sub_code ``invalid-sessionkey`` or
``session-expired``. ``taobao.top.auth.token.refresh`` issues a new pair; what happens to the old pair is
not documented, so here the old session keeps its own expiry, and the superseded refresh token hands
back the pair that replaced it (a retried refresh is harmless). A refused refresh token answers code 15
``isv.refresh-token-invalid`` (the simulator's pick; the reference has no code for it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from syncd.adapters.sandbox.taobao_errors import TopError


@dataclass
class _Session:
    token: str
    expires_at: float


@dataclass
class _Refresh:
    token: str
    session: str
    expires_at: float
    successor: str | None = None
    revoked: bool = False


class SessionStore:
    """Issued sessions and refresh tokens; times are Unix seconds of the simulator's clock. Not thread-safe
    by itself: the simulator serialises calls."""

    def __init__(self, app_key: str, sessions: Mapping[str, str], session_ttl: float, refresh_ttl: float,
                 seed: int, now: float) -> None:
        self._app_key, self._seed = app_key, seed
        self.session_ttl, self.refresh_ttl = session_ttl, refresh_ttl
        self._serial = 0
        self.sessions: dict[str, _Session] = {}
        self.refreshes: dict[str, _Refresh] = {}
        for session, refresh in sessions.items():
            self._add(session, refresh, now)

    def _add(self, session: str, refresh: str, now: float) -> _Session:
        s = self.sessions[session] = _Session(session, now + self.session_ttl)
        if refresh:
            self.refreshes[refresh] = _Refresh(refresh, session, now + self.refresh_ttl)
        return s

    def _new(self, kind: str) -> str:
        self._serial += 1
        digest = hashlib.sha256(f"{self._app_key}|{self._seed}|{kind}|{self._serial}".encode()).hexdigest()
        return f"{kind}{digest[:36]}"

    def check(self, session: str, now: float) -> None:
        """Raise code 27 unless the session exists and has not expired."""
        s = self.sessions.get(session)
        if s is None:
            raise TopError(27, "invalid-sessionkey", "SessionKey非法")
        if now >= s.expires_at:
            raise TopError(27, "session-expired", "SessionKey已过期")

    def refresh(self, refresh_token: str, now: float) -> tuple[str, str, float, float]:
        """A new (session, refresh token, session expiry, refresh expiry)."""
        rec = self.refreshes.get(refresh_token)
        if rec is None or rec.revoked or now >= rec.expires_at:
            raise TopError(15, "isv.refresh-token-invalid", "refresh_token无效或已过期")
        if rec.successor is not None:
            succ = self.refreshes[rec.successor]
            return succ.session, succ.token, self.sessions[succ.session].expires_at, succ.expires_at
        session = self._add(self._new("6201"), self._new("6202"), now)
        new_refresh = next(r for r in self.refreshes.values() if r.session == session.token)
        rec.successor = new_refresh.token
        return session.token, new_refresh.token, session.expires_at, new_refresh.expires_at

    def expire_all(self, now: float) -> int:
        """Every session issued so far expires now (refresh tokens still work); returns how many."""
        for s in self.sessions.values():
            s.expires_at = min(s.expires_at, now)
        return len(self.sessions)

    def revoke_refresh(self) -> None:
        """The seller withdrew the authorisation: no refresh token issued so far works again."""
        for r in self.refreshes.values():
            r.revoked = True

    def first_expiry(self, session: str) -> float | None:
        """When ``session`` expires (None when unknown)."""
        s = self.sessions.get(session)
        return s.expires_at if s else None

    def snapshot(self, now: float) -> dict[str, int]:
        """Counts for the admin state."""
        return {"issued": len(self.sessions), "valid": sum(1 for s in self.sessions.values() if now < s.expires_at)}
