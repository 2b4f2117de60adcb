"""What every alert sink shares: the send window, the retry loop, scrubbing, the HTTP round trip.

A robot that is sent one message too many punishes the robot (DingTalk mutes it for 10 minutes), so
each sink counts its own sends in sliding windows (every attempt that reached the service counts)
and refuses locally, with RateLimitedError and the wait, before the service would. After the
service's own rate-limit answer the sink stays quiet for the penalty it announced.

The windows are kept longer than the service publishes (:func:`paced`): a send is stamped here when it
leaves, the service counts it when it arrives and may count both ends of its window, so a sixth message
leaving exactly one second after the first of five could land inside Feishu's 5-a-second window (issue
15: 6 sends within one second). A wait of up to PACE_IN_PLACE seconds (Feishu's or Slack's per-second
pace) is waited out before the send, with the retry policy's sleep (so SIGTERM cuts it short and tests
move a fake clock); a longer one (a full minute window) is raised as RateLimitedError: the retry policy
waits it out within its budget, else the notifier sends the rest on a later run.

Why not :class:`syncd.ratelimit.RateLimiter`: its token bucket spaces every send evenly (a DingTalk robot:
one each 3 s), where a window lets an incident's first 20 alerts go at once and holds only what passes
the limit; both take an injectable clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from syncd import retry
from syncd.adapters.alerts.errors import Rule, http_refusal, robot_error, unreadable
from syncd.domain import Message
from syncd.errors import RateLimitedError, SyncdError, TransientError
from syncd.http import send
from syncd.registry import AdapterContext

SYSTEM = "alerts"
Monotonic = Callable[[], float]


# How much longer than published each window is kept: a share of it, at least MIN_HEADROOM seconds (the
# spread of network delays between two sends; a 1-second window becomes 1.25 s, a minute 63 s).
HEADROOM = 0.05
MIN_HEADROOM = 0.25


# A local wait up to this long is waited out before the send (Feishu's and Slack's per-second pace); a longer
# one is raised as RateLimitedError for the retry policy or, past its budget, the notifier's next run.
PACE_IN_PLACE = 2.0


def paced(seconds: float) -> float:
    """The window kept locally for a service's window of ``seconds``: longer, so arrivals stay inside the limit."""
    return seconds + max(MIN_HEADROOM, seconds * HEADROOM)


