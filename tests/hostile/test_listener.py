"""Attacks on the daemon's HTTP ports, each through a real socket; the list a newcomer reads.

Deadlines are shortened (0.6 s for the request head, 0.6 s for the body) so that nothing here waits long;
the tests never sleep: clients pace themselves with socket timeouts while the server's deadline runs.

Per endpoint, what is tried (every one must be refused, none accepted):
- every port: 25 clients trickling header lines (slowloris), a body trickled past its deadline, a body
  declared larger than 1 MiB, a chunked body growing past 1 MiB, more connections than allowed, more
  handlers than allowed, 14 malformed request heads (see MALFORMED), a request head over 16 KiB;
- ``POST /callbacks/suppliers/<id>``: an unknown id, a forged signature (identical answers), a flood of
  forgeries (one log line a minute);
- ``POST /callbacks/kuaidi100``: ``sid`` values ``²``, full-width and Arabic-Indic digits, signs, spaces,
  zero, 23 digits (400, the handler never reached).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from syncd import callbacks
from syncd.callbacks import database_id, kuaidi100_handler, supplier_handler
from syncd.domain import SupplierCallback
from syncd.errors import RejectedError
from syncd.httpd import Check, Listener, Readiness, Response, json_response
from syncd.httpserver import Limits, RefusalLog

DEADLINE = 0.6
FAST = Limits(header_timeout=DEADLINE, body_timeout=DEADLINE)


def ready() -> Readiness:
    return Readiness((Check("database", True, "answers"),))


class Recorder:
    """A callback handler that records what reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        self.calls += 1
        return json_response(200, {"ok": True})


@pytest.fixture
def port() -> Iterator[tuple[Listener, Recorder]]:
    lst = Listener(readiness=ready, metrics=lambda: "", limits=FAST, name="test")
    handler = Recorder()
    lst.register("POST", "/callbacks/x", handler)
    lst.start()
    yield lst, handler
    lst.stop()


