"""The shared HTTP client. Only this module reads HTTP status codes and httpx exceptions."""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections import Counter, deque
from functools import lru_cache
from typing import Any, TypeVar

import httpx

from syncd import __version__, clock, jsoncodec
from syncd.config.models import HttpSettings
from syncd.errors import (
    AuthError,
    FatalError,
    ProtocolError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from syncd.ratelimit import KEPT_TIMES, peak_per_second

E = TypeVar("E", bound=Exception)
MAX_CODES_PER_SYSTEM = 64  # distinct platform codes counted per system; more go under "other"
_CODE_CHARS = re.compile(r"[^A-Za-z0-9_.:-]")


def error_kind(err: Exception) -> str:
    """What a platform error means to syncd, as a metric label."""
    for cls, kind in ((RateLimitedError, "rate_limited"), (TransientError, "transient"), (AuthError, "auth"),
                      (ProtocolError, "protocol"), (FatalError, "fatal"), (RejectedError, "rejected")):
        if isinstance(err, cls):
            return kind
    return "other"


class CallStats:
    """Outside calls counted per (system, api), per (system, api, outcome), and the platforms' own error
    codes per (system, api, code, kind); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[tuple[str, str, str]] = Counter()
        self.codes: Counter[tuple[str, str, str, str]] = Counter()
        self._codes_seen: dict[str, set[str]] = {}
        self.span: dict[tuple[str, str], tuple[float, float]] = {}  # first and last call (monotonic seconds)
        # recent call times per API, for the peak sustained rate (bounded: the last 20,000 calls of each)
        self.times: dict[tuple[str, str], deque[float]] = {}

    def peak_rate(self, system: str, api: str, window: float = 10.0) -> float:
        """The most calls per second over any ``window`` seconds: what the API reached while saturated."""
        with self._lock:
            times = list(self.times.get((system, api), ()))
        return peak_per_second(times, window)

    def record(self, system: str, api: str, error: str | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self.calls[(system, api)] += 1
            first, _ = self.span.get((system, api), (now, now))
            self.span[(system, api)] = (first, now)
            self.times.setdefault((system, api), deque(maxlen=KEPT_TIMES)).append(now)
            if error:
                self.errors[(system, api, error)] += 1

    def platform_error(self, system: str, api: str, err: E, code: object = None) -> E:
        """Count a platform's own error code (an error answer inside HTTP 200, or a 4xx body the adapter
        classified) and return ``err``, for ``raise stats.platform_error(SYSTEM, api, error_for(...))``;
        ``code`` is the platform's code when the error does not carry it.

        The code comes from outside: it is cut to 32 safe characters and, past :data:`MAX_CODES_PER_SYSTEM`
        distinct codes of one system, counted as ``other`` (a garbled answer must not mint series)."""
        raw = code if code not in (None, "") else getattr(err, "code", None)
        code = _CODE_CHARS.sub("_", str(raw))[:32] if raw not in (None, "") else "none"
        with self._lock:
            seen = self._codes_seen.setdefault(system, set())
            if code not in seen:
                if len(seen) >= MAX_CODES_PER_SYSTEM:
                    code = "other"
                else:
                    seen.add(code)
            self.codes[(system, api, code, error_kind(err))] += 1
        return err


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing a server sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.Client):
    """httpx.Client without cookies. The one client serves every shop and supplier: a cookie one shop's
    gateway set must not ride along on another shop's calls, and none of these APIs authenticates by cookie
    (each request is signed). Reading Set-Cookie into the standard library's jar also cost about a twelfth
    of every fast call's CPU, answers that set no cookie included."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise AttributeError("syncd's HTTP client keeps no cookies")


def build_client(settings: HttpSettings) -> httpx.Client:
    """One client for the whole process: timeouts, connection limits, user agent, no cookies."""
    return _Client(
        timeout=httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)),
        limits=httpx.Limits(max_connections=settings.max_connections,
                            max_keepalive_connections=settings.max_connections),
        headers={"User-Agent": f"syncd/{__version__}"},
        follow_redirects=False,
    )


@lru_cache(maxsize=1024)
def endpoint(url: str) -> httpx.URL:
    """``url`` parsed once: an adapter's endpoints are few and asked for on every call, and parsing the text
    (host, IP address, percent-encoding) was three quarters of building a request (58 µs of 77 on the bench's
    2-core EPYC). httpx URLs are immutable; a request built on one copies it. Bounded: a URL naming an order (a
    webhook supplier's status path) is parsed again once it has fallen out."""
    return httpx.URL(url)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    seconds = value.strip()
    if seconds.isascii() and seconds.isdigit():  # '²'.isdigit() is True, and float('²') raises
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (clock.ensure_utc(when) - clock.now()).total_seconds())


def send(client: httpx.Client, stats: CallStats, request: httpx.Request, *, system: str, api: str,
         error_bodies: bool = False) -> httpx.Response:
    """Send one request; network failures, 429 and 5xx become TransientError, other 4xx ProtocolError.

    ``error_bodies``: return 4xx answers (429 aside) to the caller, for APIs that explain an error in the
    body of a 4xx (the 1688 gateway: 401 with ``error_code``); the caller classifies them by that body."""
    try:
        resp = client.send(request)
    except httpx.TimeoutException as err:
        stats.record(system, api, "timeout")
        raise TransientError(f"{system} {api}: timed out ({type(err).__name__})", code="timeout") from err
    except httpx.TransportError as err:
        stats.record(system, api, "network")
        raise TransientError(f"{system} {api}: network error ({type(err).__name__})", code="network") from err
    status = resp.status_code
    if status == 429:
        stats.record(system, api, "http-429")
        raise RateLimitedError(f"{system} {api}: HTTP 429", retry_after=_retry_after(resp), code="429")
    if status >= 500:
        stats.record(system, api, f"http-{status}")
        raise TransientError(f"{system} {api}: HTTP {status}", retry_after=_retry_after(resp), code=str(status))
    if status >= 400:
        stats.record(system, api, f"http-{status}")
        if error_bodies:
            return resp
        raise ProtocolError(f"{system} {api}: HTTP {status}")
    stats.record(system, api)
    return resp


def json_object(resp: httpx.Response, *, system: str, api: str) -> dict[str, Any]:
    """The body as a JSON object, or ProtocolError naming the call."""
    try:
        body = jsoncodec.loads(resp.content)
    except ValueError as err:
        raise ProtocolError(f"{system} {api}: answer is not JSON ({len(resp.content)} bytes)") from err
    if not isinstance(body, dict):
        raise ProtocolError(f"{system} {api}: answer is JSON {type(body).__name__}, expected an object")
    return body
