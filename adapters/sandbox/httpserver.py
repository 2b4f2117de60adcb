"""A small threaded HTTP/1.1 server for the simulators, bound to 127.0.0.1 only.

Built on the stdlib ``socketserver`` (thread per connection, daemon threads) with a small HTTP/1.1
parser of its own: ``http.server``'s header parsing would cost half the throughput.
Handlers are plain objects mounted under a path prefix; each answers
``handle(method, path, query, headers, body) -> (status, headers, body)``. Keep-alive is honoured
(every answer carries Content-Length) because the daemon's httpx client reuses connections, and
each answer is written with a single ``send`` (TCP_NODELAY too) so that Nagle's algorithm and
delayed ACKs cannot add 40 ms to every request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

Response = tuple[int, dict[str, str], bytes]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 500: "Internal Server Error"}
_MAX_BODY = 16 * 1024 * 1024
_MAX_LINE = 65536
_MAX_HEADERS = 100


class Handler(Protocol):
    """What :meth:`SandboxServer.mount` accepts."""

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one request; ``path`` is the full request path (prefix included)."""
        ...


def json_response(status: int, payload: Any) -> Response:
    """A JSON answer (UTF-8, CJK kept as is)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops connections under a benchmark
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], owner: SandboxServer) -> None:
        self.owner = owner
        super().__init__(addr, _Connection)


class _BadRequest(Exception):
    pass


class _Connection(socketserver.StreamRequestHandler):
    """One client connection: a loop of HTTP/1.1 requests (a small parser; the stdlib one is slow)."""

    timeout = 120  # an idle keep-alive connection is dropped after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
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
            pass  # the client went away or idled out

    def _one_request(self) -> bool:
        line = self.rfile.readline(_MAX_LINE)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):  # tolerated stray CRLF between requests
            return True
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
            self._send(method, *json_response(413, {"error": "body too large"}), close=True)
            return False
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        handler = self.server.owner._route(parts.path)
        if handler is None:
            status, out_headers, out = json_response(404, {"error": f"nothing mounted at {parts.path}"})
        else:
            try:
                status, out_headers, out = handler.handle(method, parts.path, query, headers, body)
            except Exception as err:  # a simulator bug must answer 500, not kill the connection silently
                log.exception("sandbox handler failed on %s %s", method, parts.path)
                status, out_headers, out = json_response(500, {"error": f"{type(err).__name__}: {err}"})
        self._send(method, status, out_headers, out, close=close)
        return not close

    def _read_body(self, headers: dict[str, str]) -> bytes | None:
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
                if total > _MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(_MAX_LINE)
        length = int(headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > _MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, method: str, status: int, headers: dict[str, str], body: bytes, close: bool) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Server: syncd-sandbox"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "connection")]
        lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if method == "HEAD" else body))


class SandboxServer:
    """Threaded HTTP server on 127.0.0.1 with handlers mounted under path prefixes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox binds to 127.0.0.1 only")
        self._addr = ("127.0.0.1", port)
        self._mounts: list[tuple[str, Handler]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def mount(self, prefix: str, handler: Handler) -> None:
        """Route every path equal to ``prefix`` or below ``prefix/`` to ``handler`` (longest prefix wins)."""
        prefix = "/" + prefix.strip("/")
        self._mounts.append((prefix, handler))
        self._mounts.sort(key=lambda m: len(m[0]), reverse=True)

    def _route(self, path: str) -> Handler | None:
        for prefix, handler in self._mounts:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return handler
        return None

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def start(self) -> None:
        """Bind and serve in a background daemon thread."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = _Server(self._addr, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close kept-alive connections, release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
