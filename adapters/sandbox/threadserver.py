"""A small threaded HTTP/1.1 server for the sandbox simulators (the daemon serves on uvicorn: syncd.httpserver).

Built on the stdlib ``socketserver`` (thread per connection, daemon threads) with a small HTTP/1.1
parser of its own: ``http.server``'s header parsing would cost half the throughput. One ``app``
callable answers every request: ``app(method, path, query, headers, body) -> (status, headers, body)``
(header names lower-cased). Keep-alive is honoured (every answer carries Content-Length) because
httpx clients reuse connections, and each answer is written with a single ``send`` (TCP_NODELAY
too) so that Nagle's algorithm and delayed ACKs cannot add 40 ms to every request.

Bounds: request bodies (``max_body``: larger → 413), connections served at once
(``max_connections``: a connection beyond it first reclaims the slot of an idle keep-alive
connection, as nginx does, else waits in the accept queue for one), idle keep-alive time.
:meth:`HttpServer.stop` closes idle connections at once and gives requests in flight ``grace``
seconds, so it returns in about ``grace`` + 0.1 s whatever a handler is doing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

Response = tuple[int, dict[str, str], bytes]
App = Callable[[str, str, dict[str, str], Mapping[str, str], bytes], Response]

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}
_MAX_LINE = 65536
_MAX_HEADERS = 100
_LINGER = 1.0  # seconds spent reading what a refused client still sends (see _Connection._linger)
# a connection's state: waiting for its first request, answering one, idle between two (keep-alive)
_NEW, _BUSY, _IDLE = "new", "busy", "idle"


class Handler(Protocol):
    """A handler mounted under a path prefix (what :class:`adapters.sandbox.SandboxServer` accepts)."""

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one request; ``path`` is the full request path (prefix included)."""
        ...


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer (UTF-8, CJK kept as is)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    """A plain-text answer."""
    return status, {"Content-Type": content_type}, text.encode()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True  # a handler stuck in I/O never holds the process at exit
    request_queue_size = 256  # the default backlog of 5 drops connections under a benchmark
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], owner: HttpServer) -> None:
        self.owner = owner
        self.slots = threading.BoundedSemaphore(owner.max_connections) if owner.max_connections else None
        super().__init__(addr, _Connection)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.slots is not None and not self._take_slot():
            self.shutdown_request(request)  # stopping
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            if self.slots is not None:
                self.slots.release()
            raise

    def _take_slot(self) -> bool:
        """A slot for one more connection: free, else reclaimed from idle keep-alive connections, else
        waited for (the accept loop waits; the kernel queues new connections). False when stopping."""
        assert self.slots is not None
        if self.slots.acquire(blocking=False):
            return True
        while True:
            # each round: a connection that has just answered may not have marked itself idle yet
            self.owner._close_conns(_IDLE)
            if self.slots.acquire(timeout=0.05):
                return True
            if self.owner.stopping:
                return False

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self.slots is not None:
                self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("HTTP connection failed unexpectedly", exc_info=True)


class _BadRequest(Exception):
    pass