def get(lst: Listener, path: str, timeout: float = 5) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (bounded by the socket's timeout)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def trickle(lst: Listener, first: bytes, line: bytes, every: float, until: float) -> tuple[bytes, float]:
    """Send ``first``, then ``line`` each ``every`` seconds (paced by a receive timeout, not a sleep) until the
    server answers or closes; returns what it answered and after how long."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(first)
        s.settimeout(every)
        while time.monotonic() - started < until:
            try:
                answer = s.recv(65536)
            except TimeoutError:
                try:
                    s.sendall(line)
                except OSError:  # closed by the server between two lines
                    return b"", time.monotonic() - started
                continue
            except ConnectionResetError:
                return b"", time.monotonic() - started
            s.settimeout(5)
            return answer + (read_all(s) if answer else b""), time.monotonic() - started
    return b"still open", time.monotonic() - started


# ---- slow clients ----

def test_25_slowloris_clients_do_not_delay_healthz_and_are_cut_at_the_head_deadline(port):
    lst, _ = port
    results: list[tuple[bytes, float]] = []
    lock = threading.Lock()

    def slow_client() -> None:
        # a header line every 0.2 s: each byte would restart a per-read timeout; the head deadline is a total
        got = trickle(lst, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", 0.2, until=10)
        with lock:
            results.append(got)

    clients = [threading.Thread(target=slow_client) for _ in range(25)]
    for t in clients:
        t.start()
    try:
        for _ in range(3):  # while the 25 are held: /healthz and /readyz answer at once
            started = time.monotonic()
            assert get(lst, "/healthz") == 200
            assert get(lst, "/readyz") == 200
            assert time.monotonic() - started < 1.0  # not held up by the 25 (the old server froze for their hold)
    finally:
        for t in clients:
            t.join(15)
    assert len(results) == 25
    for answer, took in results:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
        assert took < DEADLINE + 1.5, took  # cut at the deadline, not kept alive by its trickle


def test_200_held_connections_cost_no_thread_and_healthz_still_answers(port):
    lst, _ = port
    threads = threading.active_count()
    held = [socket.create_connection(("127.0.0.1", lst.port), timeout=5) for _ in range(200)]
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")  # a head begun, never finished
        assert get(lst, "/healthz") == 200
        assert threading.active_count() == threads  # the old server spent a thread on each (and had 16)
    finally:
        for s in held:
            s.close()


def test_a_slow_body_is_cut_at_the_body_deadline_and_never_reaches_the_handler(port):
    lst, handler = port
    answer, took = trickle(lst, b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab",
                           b"ab", 0.1, until=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:60]
    assert took < DEADLINE + 1.5
    assert handler.calls == 0
    assert get(lst, "/healthz") == 200


def test_an_idle_connection_that_never_speaks_is_closed_quietly_at_the_head_deadline(port):
    lst, _ = port
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        started = time.monotonic()
        assert read_all(s) == b""  # closed, nothing written: a browser's pre-connect is no error
        assert time.monotonic() - started < DEADLINE + 1.5


# ---- oversized input ----

def test_a_body_declared_over_the_cap_is_answered_413_before_it_is_sent(port):
    lst, handler = port
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n" + b"a" * 65536)
        assert s.recv(65536).startswith(b"HTTP/1.1 413")  # 64 KiB of 50 MB sent: the rest is never read
    assert handler.calls == 0


def test_a_connection_that_sent_its_refused_body_and_went_idle_is_closed_at_the_head_deadline(port):
    lst, handler = port
    body = b"a" * (1024 * 1024 + 10)  # over the cap, within what is read and dropped after the 413
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        started = time.monotonic()
        answer = read_all(s)  # the 413, then the server closes the idle connection by itself
    assert answer.startswith(b"HTTP/1.1 413"), answer[:60]
    assert time.monotonic() - started < DEADLINE + 1.5
    assert handler.calls == 0


def test_a_chunked_body_growing_past_the_cap_is_413_and_what_follows_is_dropped_within_a_bound(port):
    lst, handler = port
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer = b""
        with pytest.raises(OSError):  # the server closes once it dropped 2 MiB more (or the deadline passes)
            for _ in range(200):  # 12.5 MiB offered
                s.sendall(b"10000\r\n" + chunk + b"\r\n")
                s.settimeout(0.001)
                with contextlib.suppress(TimeoutError):
                    answer += s.recv(65536)
                s.settimeout(5)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:60]
    assert handler.calls == 0


def test_a_request_head_over_16_kib_in_one_piece_is_431(port):
    lst, _ = port
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 431")


# ---- capacity ----

def test_connections_beyond_the_bound_are_answered_503_at_once():
    lst = Listener(readiness=ready, metrics=lambda: "", limits=Limits(max_connections=20, header_timeout=5))
    lst.start()
    held = [socket.create_connection(("127.0.0.1", lst.port), timeout=5) for _ in range(20)]
    try:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_all(s).startswith(b"HTTP/1.1 503")
        assert time.monotonic() - started < 1.0
    finally:
        for s in held:
            s.close()
        lst.stop()


def test_handlers_beyond_the_bound_are_answered_503_at_once():
    release = threading.Event()
    entered = threading.Semaphore(0)

    def blocking(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        entered.release()
        release.wait(10)
        return json_response(200, {})

    lst = Listener(limits=Limits(max_in_flight=2), name="callback")
    lst.register("POST", "/callbacks/slow", blocking)
    lst.start()
    statuses: list[int] = []

    def post() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=10)
        conn.request("POST", "/callbacks/slow", body=b"{}")
        statuses.append(conn.getresponse().status)
        conn.close()

    busy = [threading.Thread(target=post) for _ in range(2)]
    for t in busy:
        t.start()
    try:
        assert entered.acquire(timeout=5) and entered.acquire(timeout=5)
        started = time.monotonic()
        post()
        assert statuses == [503] and time.monotonic() - started < 1.0
    finally:
        release.set()
        for t in busy:
            t.join(10)
        lst.stop()
    assert sorted(statuses) == [200, 200, 503]


# ---- malformed heads ----

MALFORMED = {
    "no request line": b"GARBAGE\r\n\r\n",
    "no target": b"GET\r\n\r\n",
    "unknown HTTP version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "NUL in the target": b"GET /he\x00althz HTTP/1.1\r\nHost: x\r\n\r\n",
    "space in the target": b"GET /he althz HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw UTF-8 in the target": "GET /callbacks/x/é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "bad method token": b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative Content-Length": b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two Content-Lengths": b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "superscript Content-Length": "POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: ²\r\n\r\n".encode(),
    "Content-Length and chunked": b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nab\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_request_is_refused_with_a_4xx_or_505_and_reaches_no_handler(port, name):
    lst, handler = port
    with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
        s.sendall(MALFORMED[name])
        answer = read_all(s)
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 505), answer[:80]
    assert handler.calls == 0
    assert get(lst, "/healthz") == 200  # the port lives on


def test_a_stream_of_malformed_requests_writes_one_log_line_not_one_each(port, caplog):
    lst, _ = port
    with caplog.at_level(logging.DEBUG):
        for raw in list(MALFORMED.values()) * 3:
            with socket.create_connection(("127.0.0.1", lst.port), timeout=5) as s:
                s.sendall(raw)
                read_all(s)
    listener_lines = [r for r in caplog.records if r.name.startswith(("syncd.httpserver", "uvicorn"))]
    assert len(listener_lines) == 1, [r.getMessage() for r in listener_lines]
    assert "refused from test port" in listener_lines[0].getMessage()


# ---- callbacks ----

class Forgery(Exception):
    pass


class Supplier:
    """A pushing supplier whose signature check refuses everything (every request here is a forgery)."""

    kind = "webhook"

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        raise RejectedError("webhook supplier acme callback refused: bad signature", code="bad_signature")


class Tracker:
    name = "kuaidi100"

    def __init__(self) -> None:
        self.parsed = 0

    def parse_push(self, form: Mapping[str, str]) -> Any:
        self.parsed += 1
        raise RejectedError("kuaidi100 push: signature does not match")

    def push_reply(self, ok: bool, message: str) -> tuple[int, str, bytes]:
        return 200, "application/json;charset=utf-8", json.dumps({"result": ok, "message": message}).encode()


@pytest.fixture
def callback_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Listener, SimpleNamespace, list[float]]]:
    clock = [1000.0]
    monkeypatch.setattr(callbacks, "REFUSALS", RefusalLog(logging.getLogger("syncd.callbacks"), "callback(s)",
                                                          monotonic=lambda: clock[0]))
    rt = SimpleNamespace(api_suppliers={"acme": Supplier()}, tracker=Tracker(), db=None)
    lst = Listener(limits=FAST, name="callback")
    lst.register("POST", "/callbacks/suppliers", supplier_handler(rt))  # type: ignore[arg-type]
    lst.register("POST", "/callbacks/kuaidi100", kuaidi100_handler(rt))  # type: ignore[arg-type]
    lst.start()
    yield lst, rt, clock
    lst.stop()


def post(lst: Listener, path: str, body: bytes = b"{}") -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=5)
    try:
        conn.request("POST", path, body=body, headers={"X-Signature": "forged", "X-Timestamp": "1"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type") or "", resp.read()
    finally:
        conn.close()


def test_an_unknown_supplier_id_gets_byte_for_byte_the_answer_of_a_bad_signature(callback_port):
    lst, _, _ = callback_port
    forged = post(lst, "/callbacks/suppliers/acme")
    assert forged[0] == 401
    for unknown in ("nobody", "acme2", "ACME", "..", "%2e%2e", "a" * 300):
        assert post(lst, f"/callbacks/suppliers/{unknown}") == forged, unknown


@pytest.mark.parametrize("sid", ["²", "１２", "١٢", "-1", "+1", " 1", "1 ", "0", "1.0", "0x1", "1_000",
                                 "9" * 23, str(2**31), str(2**63)])
def test_kuaidi100_sid_that_is_not_a_shipment_id_is_400_before_anything_is_read(callback_port, sid):
    lst, rt, _ = callback_port
    status, _, body = post(lst, f"/callbacks/kuaidi100?sid={quote(sid)}", b"param=%7B%7D&sign=x")
    assert status == 400, body
    assert rt.tracker.parsed == 0


def test_database_id_takes_ascii_digits_within_the_integer_range_only():
    assert database_id("42") == 42
    assert database_id(str(2**31 - 1)) == 2**31 - 1
    for bad in ("", "²", "٣", "３", "0", "00", "-5", str(2**31), "9" * 23, "4 2"):
        assert database_id(bad) is None, bad


def test_a_flood_of_forged_callbacks_writes_one_log_line_per_source_per_minute(callback_port, caplog):
    lst, _, clock = callback_port
    with caplog.at_level(logging.INFO, logger="syncd.callbacks"):
        for _ in range(50):
            assert post(lst, "/callbacks/suppliers/acme")[0] == 401
        for _ in range(30):
            assert post(lst, f"/callbacks/suppliers/x{_}")[0] == 401  # made-up ids share one source
        lines = [r.getMessage() for r in caplog.records if r.name == "syncd.callbacks"]
        assert len(lines) == 2, lines  # one per source, at its first refusal
        clock[0] += 61
        callbacks.REFUSALS.flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "syncd.callbacks"]
    assert len(lines) == 4, lines
    assert "49 more callback(s) refused from supplier acme in the last minute ('bad_signature' ×49)" in lines
    assert any(line.startswith("29 more callback(s) refused from suppliers (unknown id)") for line in lines)
    assert not any("x1" in line for line in lines)  # a made-up id is not echoed into the log


def test_refusal_log_stays_quiet_after_a_quiet_minute_and_logs_the_next_refusal_at_once(caplog):
    now = [0.0]
    refusals = RefusalLog(logging.getLogger("syncd.test"), "callback(s)", monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="syncd.test"):
        refusals.note("kuaidi100", "'bad sign'")
        now[0] = 61
        refusals.flush()  # nothing more came: no summary line
        now[0] = 200
        refusals.note("kuaidi100", "'bad sign'")
    assert len(caplog.records) == 2
