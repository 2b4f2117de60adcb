"""The daemon's HTTP listener on one port: ``/healthz``, ``/readyz``, ``/metrics`` and callback routes.

- ``GET /healthz``: the process answers (200 ``ok``). The container's HEALTHCHECK asks this.
- ``GET /readyz``: :func:`check_readiness` — the database answers, the scheduler runs, no stage run
  is overdue, some stage finished recently; 503 with a JSON body naming each failed check otherwise.
  ``syncd health`` runs the same function (without the checks only a running daemon can make).
- ``GET /metrics``: :mod:`syncd.metrics`.
- ``register(method, path_prefix, handler)``: pushes from outside (tracking providers, suppliers),
  ``handler(path, query, headers, body) -> (status, headers, body)``. Bodies above 1 MB get 413,
  unknown paths 404; a handler that raises answers 500 with a generic body and is logged once,
  without its message or the body (both can hold personal data).

Threads are bounded (:data:`MAX_CONNECTIONS` connections at once) and :meth:`Listener.stop` returns
within a second whatever a handler is doing: the daemon's whole shutdown budget is 9 s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from syncd import clock
from syncd.http import CallStats
from syncd.httpserver import HttpServer, Response, json_response, text_response
from syncd.metrics import CONTENT_TYPE, Collector, Metrics, MetricsRegistry
from syncd.settings import Settings
from syncd.store.db import Database
from syncd.store.models import StageRun

log = logging.getLogger("syncd.httpd")

CallbackHandler = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Response]

MAX_BODY = 1024 * 1024
MAX_CONNECTIONS = 16  # scrapers, the health check and callback bursts; the next one gets 503 at once
IDLE_TIMEOUT = 30.0  # seconds an idle keep-alive connection may hold one of those threads
STOP_GRACE = 0.5  # seconds a request in flight may take to finish once stop() is called

STUCK_FACTOR = 5  # a stage is overdue after this many of its intervals...
MIN_LIMIT = 300.0  # ...but never before 5 minutes...
MAX_RUN = 3600.0  # ...and a single run in flight for an hour is stuck whatever its cadence (HTTP calls time out)
# The quiet limit follows the pipeline's cadence: the daily reconcile sweep says nothing about liveness,
# and tracking (paced by a daily query budget) or any stage added later must not loosen it.
PIPELINE = ("pull", "route", "forward", "collect", "writeback")

_BUILTIN = ("/healthz", "/readyz", "/metrics")
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """Every check that was made."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, Any]:
        """What ``/readyz`` answers."""
        return {"status": "ready" if self.ok else "not ready", "failed": [c.name for c in self.failed],
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


def quiet_limit(intervals: Mapping[str, float]) -> float:
    """Seconds without any stage finishing after which the daemon counts as stalled."""
    cadence = [intervals[k] for k in PIPELINE if k in intervals] or list(intervals.values()) or [60.0]
    return max(STUCK_FACTOR * max(cadence), MIN_LIMIT)


def run_limit(interval: float) -> float:
    """Seconds one run of a stage with this interval may stay in flight."""
    return min(max(STUCK_FACTOR * interval, MIN_LIMIT), MAX_RUN)


def _age(now: datetime, then: datetime) -> float:
    return (now - clock.ensure_utc(then)).total_seconds()


def check_readiness(db: Database, intervals: Mapping[str, float], *, now: datetime | None = None,
                    scheduler_running: bool | None = None, in_flight: Mapping[str, datetime] | None = None,
                    started_at: datetime | None = None) -> Readiness:
    """Whether the daemon works: the one function behind ``/readyz`` and ``syncd health``.

    ``scheduler_running``, ``in_flight`` (stage → start of its oldest run in flight) and ``started_at``
    (the process start, which restarts the quiet clock after a restart) are known only inside the
    daemon; ``syncd health`` passes none of them and checks the database and the last finished run.
    A stage run is recorded in ``stage_runs`` when it finishes, so ``last_started_at`` there is the
    end of the latest run.
    """
    now = now or clock.now()
    checks: list[Check] = []
    try:
        with db.read() as s:
            s.execute(text("SELECT 1"))
            last = s.scalar(select(func.max(StageRun.last_started_at)))
            # a scope failing for longer than its stage's run limit (disk full, a folder it may not write,
            # a platform down): ready means the work goes through, not only that the process lives
            failing = s.execute(select(StageRun.stage, StageRun.scope, StageRun.consecutive_failures,
                                       StageRun.last_success_at, StageRun.last_error)
                                .where(StageRun.consecutive_failures >= 2)).all()
    except SQLAlchemyError as err:
        checks.append(Check("database", False, f"database unreachable ({type(err).__name__})"))
        db_ok = False
    else:
        checks.append(Check("database", True, "answers"))
        db_ok = True
    if scheduler_running is not None:
        checks.append(Check("scheduler", scheduler_running,
                            "running" if scheduler_running else "the scheduler is not running"))
    if in_flight is not None:
        longest = max(intervals.values(), default=60.0)
        stuck = []
        for stage, start in sorted(in_flight.items()):
            limit, age = run_limit(intervals.get(stage, longest)), _age(now, start)
            if age > limit:
                stuck.append(f"{stage} running for {age:.0f} s (limit {limit:.0f} s)")
        checks.append(Check("stage_in_flight", not stuck, "; ".join(stuck) or "no run overdue"))
    if db_ok:
        checks.append(_finished(last, now, quiet_limit(intervals), started_at))
        longest = max(intervals.values(), default=60.0)
        too_long = []
        for stage, scope, failures, last_ok, error in sorted(failing):
            if (error or "").startswith("ReconcileMismatch: "):
                continue  # a finding about the shop's data (its own alert), not a failure of the daemon
            interval = intervals.get(stage, longest)
            limit = run_limit(interval)
            age = _age(now, last_ok) if last_ok is not None else failures * interval
            if age > limit:
                reason = (error or "").splitlines()[0][:200] if error else "?"
                too_long.append(f"{stage} {scope} failing for {age:.0f} s (limit {limit:.0f} s): {reason}")
        if failing:  # listed while some scope fails (and shown failed past the limit)
            checks.append(Check("stage_failing", not too_long, "; ".join(too_long) or "none failing too long"))
    return Readiness(tuple(checks))


def _finished(last: datetime | None, now: datetime, limit: float, started_at: datetime | None) -> Check:
    if last is None and started_at is None:
        return Check("stage_finished", False, "no stage has run yet")
    if started_at is not None and (last is None or clock.ensure_utc(last) < started_at):
        up = _age(now, started_at)
        if up > limit:
            return Check("stage_finished", False,
                         f"no stage finished since the start {up:.0f} s ago (allowed {limit:.0f} s)")
        return Check("stage_finished", True, f"starting: no stage finished since the start {up:.0f} s ago")
    assert last is not None
    age = _age(now, last)
    if age > limit:
        return Check("stage_finished", False, f"no stage ran for {age:.0f} s (allowed {limit:.0f} s)")
    return Check("stage_finished", True, f"a stage ran {age:.0f} s ago")


@dataclass(frozen=True)
class _Route:
    method: str
    prefix: str
    handler: CallbackHandler


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class Listener:
    """The daemon's one port. Built and started by :func:`start_listener`; tests build it directly."""

    def __init__(self, *, readiness: Callable[[], Readiness], metrics: Callable[[], str], host: str = "127.0.0.1",
                 port: int = 0, max_body: int = MAX_BODY, max_connections: int = MAX_CONNECTIONS) -> None:
        self._readiness = readiness
        self._metrics = metrics
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._http = HttpServer(self._app, host=host, port=port, max_body=max_body,
                                max_connections=max_connections, idle_timeout=IDLE_TIMEOUT, name="syncd")

    def register(self, method: str, path_prefix: str, handler: CallbackHandler) -> None:
        """Send ``method`` requests for ``path_prefix`` and every path below it to ``handler``.

        The longest matching prefix wins, so ``/callbacks/suppliers`` (the handler reads the supplier id
        from the path) and ``/callbacks/suppliers/acme`` can both be registered."""
        prefix = "/" + path_prefix.strip("/")
        if prefix == "/" or any(_under(b, prefix) or _under(prefix, b) for b in _BUILTIN):
            raise ValueError(f"{path_prefix!r} would shadow the listener's own endpoints")
        route = _Route(method.upper(), prefix, handler)
        with self._lock:
            if any(r.method == route.method and r.prefix == prefix for r in self._routes):
                raise ValueError(f"{route.method} {prefix} is already registered")
            self._routes = sorted([*self._routes, route], key=lambda r: len(r.prefix), reverse=True)

    def start(self) -> None:
        """Bind and serve in the background."""
        self._http.start()

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop within ``grace`` + 0.1 s; False when a request in flight had to be cut off."""
        return self._http.stop(grace)

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._http.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (127.0.0.1 when bound to every interface)."""
        return self._http.url

    def _app(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
             body: bytes) -> Response:
        if path in _BUILTIN:
            if method not in ("GET", "HEAD"):
                return json_response(405, {"error": "method not allowed"}, {"Allow": "GET, HEAD"})
            if path == "/healthz":
                status, out_headers, out = text_response(200, "ok\n")
                return status, {**out_headers, **_NO_STORE}, out
            if path == "/readyz":
                ready = self._readiness()
                return json_response(200 if ready.ok else 503, ready.as_json(), _NO_STORE)
            return 200, {"Content-Type": CONTENT_TYPE, **_NO_STORE}, self._metrics().encode()
        with self._lock:
            matches = [r for r in self._routes if _under(path, r.prefix)]
        if not matches:
            return json_response(404, {"error": "not found"})
        route = next((r for r in matches if r.method == method), None)
        if route is None:
            allow = ", ".join(sorted({r.method for r in matches}))
            return json_response(405, {"error": "method not allowed"}, {"Allow": allow})
        return _checked(route, route.handler(path, query, headers, body))


def _checked(route: _Route, answer: object) -> Response:
    """A handler's answer, or TypeError (→ 500) when it is not ``(int, dict[str, str], bytes)``."""
    if (isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[0], int)
            and isinstance(answer[1], dict) and isinstance(answer[2], bytes | bytearray)):
        return answer[0], answer[1], bytes(answer[2])
    raise TypeError(f"callback handler for {route.method} {route.prefix} answered {type(answer).__name__}, "
                    "expected (status, headers, body bytes)")


def start_listener(settings: Settings, db: Database, metrics_registry: MetricsRegistry, stats: CallStats,
                   is_scheduler_running: Callable[[], bool], stage_intervals: Mapping[str, float] | BaseModel,
                   *, extra_collectors: Sequence[Collector] = ()) -> Listener:
    """Build the listener on ``settings.http_host``:``settings.http_port`` and start it.

    ``stage_intervals``: stage → seconds (``config.global_.intervals`` as is, or a mapping).
    ``extra_collectors``: more ``/metrics`` sources (open alerts, tracking budget), each returning samples."""
    intervals = dict(stage_intervals.model_dump() if isinstance(stage_intervals, BaseModel) else stage_intervals)
    metrics = Metrics(db, metrics_registry, stats, extra_collectors)

    def readiness() -> Readiness:
        return check_readiness(db, intervals, scheduler_running=bool(is_scheduler_running()),
                               in_flight=metrics_registry.in_flight(), started_at=metrics_registry.started_at)

    listener = Listener(readiness=readiness, metrics=metrics.render, host=settings.http_host,
                        port=settings.http_port)
    listener.start()
    log.info("listening on %s:%d (/healthz, /readyz, /metrics)", settings.http_host, listener.port)
    return listener
