"""The sandbox HTTP server: mounts, keep-alive, framing, failures, clean stop."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from syncd.adapters.sandbox.httpserver import SandboxServer, json_response


class Echo:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict, bytes]] = []

    def handle(self, method, path, query, headers, body):
        self.seen.append((method, path, query, body))
        if path.endswith("/boom"):
            raise RuntimeError("boom")
        return json_response(200, {"method": method, "path": path, "query": query,
                                   "ctype": headers.get("content-type"), "body": body.decode()})


@pytest.fixture
def server():
    srv = SandboxServer()
    echo = Echo()
    srv.mount("/a", echo)
    srv.mount("/a/b", Echo())
    srv.start()
    yield srv, echo
    srv.stop()


def test_binds_loopback_only_and_reports_its_url():
    with pytest.raises(ValueError):
        SandboxServer(host="0.0.0.0")
    with SandboxServer() as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}"


def test_many_requests_share_one_keep_alive_connection(server):
    srv, echo = server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    for i in range(50):
        conn.request("POST", f"/a/x?i={i}&k=v", body=b'{"n":1}', headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") is not None
        assert json.loads(resp.read())["query"] == {"i": str(i), "k": "v"}
    assert conn.sock is not None  # never closed by the server
    conn.close()
    assert len(echo.seen) == 50


def test_longest_prefix_wins_and_unknown_paths_are_404(server):
    srv, echo = server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/a/b/c")
    conn.getresponse().read()
    assert echo.seen == []
    conn.request("GET", "/abc")
    assert conn.getresponse().status == 404
    conn.close()


def test_a_handler_exception_is_a_500_and_the_connection_survives(server):
    srv, _ = server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/a/boom")
    resp = conn.getresponse()
    assert resp.status == 500 and "boom" in resp.read().decode()
    conn.request("GET", "/a/ok")
    assert conn.getresponse().status == 200
    conn.close()


def test_chunked_request_body_is_read(server):
    srv, _ = server
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"POST /a/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        data = b""
        for _ in range(100):  # bounded read until the server closes
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in data
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["body"] == "abcde"


def test_stop_closes_kept_alive_connections_and_frees_the_port():
    srv = SandboxServer()
    srv.mount("/", Echo())
    srv.start()
    port = srv.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/x")
    conn.getresponse().read()
    srv.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/x")
        conn.getresponse().read()
    again = SandboxServer(port=port)
    again.start()
    again.stop()


def test_latency_given_delays_every_api_answer_but_not_the_admin_endpoints(monkeypatch):
    import syncd.adapters.sandbox.httpserver as module

    slept: list[float] = []
    monkeypatch.setattr(module.time, "sleep", slept.append)
    srv = SandboxServer(latency=0.25)
    echo = Echo()
    srv.mount("/douyin-2", echo)
    assert srv._dispatch("POST", "/douyin-2/order/searchList", {}, {}, b"")[0] == 200
    assert slept == [0.25]
    assert srv._dispatch("GET", "/douyin-2/_sandbox/state", {}, {}, b"")[0] == 200
    assert slept == [0.25]  # the bench reads the simulators' records at once
