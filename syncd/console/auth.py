"""Who may use the console: password hashes (scrypt), sessions, CSRF tokens and the sign-in rate limit.

- The password is never stored: ``SYNCD_CONSOLE_PASSWORD_HASH`` holds ``scrypt:N:r:p:salt:hash`` (base64), made by
  ``syncd console hash-password``. scrypt is memory-hard and in the standard library (``hashlib.scrypt``).
- A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` behind https) naming a
  record kept in memory: a restart signs everyone out, and nothing about the user travels in the cookie.
- Each session has its own CSRF token; every POST must carry it in the form (compared in constant time).
- Sign-in attempts are limited per client address: after ``MAX_FAILURES`` failures within ``WINDOW`` seconds
  the client is refused until the oldest failure leaves the window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB per check: OWASP's floor for scrypt
_MAX_N = 2**20  # a hash asking for more memory than this (1 GiB) is refused rather than computed
MAX_PASSWORD = 1024  # bytes: a longer "password" is refused before it is hashed


class BadHash(ValueError):
    """``SYNCD_CONSOLE_PASSWORD_HASH`` is not a hash ``syncd console hash-password`` writes."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt:N:r:p:salt:hash`` for ``password`` (a fresh 16-byte salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{_b64(salt)}:{_b64(key)}"


@dataclass(frozen=True)
class PasswordHash:
    """A parsed ``scrypt:…`` hash."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Raises :class:`BadHash` saying what is wrong (never quoting the value)."""
        parts = text.strip().split(":")
        if len(parts) != 6 or parts[0] != "scrypt":
            raise BadHash("expected scrypt:N:r:p:salt:hash, as `syncd console hash-password` prints it")
        try:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt = base64.b64decode(parts[4], validate=True)
            key = base64.b64decode(parts[5], validate=True)
        except ValueError as err:
            raise BadHash("its numbers or its base64 parts do not read") from err
        if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and len(key) >= 16):
            raise BadHash("its scrypt parameters are out of range")
        return cls(n, r, p, salt, key)

    def verify(self, password: str) -> bool:
        """Whether ``password`` matches (constant-time comparison)."""
        raw = password.encode()
        if len(raw) > MAX_PASSWORD:
            return False
        key = hashlib.scrypt(raw, salt=self.salt, n=self.n, r=self.r, p=self.p, dklen=len(self.key),
                             maxmem=128 * self.n * self.r * self.p + 1024 * 1024)
        return hmac.compare_digest(key, self.key)


@dataclass
class Session:
    """One signed-in browser."""

    token: str
    user: str
    csrf: str
    expires: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (ok|error, text) shown once on the next page

    def take_flash(self) -> list[tuple[str, str]]:
        """The messages to show once, and forget them."""
        shown, self.flash = self.flash, []
        return shown


class Sessions:
    """Sessions kept in memory, at most ``limit`` (the oldest signed-in one goes first)."""

    def __init__(self, ttl: float = 12 * 3600, limit: int = 1000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.limit = limit
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._by_token: OrderedDict[str, Session] = OrderedDict()

    def create(self, user: str) -> Session:
        """A new session for ``user``."""
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), self._monotonic() + self.ttl)
        with self._lock:
            self._by_token[session.token] = session
            while len(self._by_token) > self.limit:
                self._by_token.popitem(last=False)
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token`` (None when unknown or expired)."""
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is None:
                return None
            if session.expires <= self._monotonic():
                del self._by_token[token]
                return None
            return session

    def drop(self, token: str | None) -> None:
        """Sign out."""
        if token:
            with self._lock:
                self._by_token.pop(token, None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether the form carried the session's CSRF token."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())


class AttemptLimit:
    """Failed sign-ins per client: at most ``max_failures`` within ``window`` seconds; tracks at most
    ``max_clients`` clients (the stalest is forgotten first, so a flood of addresses cannot grow it)."""

    def __init__(self, max_failures: int = 5, window: float = 300.0, max_clients: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        now = self._monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(1.0, times[0] + self.window - now)

    def failed(self, client: str) -> None:
        """Count one failed sign-in of ``client``."""
        now = self._monotonic()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """A good sign-in clears the client's failures."""
        with self._lock:
            self._failures.pop(client, None)
