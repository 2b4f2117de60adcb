"""The simulators' HTTP server: :class:`adapters.sandbox.threadserver.HttpServer` bound to 127.0.0.1, with mounts.

The server itself (HTTP/1.1 parsing, keep-alive, bounds, clean stop) lives in :mod:`adapters.sandbox.threadserver`
(the daemon's own listener runs on uvicorn, :mod:`syncd.httpserver`); this module adds routing by path prefix
to mounted simulators and re-exports what the simulators import (``Response``, ``json_response``, ``Handler``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from syncd.adapters.sandbox.threadserver import Handler, HttpServer, Response, json_response

__all__ = ["Handler", "Response", "SandboxServer", "json_response"]


class SandboxServer:
    """Threaded HTTP server on 127.0.0.1 with handlers mounted under path prefixes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandbox binds to 127.0.0.1 only")
        self._mounts: list[tuple[str, Handler]] = []
        # seconds every API answer takes (a real platform's round trip; ``syncd bench --replicas``): the admin
        # endpoints under ``/_sandbox`` answer at once
        self.latency = latency
        # a simulator bug is worth reading in full: its message goes into the 500 answer
        self._http = HttpServer(self._dispatch, host="127.0.0.1", port=port, name="syncd-sandbox",
                                error_detail=True)

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

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
                  body: bytes) -> Response:
        handler = self._route(path)
        if handler is None:
            return json_response(404, {"error": f"nothing mounted at {path}"})
        if self.latency > 0 and "/_sandbox" not in path:
            time.sleep(self.latency)  # each connection has its own thread: answers overlap, as a platform's do
        return handler.handle(method, path, query, headers, body)

    def start(self) -> None:
        """Bind and serve in a background daemon thread."""
        self._http.start()

    def stop(self) -> None:
        """Stop accepting, close kept-alive connections, release the port."""
        self._http.stop()

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._http.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
