"""The daemon's HTTP server: uvicorn (h11) on an asyncio loop in a thread of its own, with deadlines added.

Why uvicorn: the hand-written server this replaces gave each connection a thread out of 16, and its socket
timeout restarted on every byte, so 20 clients sending a header line every 10 s froze every endpoint. On
asyncio a waiting connection costs a few kilobytes and no thread; h11 is a strict, well-tested parser.

What uvicorn lacks, :class:`_GuardedH11` adds (uvicorn issue #157: ``timeout_keep_alive`` is cancelled by
the first byte, so a client trickling bytes holds its connection for ever):

- a TOTAL deadline for the request head (from the connection, or from the end of the previous exchange on
  a kept-alive connection), and another for the body once the head is in; at the deadline the client gets
  408 and the connection is closed, whatever it trickled (an idle one is closed quietly);
- a bound on connections: the one beyond ``max_connections`` is answered 503 at once (Retry-After: 1);
- a bound on body bytes read and dropped after an early answer (a 413 lets the client finish sending).

Bodies are capped before they are read and handlers run in daemon threads bounded by ``max_in_flight`` (see
:mod:`syncd.httpd`). Refusals (400, 408, 413, 503) are logged aggregated by :class:`RefusalLog`, one line
per source per minute. uvicorn installs no signal handler here (it only does so in the main thread): the
daemon's own SIGTERM handling stays in charge, and :meth:`HttpServer.stop` shuts the loop down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger("syncd.httpserver")

ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]],
                    Callable[[MutableMapping[str, Any]], Awaitable[None]]], Awaitable[None]]

LINGER = 1.0  # seconds a refused connection is read (and dropped) after its answer, before it is closed
_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 16\r\n" \
       b"connection: close\r\n\r\nrequest timeout\n"

_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n" \
       b"content-length: 23\r\nconnection: close\r\n\r\nrequest head too large\n"


@dataclass(frozen=True)
class Limits:
    """How much one port gives its clients. Defaults suit callbacks and scrapes (small bodies, quick clients)."""

    max_body: int = 1024 * 1024  # bytes; a larger body is answered 413 before it is read
    header_timeout: float = 10.0  # seconds for the whole request head (request line and headers)
    body_timeout: float = 30.0  # seconds for the whole body, once the head is in
    keep_alive: int = 5  # seconds an idle kept-alive connection stays open
    max_connections: int = 512  # connections at once; the next one is answered 503
    max_in_flight: int = 16  # handlers running at once (each in a thread); the next request is answered 503
    max_head: int = 16 * 1024  # bytes of request line and headers (larger: 400)
    discard_limit: int = 2 * 1024 * 1024  # body bytes read and dropped after an early answer, then closed


class BodyTooLarge(Exception):
    """A request body past its cap (:func:`read_body`)."""


async def read_body(request: Any, limit: int) -> bytes:
    """A Starlette request's body, at most ``limit`` bytes: a larger declared length is refused unread, a body
    that passes the cap while it streams is refused as soon as it does (:class:`BodyTooLarge` either way).
    Starlette's ``ClientDisconnect`` passes through."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class RefusalLog:
    """Refused requests logged aggregated: one line per source per minute, with a count.

    The first refusal from a quiet source is logged at once; the ones that follow within the minute are
    counted and logged as one line when the minute is over (at the next :meth:`note` or :meth:`flush`), so a
    flood of forged callbacks writes one line a minute, not one per request. ``source`` and ``reason`` must
    not hold personal data; values from outside are quoted with ``%r`` by the caller."""

    WINDOW = 60.0

    def __init__(self, logger: logging.Logger, what: str = "request(s)",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._what = what
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # source → (start of its window, refusals counted in it by reason)
        self._open: dict[str, tuple[float, Counter[str]]] = {}

    def note(self, source: str, reason: str) -> None:
        """Count one refusal from ``source`` for ``reason``."""
        now = self._monotonic()
        lines = self._due(now)
        first = False
        with self._lock:
            window = self._open.get(source)
            if window is None:
                self._open[source] = (now, Counter())
                first = True
            else:
                window[1][reason] += 1
        for line in lines:
            self._log.warning("%s", line)
        if first:
            self._log.warning("%s refused from %s (%s); more from it are counted and logged once a minute",
                              self._what, source, reason)

    def flush(self) -> None:
        """Log the windows that are over (the listener calls this every few seconds)."""
        for line in self._due(self._monotonic()):
            self._log.warning("%s", line)

    def _due(self, now: float) -> list[str]:
        lines = []
        with self._lock:
            for source, (start, counts) in list(self._open.items()):
                if now - start < self.WINDOW:
                    continue
                if counts:
                    reasons = ", ".join(f"{reason} ×{n}" for reason, n in counts.most_common())
                    lines.append(f"{sum(counts.values())} more {self._what} refused from {source} in the last "
                                 f"minute ({reasons})")
                    self._open[source] = (now, Counter())  # a flood goes on: keep summing it up
                else:
                    del self._open[source]  # quiet for a minute: the next refusal is logged at once
        return lines


class _QuietFilter(logging.Filter):
    """uvicorn's own per-request warnings: the refusal log counts those requests instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Invalid HTTP request received."


_PROTOCOL_LOG = logging.getLogger("syncd.httpserver.h11")
_PROTOCOL_LOG.addFilter(_QuietFilter())


async def _over_capacity(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", b"1"),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b"over capacity, try again\n"})


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with total deadlines for the request head and body and a connection bound.

    Subclassed per server (:func:`_protocol_for`) to carry its limits, name and refusal log."""

    limits: ClassVar[Limits]
    port_name: ClassVar[str]
    refusals: ClassVar[RefusalLog]

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.logger = _PROTOCOL_LOG
        self._timer: asyncio.TimerHandle | None = None
        self._phase = ""  # "head" or "body" while a deadline runs
        self._got_bytes = False
        self._discarded = 0
        self._head_len, self._tail = 0, b""  # bytes of the request head so far, the last 3 seen
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # answered 503 once its request head is in (within the head deadline), then closed
            self.app = _over_capacity
            self.refusals.note(f"{self.port_name} port", "over capacity (503)")
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused and half-closed: drop what still comes, within the bound
            self._discarded += len(data)
            if self._discarded > self.limits.discard_limit:
                self.transport.close()
            return
        if self.conn.their_state is h11.IDLE:
            if self._phase != "head":
                self._wait_for_head()
            self._got_bytes = True
            if self._head_too_long(data):
                return
        if self.conn.our_state in (h11.DONE, h11.MUST_CLOSE) and self.conn.their_state is h11.SEND_BODY:
            # answered early (413): what the client still sends is dropped, up to a bound
            self._discarded += len(data)
            if self._discarded > self.limits.discard_limit:
                self._close_softly()
                return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _wait_for_head(self) -> None:
        """The next request head is due within ``header_timeout``: from the connection, or from the end of the
        previous exchange (a kept-alive connection idle that long is closed quietly, as uvicorn would)."""
        self._got_bytes = False
        self._head_len, self._tail = 0, b""
        self._arm("head")

    def _head_too_long(self, data: bytes) -> bool:
        """Count the request head's bytes (h11 bounds only a head that arrives in pieces); past ``max_head``
        answer 431 and close."""
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            end = seen.find(b"\n\n")
        self._head_len += (end - len(self._tail) if end >= 0 else len(data))
        self._tail = seen[-3:] if end < 0 else b""
        if self._head_len <= self.limits.max_head:
            return False
        self.refusals.note(f"{self.port_name} port", "request head too large (431)")
        self.transport.write(_431)
        self._close_softly()
        return True

    def _close_softly(self) -> None:
        """Half-close after a refusal and drop what the client still sends, for at most ``LINGER`` seconds:
        closing on unread data sends a reset, and the client would lose the answer explaining the refusal."""
        self._disarm()
        self._lingering = True
        self._discarded = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()
            return
        self._timer = self.loop.call_later(LINGER, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.refusals.note(f"{self.port_name} port", "malformed request (400)")
        super().send_400_response(msg)

    def _follow(self) -> None:
        """Move the deadline along with the request: head, then body, then none while the answer is made."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body")
        elif state is h11.IDLE:
            if self._phase != "head":  # after an answer, or after the rest of an early-answered body
                self._wait_for_head()
        else:  # the request is complete (or the connection is ending): the handler's time is not the client's
            self._disarm()
            self._discarded = 0

    def _arm(self, phase: str) -> None:
        self._disarm()
        self._phase = phase
        delay = self.limits.header_timeout if phase == "head" else self.limits.body_timeout
        self._timer = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._phase = None, ""

    def _expired(self) -> None:
        phase, self._timer, self._phase = self._phase, None, ""
        if self.transport.is_closing():
            return
        cycle = self.cycle if phase == "body" else None
        if phase == "body" and cycle is not None and not cycle.response_started:
            self.transport.write(_408)
            cycle.disconnected = True  # the handler reading the body sees the client gone
            cycle.message_event.set()
        elif phase == "head" and self._got_bytes:
            self.transport.write(_408)
        if not self._got_bytes:
            self.transport.close()
            return
        self.refusals.note(f"{self.port_name} port", f"{phase} not received within the deadline (408)")
        self._close_softly()


def _protocol_for(limits: Limits, name: str, refusals: RefusalLog) -> type[_GuardedH11]:
    return type(f"GuardedH11_{name}", (_GuardedH11,),
                {"limits": limits, "port_name": name, "refusals": refusals})


class HttpServer:
    """One port served by uvicorn on an asyncio loop in a daemon thread of its own.

    :meth:`start` binds in the caller's thread (a busy port fails there) and returns once the port serves;
    :meth:`stop` stops accepting, closes idle connections, gives handlers in flight ``grace`` seconds (then
    ``stopping`` is set: :mod:`syncd.httpd` answers them 503) and returns within about ``grace`` + 0.3 s."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None,
                 name: str = "http", refusals: RefusalLog | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.name = name
        self.refusals = refusals or RefusalLog(log, "request(s)")
        self._addr = (host, port)
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self.stopping: asyncio.Event | None = None  # set at the stop deadline (on the server's loop)

    def start(self) -> None:
        """Bind, then serve in a background thread; raises OSError when the port cannot be bound."""
        if self._server is not None:
            raise RuntimeError("server already started")
        host, port = self._addr
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        config = Config(self._guard, http=_protocol_for(self.limits, self.name, self.refusals), ws="none",
                        lifespan="off", log_config=None, log_level="warning", access_log=False,
                        proxy_headers=False, server_header=False, interface="asgi3",
                        timeout_keep_alive=self.limits.keep_alive, limit_concurrency=None,
                        timeout_graceful_shutdown=5, h11_max_incomplete_event_size=self.limits.max_head)
        self._sock, self._server = sock, uvicorn.Server(config)
        self._ready.clear()
        self._failed = None
        self._thread = threading.Thread(target=self._run, name=f"syncd-{self.name}-http", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failed is not None or not self._ready.is_set():
            self._server = None
            raise RuntimeError(f"the {self.name} HTTP server did not start") from self._failed

    async def _guard(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """What h11 lets through but no client of ours sends: an HTTP version other than 1.0 / 1.1 (505), and
        both Content-Length and Transfer-Encoding (400: the shape of request smuggling behind a proxy)."""
        status = 0
        if scope.get("type") == "http":
            if scope.get("http_version") not in ("1.0", "1.1"):
                status = 505
            else:
                names = {bytes(k).lower() for k, _ in scope.get("headers", [])}
                if b"content-length" in names and b"transfer-encoding" in names:
                    status = 400
        if not status:
            await self.app(scope, receive, send)
            return
        self.refusals.note(f"{self.name} port", f"refused request framing ({status})")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": b"bad request\n"})

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # noqa: BLE001 - reported to start(); uvicorn calls sys.exit on failure
            self._failed = err
            log.error("the %s HTTP server stopped: %s", self.name, type(err).__name__)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        assert self._server is not None and self._sock is not None
        self._loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        serve = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started and not serve.done():  # noqa: ASYNC110 - uvicorn has no "started" event
            await asyncio.sleep(0.005)
        self._ready.set()
        flusher = asyncio.create_task(self._flush_refusals())
        try:
            await serve
        finally:
            flusher.cancel()

    async def _flush_refusals(self) -> None:
        while True:
            await asyncio.sleep(5)
            self.refusals.flush()

    def stop(self, grace: float = 0.5) -> None:
        """Stop accepting, close idle connections, answer what is still in flight after ``grace`` seconds."""
        server, loop, thread = self._server, self._loop, self._thread
        self._server = None
        if server is None or loop is None or thread is None:
            return

        def begin() -> None:
            server.should_exit = True
            if self.stopping is not None:
                loop.call_later(grace, self.stopping.set)

        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(begin)
        thread.join(grace + 3.0)
        if thread.is_alive():
            log.warning("the %s HTTP server did not stop within %.1f s", self.name, grace + 3.0)
        self._thread = self._loop = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None or self._sock is None:
            raise RuntimeError("server not started")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (127.0.0.1 when bound to every interface)."""
        host = self._addr[0]
        return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.port}"  # noqa: S104 - a comparison

    def run_in_thread(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run the blocking ``fn`` in a new daemon thread (a stuck handler never holds the process at exit);
        the future is resolved on the server's loop. Callers bound how many run at once."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if fut.done():
                return
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

        def work() -> None:
            try:
                result: tuple[bool, Any] = (True, fn())
            except BaseException as err:  # noqa: BLE001 - handed to the awaiting coroutine
                result = (False, err)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, *result)

        threading.Thread(target=work, name=f"syncd-{self.name}-handler", daemon=True).start()
        return fut