class _Connection(socketserver.StreamRequestHandler):
    """One client connection: a loop of HTTP/1.1 requests (a small parser; the stdlib one is slow)."""

    server: _Server

    def setup(self) -> None:
        super().setup()
        # an idle keep-alive connection is dropped after this (StreamRequestHandler's class-level timeout)
        self.connection.settimeout(self.server.owner.idle_timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (OSError, TimeoutError):
            pass  # the client went away, idled out, or the server is stopping

    def _one_request(self) -> bool:
        owner = self.server.owner
        line = self.rfile.readline(_MAX_LINE)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):  # tolerated stray CRLF between requests
            return True
        owner._state(self.connection, _BUSY)
        try:
            return self._serve(line)
        finally:
            owner._state(self.connection, _IDLE)

    def _serve(self, line: bytes) -> bool:
        owner = self.server.owner
        try:
            method, target, version = line.decode("latin-1").split()
            headers: dict[str, str] = {}
            for _ in range(_MAX_HEADERS):
                raw = self.rfile.readline(_MAX_LINE)
                if raw in (b"\r\n", b"\n", b""):
                    break
                name, sep, value = raw.decode("latin-1").partition(":")
                if not sep:
                    raise _BadRequest("malformed header line")
                headers[name.strip().lower()] = value.strip()
            else:
                raise _BadRequest("too many headers")
            if not version.startswith("HTTP/1."):
                raise _BadRequest("unsupported HTTP version")
            body = self._read_body(headers)
        except (ValueError, _BadRequest) as err:
            self._send("GET", *json_response(400, {"error": f"bad request: {err}"}), close=True)
            return False
        conn = headers.get("connection", "").lower()
        close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
        if body is None:
            self._send(method, *json_response(413, {"error": f"body larger than {owner.max_body} bytes"}),
                       close=True)
            self._linger()
            return False
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            status, out_headers, out = owner.app(method, parts.path, query, headers, body)
        except Exception as err:  # noqa: BLE001 - a handler bug answers 500 and is logged, the connection lives on
            status, out_headers, out = owner._failed(method, parts.path, err, len(body))
        self._send(method, status, out_headers, out, close=close or owner.stopping)
        return not (close or owner.stopping)

    def _read_body(self, headers: dict[str, str]) -> bytes | None:
        """The body, or None when it is larger than allowed (the connection is then closed)."""
        limit = self.server.owner.max_body
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline(_MAX_LINE).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    for _ in range(_MAX_HEADERS):  # trailers
                        if self.rfile.readline(_MAX_LINE) in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                total += size
                if total > limit:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(_MAX_LINE)
        length = int(headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            return None
        return self.rfile.read(length) if length else b""

    def _linger(self) -> None:
        """Half-close, then read (and drop) what the client still sends, for at most a second and
        ``2 × max_body`` bytes: closing on unread data would send a reset, and the client would lose
        the answer explaining the refusal."""
        budget, deadline = 2 * self.server.owner.max_body, time.monotonic() + _LINGER
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while budget > 0 and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    return
                budget -= len(chunk)

    def _send(self, method: str, status: int, headers: dict[str, str], body: bytes, close: bool) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Server: {self.server.owner.name}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "connection")]
        lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if method == "HEAD" else body))


class HttpServer:
    """A threaded HTTP/1.1 server answering every request with ``app``.

    ``error_detail``: a handler exception's text goes into the 500 body and the log (the simulators);
    otherwise the 500 body is generic and the log line names the exception type and its traceback but
    neither its message nor the request body (the daemon: bodies and messages can hold personal data).
    """

    def __init__(self, app: App, *, host: str = "127.0.0.1", port: int = 0, max_body: int = 16 * 1024 * 1024,
                 max_connections: int | None = None, idle_timeout: float = 120.0, name: str = "syncd",
                 error_detail: bool = False) -> None:
        self.app = app
        self.max_body = max_body
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.name = name
        self.error_detail = error_detail
        self._addr = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, str] = {}  # connection → _NEW, _BUSY or _IDLE
        self._cond = threading.Condition()
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` began: answers then close their connection."""
        return self._stopping.is_set()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._conns[conn] = _NEW
            else:
                self._conns.pop(conn, None)
            self._cond.notify_all()

    def _state(self, conn: socket.socket, state: str) -> None:
        with self._cond:
            if conn in self._conns:
                self._conns[conn] = state
            self._cond.notify_all()

    def _answering(self) -> bool:
        return any(state == _BUSY for state in self._conns.values())

    def _failed(self, method: str, path: str, err: Exception, body_len: int) -> Response:
        if self.error_detail:
            log.error("handler failed on %s %s", method, path, exc_info=err)
            return json_response(500, {"error": f"{type(err).__name__}: {err}"})
        frames = "".join(traceback.format_tb(err.__traceback__))
        log.error("handler failed on %s %s: %s (message and %d-byte body not logged)\n%s",
                  method, path, type(err).__name__, body_len, frames.rstrip())
        return json_response(500, {"error": "internal error"})

    def start(self) -> None:
        """Bind and serve in a background daemon thread."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._server = _Server(self._addr, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.name}-http", daemon=True)
        self._thread.start()

    def stop(self, grace: float = 0.0) -> bool:
        """Stop accepting, close idle connections, give requests in flight ``grace`` seconds, release the port.

        Returns False when a request was still being answered at the deadline (its connection is cut;
        its handler thread finishes on its own)."""
        server, self._server = self._server, None
        if server is None:
            return True
        self._stopping.set()
        server.shutdown()
        server.server_close()
        self._close_conns(_NEW, _IDLE)
        deadline = time.monotonic() + grace
        with self._cond:
            while self._answering() and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            finished = not self._answering()
        self._close_conns(_NEW, _IDLE, _BUSY)
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        return finished

    def _close_conns(self, *states: str) -> None:
        """Cut the connections in these states (their threads see end-of-file or an error and end)."""
        with self._cond:
            conns = [c for c, state in self._conns.items() if state in states]
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (127.0.0.1 when bound to every interface)."""
        host = self._addr[0]
        return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.port}"  # noqa: S104 - a comparison
