"""The daemon's listener: /healthz, /readyz (each failing check), /metrics, callback routes, bounds, stop."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from syncd import clock
from syncd.config.models import StageIntervals
from syncd.http import CallStats
from syncd.httpd import (
    MAX_BODY,
    MAX_RUN,
    Check,
    Listener,
    Readiness,
    Response,
    check_readiness,
    json_response,
    quiet_limit,
    run_limit,
    start_listener,
)
from syncd.httpserver import Limits
from syncd.metrics import MetricsRegistry, Sample
from syncd.settings import Settings
from syncd.store.db import Database, open_database
from syncd.store.models import StageRun
from tests.core.test_metrics import parse

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INTERVALS = StageIntervals().model_dump()  # pull 120 s ... reconcile a day: quiet limit 600 s
ROOT = Path(__file__).resolve().parents[2]
LOCAL = Settings(admin_host="127.0.0.1", admin_port=0, callback_host="127.0.0.1", callback_port=0)


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def ran(db: Database, stage: str, at: datetime) -> None:
    with db.begin() as s:
        s.merge(StageRun(stage=stage, scope="all", last_started_at=at, last_success_at=at, consecutive_failures=0,
                         last_duration_ms=10))


def request(listener: Listener, method: str, path: str, body: bytes | None = None,
            headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Daemon:
    """What run_daemon would hand start_listener, with switches for the tests."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = MetricsRegistry()
        self.stats = CallStats()
        self.scheduler = True


@pytest.fixture
def daemon(db: Database, frozen: time_machine.Traveller) -> Iterator[tuple[Daemon, Listener]]:
    d = Daemon(db)
    ran(db, "pull", NOW - timedelta(seconds=30))
    listeners = start_listener(LOCAL, db, d.registry, d.stats, lambda: d.scheduler, StageIntervals())
    yield d, listeners.admin
    listeners.stop()


# ---- /healthz, /readyz, /metrics through the real socket ----