class SendWindow:
    """Sliding windows ``(count, seconds)`` over the sends made, each kept :func:`paced`; thread-safe."""

    def __init__(self, limits: Sequence[tuple[int, float]], monotonic: Monotonic = time.monotonic) -> None:
        if not limits:
            raise ValueError("a send window needs at least one limit")
        self._limits = tuple((count, paced(seconds)) for count, seconds in limits)
        self._span = max(seconds for _, seconds in self._limits)
        self._monotonic = monotonic
        self._times: deque[float] = deque()
        self._quiet_until = 0.0
        self._lock = threading.Lock()

    def take(self) -> float:
        """Count one send now and return 0.0, or return the seconds until one may go (nothing counted)."""
        with self._lock:
            now = self._monotonic()
            while self._times and self._times[0] <= now - self._span:
                self._times.popleft()
            wait = max(0.0, self._quiet_until - now)
            for count, seconds in self._limits:
                recent = [t for t in self._times if t > now - seconds]
                if len(recent) >= count:
                    wait = max(wait, recent[-count] + seconds - now)
            if wait > 0:
                return wait
            self._times.append(now)
            return 0.0

    def quiet(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the service announced a penalty)."""
        with self._lock:
            self._quiet_until = max(self._quiet_until, self._monotonic() + seconds)


class Sink:
    """The parts of :class:`syncd.protocols.AlertSink` every kind shares."""

    kind: str
    noun = "robot"  # how the channel is named in messages: "<kind> <noun> '<id>'"

    def __init__(self, *, kind: str, name: str, per_minute: int, max_bytes: int, ctx: AdapterContext,
                 secrets: Sequence[str | None], extra_limits: Sequence[tuple[int, float]] = (),
                 monotonic: Monotonic = time.monotonic) -> None:
        self.kind = kind
        self.name = name
        self.per_minute = per_minute
        self.max_bytes = max_bytes
        self.label = f"{kind} {self.noun} '{name}'"
        self._ctx = ctx
        self._secrets = tuple(s for s in secrets if s)
        self._window = SendWindow([(per_minute, 60.0), *extra_limits], monotonic)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    def send(self, message: Message) -> None:
        """Deliver one message; transient failures are retried under the shared policy."""
        payload = self._render(message)
        retry.call(self._ctx.retry, lambda: self._guarded(payload), what=self.label)

    def close(self) -> None:
        """Nothing held beyond the shared client."""

    def scrub(self, text: str) -> str:
        """Outside text with every secret of this channel masked (services may echo what they got)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _guarded(self, payload: Any) -> None:
        wait = self._window.take()
        for _ in range(3):  # a few rounds at most: another thread may take the slot we waited for
            if not 0 < wait <= PACE_IN_PLACE or self._stopping():
                break
            # pace: wait here for a short window (a retry attempt is not spent on our own limit)
            self._ctx.retry.sleep(wait)
            wait = self._window.take()
        if wait > 0:
            raise RateLimitedError(f"{self.label}: at its limit of {self.per_minute} messages a minute; "
                                   f"next one in {math.ceil(wait)} s", retry_after=wait, code="local")
        try:
            self._deliver(payload)
        except RateLimitedError as err:
            if err.retry_after:
                self._window.quiet(err.retry_after)
            raise

    def _stopping(self) -> bool:
        stopping = self._ctx.retry.stopping
        return stopping is not None and stopping.is_set()

    def _render(self, message: Message) -> Any:
        raise NotImplementedError

    def _deliver(self, payload: Any) -> None:
        raise NotImplementedError


class HttpSink(Sink):
    """A sink that POSTs through the shared client (:func:`syncd.http.send`, CallStats ``alerts``/kind)."""

    def _post(self, request: httpx.Request) -> httpx.Response:
        """One round trip; 4xx answers come back for the caller to read, 429 / 5xx / network raise."""
        try:
            return send(self._ctx.http, self._ctx.stats, request, system=SYSTEM, api=self.kind, error_bodies=True)
        except TransientError as err:
            detail = str(err).removeprefix(f"{SYSTEM} {self.kind}: ")
            raise type(err)(f"{self.label}: {detail}", retry_after=err.retry_after, code=err.code) from err

    def _robot_verdict(self, resp: httpx.Response, table: Mapping[int, Rule], code_keys: Sequence[str],
                       text_keys: Sequence[str]) -> None:
        """Read a robot's JSON answer: raise unless its code (the first of ``code_keys`` present) means OK."""
        if resp.status_code >= 400:
            raise http_refusal(self.label, resp.status_code, self._text(resp))
        try:
            body = resp.json()
        except ValueError as err:
            raise unreadable(self.label, f"answer is not JSON ({len(resp.content)} bytes)") from err
        if not isinstance(body, dict):
            raise unreadable(self.label, f"answer is JSON {type(body).__name__}, expected an object")
        key = next((k for k in code_keys if k in body), None)
        if key is None:
            raise unreadable(self.label, f"answer has no {' / '.join(code_keys)}")
        code = body[key]
        if isinstance(code, bool) or not isinstance(code, int):
            raise unreadable(self.label, f"{key} is {type(code).__name__}, expected an integer")
        text = next((body[k] for k in text_keys if isinstance(body.get(k), str)), "")
        raise_if(robot_error(table, self.label, code, " ".join(self.scrub(text).split())))

    def _text(self, resp: httpx.Response) -> str:
        """The answer as text, scrubbed and on one line (for messages)."""
        return " ".join(self.scrub(resp.content.decode("utf-8", errors="replace")).split())


def json_headers() -> dict[str, str]:
    """Headers of a JSON POST."""
    return {"Content-Type": "application/json; charset=utf-8"}


def raise_if(err: SyncdError | None) -> None:
    """Raise ``err`` when there is one."""
    if err is not None:
        raise err