def test_healthz_answers_ok(daemon):
    _, listener = daemon
    status, headers, body = request(listener, "GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["cache-control"] == "no-store"
    assert request(listener, "POST", "/healthz", b"")[0] == 405


def test_readyz_given_database_scheduler_and_stages_fine_is_200(daemon):
    _, listener = daemon
    status, _, body = request(listener, "GET", "/readyz")
    answer = json.loads(body)
    assert status == 200, answer
    assert answer["status"] == "ready" and answer["failed"] == []
    assert [c["name"] for c in answer["checks"]] == ["database", "scheduler", "stage_in_flight", "stage_finished"]


def test_readyz_given_the_scheduler_stopped_is_503_naming_it(daemon):
    d, listener = daemon
    d.scheduler = False
    status, headers, body = request(listener, "GET", "/readyz")
    assert status == 503
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["failed"] == ["scheduler"]


def test_readyz_given_a_stage_run_in_flight_too_long_is_503(daemon, frozen):
    d, listener = daemon
    token = d.registry.begin("pull")  # pull runs every 120 s: stuck after 600 s
    frozen.shift(timedelta(seconds=590))
    ran(d.db, "route", clock.now())  # other stages keep finishing: only the stuck run fails the check
    assert request(listener, "GET", "/readyz")[0] == 200
    frozen.shift(timedelta(seconds=20))
    ran(d.db, "route", clock.now())
    status, _, body = request(listener, "GET", "/readyz")
    answer = json.loads(body)
    assert status == 503 and answer["failed"] == ["stage_in_flight"]
    assert "pull running for 610 s (limit 600 s)" in json.dumps(answer)
    d.registry.end(token)
    assert request(listener, "GET", "/readyz")[0] == 200


def test_readyz_given_no_stage_finished_within_the_limit_is_503(daemon, frozen):
    d, listener = daemon
    frozen.shift(timedelta(seconds=10))
    ran(d.db, "collect", clock.now())  # a run finished after the start...
    frozen.shift(timedelta(seconds=600))
    assert request(listener, "GET", "/readyz")[0] == 200
    frozen.shift(timedelta(seconds=1))  # ...and nothing since, for 601 s
    status, _, body = request(listener, "GET", "/readyz")
    answer = json.loads(body)
    assert status == 503 and answer["failed"] == ["stage_finished"]
    assert "no stage ran for 601 s (allowed 600 s)" in json.dumps(answer)


def test_readyz_given_the_database_gone_is_503_naming_it(tmp_path, frozen):
    (tmp_path / "gone.db").mkdir()  # a directory where the database file should be: nothing answers
    db = open_database(f"sqlite:///{tmp_path / 'gone.db'}")
    reg = MetricsRegistry()
    listeners = start_listener(LOCAL, db, reg, CallStats(), lambda: True, INTERVALS)
    listener = listeners.admin
    try:
        status, _, body = request(listener, "GET", "/readyz")
        answer = json.loads(body)
        assert status == 503 and answer["failed"] == ["database"]
        assert "database unreachable (OperationalError)" in json.dumps(answer)
        assert request(listener, "GET", "/healthz")[0] == 200  # alive all the same
        status, _, page = request(listener, "GET", "/metrics")
        assert status == 200
        assert parse(page.decode()).value("syncd_metrics_collector_up", collector="database") == 0
    finally:
        listeners.stop()
        db.dispose()


def test_metrics_page_is_the_text_format_with_database_registry_and_call_values(daemon):
    d, listener = daemon
    d.registry.observe_stage("pull", "all", 2.0, ok=False)
    d.stats.record("kuaidi100", "poll", "timeout")
    status, headers, body = request(listener, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    page = parse(body.decode())
    assert page.value("syncd_stage_failures_total", stage="pull", scope="all") == 1
    assert page.value("syncd_outside_call_errors_total", system="kuaidi100", api="poll", outcome="timeout") == 1
    assert page.value("syncd_stage_last_duration_seconds", stage="pull", scope="all") == 0.01
    assert page.value("syncd_holds_open", reason="manual") == 0
    assert request(listener, "HEAD", "/metrics")[2] == b""


def test_start_listener_plugs_in_extra_collectors(db: Database, frozen):
    def tracking_queries_today() -> list[Sample]:
        return [Sample("syncd_tracking_queries_today", 7, {"provider": "kuaidi100"}, "Queries used today.")]

    listeners = start_listener(LOCAL, db, MetricsRegistry(), CallStats(), lambda: True, INTERVALS,
                               extra_collectors=[tracking_queries_today])
    try:
        page = parse(request(listeners.admin, "GET", "/metrics")[2].decode())
        assert request(listeners.callback, "GET", "/metrics")[0] == 404  # admin endpoints: not on the callback port
    finally:
        listeners.stop()
    assert page.value("syncd_tracking_queries_today", provider="kuaidi100") == 7


# ---- the one readiness function (also behind `syncd health`) ----

def test_check_readiness_without_daemon_facts_checks_database_and_last_run_only(db: Database):
    ready = check_readiness(db, INTERVALS, now=NOW)
    assert [(c.name, c.ok, c.detail) for c in ready.checks] == [
        ("database", True, "answers"), ("stage_finished", False, "no stage has run yet")]
    ran(db, "pull", NOW - timedelta(seconds=100))
    assert check_readiness(db, INTERVALS, now=NOW).ok


def test_check_readiness_gives_a_fresh_process_the_quiet_limit_to_finish_a_stage(db: Database):
    ran(db, "pull", NOW - timedelta(hours=5))  # the daemon was down for hours, then restarted
    started = NOW - timedelta(seconds=60)
    ready = check_readiness(db, INTERVALS, now=NOW, started_at=started)
    assert ready.ok and "starting" in ready.checks[-1].detail
    late = check_readiness(db, INTERVALS, now=started + timedelta(seconds=601), started_at=started)
    assert late.failed == [Check("stage_finished", False, "no stage finished since the start 601 s ago "
                                                          "(allowed 600 s)")]
    assert not check_readiness(db, INTERVALS, now=NOW).ok  # the CLI, knowing no start, sees the 5-hour gap


def test_limits_ignore_the_daily_sweep_and_cap_a_single_run_at_an_hour():
    assert quiet_limit(INTERVALS) == 600  # 5 × pull's 120 s, not 5 days
    assert quiet_limit({**INTERVALS, "track": 3000, "later": 9000}) == 600  # only the pipeline's cadence counts
    assert quiet_limit({"route": 10}) == 300  # never below 5 minutes
    assert run_limit(120) == 600
    assert run_limit(86_400) == MAX_RUN == 3600


def test_readiness_json_names_each_failed_check():
    r = Readiness((Check("database", False, "x"), Check("scheduler", True, "running"), Check("stage_finished",
                                                                                          False, "y")))
    assert r.as_json()["failed"] == ["database", "stage_finished"]
    assert r.as_json()["status"] == "not ready"


# ---- callback routes ----

Seen = list[tuple[str, Mapping[str, str], Mapping[str, str], bytes]]


def recorder(seen: Seen, status: int = 200) -> Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Response]:
    def handler(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        seen.append((path, query, headers, body))
        return json_response(status, {"result": True, "returnCode": "200"})

    return handler


def ready_stub() -> Readiness:
    return Readiness((Check("database", True, "answers"),))


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener(readiness=ready_stub, metrics=lambda: "")
    lst.start()
    yield lst
    lst.stop()


def test_a_registered_callback_gets_path_query_headers_and_body(listener: Listener):
    seen: Seen = []
    listener.register("post", "/callbacks/kuaidi100/", recorder(seen))
    status, _, body = request(listener, "POST", "/callbacks/kuaidi100?sign=ABC", b"param=%7B%7D",
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and json.loads(body)["returnCode"] == "200"
    path, query, headers, got = seen[0]
    assert (path, query, got) == ("/callbacks/kuaidi100", {"sign": "ABC"}, b"param=%7B%7D")
    assert headers["content-type"] == "application/x-www-form-urlencoded"


def test_the_longest_prefix_wins_and_subpaths_reach_their_handler(listener: Listener):
    general: Seen = []
    acme: Seen = []
    listener.register("POST", "/callbacks/suppliers", recorder(general))
    listener.register("POST", "/callbacks/suppliers/acme", recorder(acme))
    request(listener, "POST", "/callbacks/suppliers/acme/shipped", b"{}")
    request(listener, "POST", "/callbacks/suppliers/beta", b"{}")
    assert [s[0] for s in acme] == ["/callbacks/suppliers/acme/shipped"]
    assert [s[0] for s in general] == ["/callbacks/suppliers/beta"]


def test_unknown_paths_are_404_and_a_wrong_method_is_405(listener: Listener):
    listener.register("POST", "/callbacks/kuaidi100", recorder([]))
    assert request(listener, "POST", "/callbacks/kuaidi1000", b"{}")[0] == 404  # a prefix of a name is no match
    assert request(listener, "GET", "/nothing")[0] == 404
    status, headers, _ = request(listener, "GET", "/callbacks/kuaidi100")
    assert status == 405 and headers["allow"] == "POST"


def test_register_refuses_to_shadow_the_listeners_endpoints_or_register_twice(listener: Listener):
    for prefix in ("/", "/metrics", "/readyz/x", "healthz"):
        with pytest.raises(ValueError):
            listener.register("GET", prefix, recorder([]))
    listener.register("POST", "/callbacks/a", recorder([]))
    with pytest.raises(ValueError):
        listener.register("post", "/callbacks/a/", recorder([]))


def test_a_body_over_one_megabyte_is_413_and_one_at_the_limit_is_served(listener: Listener):
    seen: Seen = []
    listener.register("POST", "/callbacks/x", recorder(seen))
    assert request(listener, "POST", "/callbacks/x", b"a" * MAX_BODY)[0] == 200
    assert len(seen[0][3]) == MAX_BODY
    status, _, _ = request(listener, "POST", "/callbacks/x", b"a" * (MAX_BODY + 1))
    assert status == 413
    assert len(seen) == 1


def test_a_huge_declared_body_is_refused_before_it_is_read(listener: Listener):
    listener.register("POST", "/callbacks/x", recorder([]))
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 413")


def test_a_chunked_body_over_the_limit_is_413(listener: Listener):
    seen: Seen = []
    listener.register("POST", "/callbacks/x", recorder(seen))
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as s:
        s.sendall(b"POST /callbacks/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + (b"10000\r\n" + chunk + b"\r\n") * (MAX_BODY // len(chunk) + 1) + b"0\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 413")
    assert seen == []


def test_a_handler_that_raises_answers_a_generic_500_logged_once_without_body(listener: Listener, caplog):
    def boom(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        raise ValueError(f"cannot read {body.decode()}")

    listener.register("POST", "/callbacks/boom", boom)
    with caplog.at_level(logging.DEBUG):
        status, _, body = request(listener, "POST", "/callbacks/boom", "收件人 13812345678".encode())
    assert status == 500 and json.loads(body) == {"error": "internal error"}
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(failures) == 1
    logged = caplog.text
    assert "ValueError" in logged and "in boom" in logged  # the type and where it was raised
    assert "13812345678" not in logged and "收件人" not in logged
    assert request(listener, "GET", "/healthz")[0] == 200


def test_a_handler_answering_the_wrong_shape_is_a_500(listener: Listener):
    listener.register("POST", "/callbacks/bad", lambda *a: (200, {}, "text, not bytes"))  # type: ignore[arg-type,return-value]
    assert request(listener, "POST", "/callbacks/bad", b"")[0] == 500


# ---- lifecycle and bounds ----

def test_start_and_stop_on_port_zero_free_the_port():
    lst = Listener(readiness=ready_stub, metrics=lambda: "")
    lst.start()
    port = lst.port
    assert port > 0 and lst.url == f"http://127.0.0.1:{port}"
    assert request(lst, "GET", "/healthz")[0] == 200
    assert lst.stop() is True
    with pytest.raises(RuntimeError):
        _ = lst.port
    again = Listener(readiness=ready_stub, metrics=lambda: "", port=port)
    again.start()
    assert again.port == port
    again.stop()


class Slow:
    """A handler that blocks until released (never longer than 10 s)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Response:
        self.entered.set()
        self.release.wait(10)
        return json_response(200, {})


def test_stop_returns_within_a_second_while_a_slow_handler_runs_and_closes_idle_connections():
    slow = Slow()
    lst = Listener(readiness=ready_stub, metrics=lambda: "")
    lst.register("POST", "/callbacks/slow", slow)
    lst.start()
    idle = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=5)
    idle.request("GET", "/healthz")
    idle.getresponse().read()
    result: list[int | Exception] = []

    def call() -> None:
        try:
            result.append(request(lst, "POST", "/callbacks/slow", b"{}")[0])
        except (OSError, http.client.HTTPException) as err:
            result.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    assert slow.entered.wait(5)
    started = time.monotonic()
    finished = lst.stop()
    took = time.monotonic() - started
    slow.release.set()
    caller.join(5)
    assert took < 1.0, took
    assert finished is False
    assert result and (isinstance(result[0], Exception) or result[0] == 503)  # answered "shutting down" or cut
    with pytest.raises((OSError, http.client.HTTPException)):
        idle.request("GET", "/healthz")
        idle.getresponse().read()


def test_stop_cuts_idle_connections_first_and_lets_a_request_finish_within_the_grace():
    slow = Slow()
    lst = Listener(readiness=ready_stub, metrics=lambda: "")
    lst.register("POST", "/callbacks/slow", slow)
    lst.start()
    idle = socket.create_connection(("127.0.0.1", lst.port), timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")

    def release_when_the_idle_connection_is_cut() -> None:
        with contextlib.suppress(OSError):
            while idle.recv(65536):
                pass
        slow.release.set()

    result: list[tuple[int, dict[str, str], bytes]] = []
    caller = threading.Thread(target=lambda: result.append(request(lst, "POST", "/callbacks/slow", b"{}")))
    caller.start()
    assert slow.entered.wait(5)
    watcher = threading.Thread(target=release_when_the_idle_connection_is_cut)
    watcher.start()
    assert lst.stop(grace=5) is True  # the idle connection went at once, so the slow one could finish
    caller.join(5)
    watcher.join(5)
    idle.close()
    assert result[0][0] == 200


def test_a_request_beyond_the_handlers_in_flight_is_503_at_once_and_healthz_still_answers():
    slow = Slow()
    lst = Listener(readiness=ready_stub, metrics=lambda: "", limits=Limits(max_in_flight=1))
    lst.register("POST", "/callbacks/slow", slow)
    lst.start()
    first = threading.Thread(target=lambda: request(lst, "POST", "/callbacks/slow", b"{}"))
    first.start()
    try:
        assert slow.entered.wait(5)
        started = time.monotonic()
        status, headers, _ = request(lst, "GET", "/readyz")
        assert status == 503 and headers["retry-after"] == "1"
        assert time.monotonic() - started < 1.0  # at once, not after the slow one
        assert request(lst, "GET", "/healthz")[0] == 200  # answered on the loop, needs no handler thread
    finally:
        slow.release.set()
        first.join(5)
    assert request(lst, "GET", "/readyz")[0] == 200
    lst.stop()


def test_a_connection_beyond_max_connections_is_answered_503_and_a_freed_slot_serves_again():
    lst = Listener(readiness=ready_stub, metrics=lambda: "", limits=Limits(max_connections=2))
    lst.start()
    held = [socket.create_connection(("127.0.0.1", lst.port), timeout=5) for _ in range(2)]
    try:
        status, headers, _ = request(lst, "GET", "/healthz")
        assert status == 503 and headers["retry-after"] == "1"
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while request(lst, "GET", "/healthz")[0] != 200:  # the server sees the two closes within milliseconds
        assert time.monotonic() < deadline
    lst.stop()


# ---- the container's HEALTHCHECK ----

def healthcheck_command() -> list[str]:
    line = next(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("HEALTHCHECK"))
    cmd = json.loads(line[line.index(" CMD ") + 5:])
    assert cmd[0] == "python"
    return [sys.executable, *cmd[1:]]


def test_dockerfile_healthcheck_asks_healthz_on_the_admin_port():
    import os

    def not_ready() -> Readiness:
        return Readiness((Check("scheduler", False, "the scheduler is not running"),))

    listener = Listener(readiness=not_ready, metrics=lambda: "")  # alive but not ready: liveness is what counts
    listener.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    ok = subprocess.run(healthcheck_command(), env={**env, "SYNCD_ADMIN_PORT": str(listener.port)},
                        capture_output=True, timeout=30, check=False)
    assert ok.returncode == 0, ok.stderr
    port = listener.port
    listener.stop()
    down = subprocess.run(healthcheck_command(), env={**env, "SYNCD_ADMIN_PORT": str(port)},
                          capture_output=True, timeout=30, check=False)
    assert down.returncode == 1
    assert "EXPOSE 8080 8081" in (ROOT / "Dockerfile").read_text()


def test_settings_default_to_loopback_ports_and_keep_the_old_http_names(monkeypatch: pytest.MonkeyPatch):
    for name in ("SYNCD_ADMIN_HOST", "SYNCD_ADMIN_PORT", "SYNCD_HTTP_HOST", "SYNCD_HTTP_PORT", "SYNCD_CALLBACK_HOST",
                 "SYNCD_CALLBACK_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.admin_host, s.admin_port, s.callback_host, s.callback_port) == ("127.0.0.1", 8080, "127.0.0.1", 8081)
    monkeypatch.setenv("SYNCD_HTTP_PORT", "9000")
    assert Settings().admin_port == 9000
    monkeypatch.setenv("SYNCD_ADMIN_PORT", "9001")
    assert Settings().admin_port == 9001  # the new name wins


# ---- inside the daemon ----

@pytest.mark.parametrize("configured", [False, True])
def test_run_daemon_serves_two_ports_mounts_only_configured_callbacks_and_keeps_its_sigterm_handler(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: bool):
    import os
    import signal

    from syncd import daemon
    from tests.hostile.test_listener import Supplier, Tracker
    from tests.stages.harness import build

    h = build(db, tmp_path)
    h.rt.settings = h.rt.settings.model_copy(update={"admin_port": 0, "callback_port": 0})
    assert h.rt.tracker is None and not h.rt.api_suppliers  # file suppliers only: nothing to push
    if configured:
        h.rt.tracker = Tracker()  # type: ignore[assignment]
        h.rt.api_suppliers["acme-api"] = Supplier()  # type: ignore[assignment]
    started: list[Any] = []
    real_start = daemon.start_listener
    monkeypatch.setattr(daemon, "start_listener", lambda *a, **k: started.append(real_start(*a, **k)) or started[-1])
    seen: dict[str, Any] = {}

    def on_tick() -> None:
        if seen:
            return
        listeners = started[0]
        seen["handler"] = signal.getsignal(signal.SIGTERM)
        seen["healthz"] = request(listeners.admin, "GET", "/healthz")[0]
        page = parse(request(listeners.admin, "GET", "/metrics")[2].decode())
        seen["alerts"] = page.series("syncd_alerts_open")
        seen["process"] = page.series("process_cpu_seconds_total")
        seen["kuaidi100"] = request(listeners.callback, "POST", "/callbacks/kuaidi100", b"param=x")[0]
        seen["suppliers"] = request(listeners.callback, "POST", "/callbacks/suppliers/acme-api", b"{}")[0]
        seen["admin_on_callback"] = request(listeners.callback, "GET", "/healthz")[0]
        seen["stopping_at"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)  # the daemon's own handler must see it, not uvicorn's

    original = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    deadline = time.monotonic() + 30
    try:
        daemon.run_daemon(h.rt, listen=True, on_tick=on_tick, until=lambda: time.monotonic() > deadline)
    finally:
        signal.signal(signal.SIGTERM, original[0])
        signal.signal(signal.SIGINT, original[1])
    assert time.monotonic() - seen["stopping_at"] < 10  # SIGTERM → returned, listener stopped
    assert getattr(seen["handler"], "__qualname__", "").startswith("run_daemon")
    assert seen["healthz"] == 200 and seen["alerts"] and seen["process"]
    # mounted only when configured: a forged push then meets the signature check (Kuaidi100 answers 200
    # {"result": false} as its contract wants; a supplier push 401)
    assert (seen["kuaidi100"], seen["suppliers"]) == ((200, 401) if configured else (404, 404))
    assert seen["admin_on_callback"] == 404
    with pytest.raises(RuntimeError):
        _ = started[0].admin.port  # stopped
