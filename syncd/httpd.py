"""The daemon's HTTP listeners: the admin port (``/healthz``, ``/readyz``, ``/metrics``) and the callback port.

- ``GET /healthz``: the process answers (200 ``ok``). The container's HEALTHCHECK asks this.
- ``GET /readyz``: :func:`check_readiness` — the database answers, the scheduler runs, no stage run
  is overdue, some stage finished recently; 503 with a JSON body naming each failed check otherwise.
  ``syncd health`` runs the same function (without the checks only a running daemon can make).
- ``GET /metrics``: :mod:`syncd.metrics`.
- ``register(method, path_prefix, handler)``: pushes from outside (tracking providers, suppliers) on the
  callback port, ``handler(path, query, headers, body) -> (status, headers, body)``. Bodies above 1 MiB get
  413 before they are read, unknown paths 404; a handler that raises answers 500 with a generic body and is
  logged once, without its message or the body (both can hold personal data).

Two ports, so that what must face the internet (the callbacks) is apart from what only the operator and the
orchestrator need: the admin port binds 127.0.0.1 by default, and a flood on the callback port cannot starve
the health check. Each port is a Starlette app on uvicorn (:mod:`syncd.httpserver`: deadlines, bounds);
handlers run in threads, at most ``Limits.max_in_flight`` at once (the next request gets 503 at once), and
:meth:`Listener.stop` returns within a second whatever a handler is doing: the daemon's shutdown budget is 9 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response as StarletteResponse
from starlette.routing import BaseRoute, Mount, Route

from syncd import clock
from syncd.http import CallStats
from syncd.httpserver import ASGIApp, BodyTooLarge, HttpServer, Limits, RefusalLog, read_body
from syncd.i18n import _
from syncd.metrics import CONTENT_TYPE, Collector, Metrics, MetricsRegistry
from syncd.settings import Settings
from syncd.store.db import Database
from syncd.store.models import StageRun

log = logging.getLogger("syncd.httpd")

Response = tuple[int, dict[str, str], bytes]
CallbackHandler = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Response]

MAX_BODY = Limits.max_body
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
        checks.append(Check("database", False, unreachable(err)))
        db_ok = False
    else:
        checks.append(Check("database", True, _("answers")))
        db_ok = True
    if scheduler_running is not None:
        checks.append(Check("scheduler", scheduler_running,
                            _("running") if scheduler_running else _("the scheduler is not running")))
    if in_flight is not None:
        longest = max(intervals.values(), default=60.0)
        stuck = []
        for stage, start in sorted(in_flight.items()):
            limit, age = run_limit(intervals.get(stage, longest)), _age(now, start)
            if age > limit:
                stuck.append(_("{stage} running for {age} s (limit {limit} s)").format(
                    stage=stage, age=f"{age:.0f}", limit=f"{limit:.0f}"))
        checks.append(Check("stage_in_flight", not stuck, "; ".join(stuck) or _("no run overdue")))
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
                too_long.append(_("{stage} {scope} failing for {age} s (limit {limit} s): {reason}").format(
                    stage=stage, scope=scope, age=f"{age:.0f}", limit=f"{limit:.0f}", reason=reason))
        if failing:  # listed while some scope fails (and shown failed past the limit)
            checks.append(Check("stage_failing", not too_long, "; ".join(too_long) or _("none failing too long")))
    return Readiness(tuple(checks))


def unreachable(err: Exception) -> str:
    """The ``database`` check's words when the database does not answer (the driver's class, never its text:
    it may quote the URL)."""
    return _("database unreachable ({error})").format(error=type(err).__name__)


def _finished(last: datetime | None, now: datetime, limit: float, started_at: datetime | None) -> Check:
    if last is None and started_at is None:
        return Check("stage_finished", False, _("no stage has run yet"))
    if started_at is not None and (last is None or clock.ensure_utc(last) < started_at):
        up = _age(now, started_at)
        if up > limit:
            return Check("stage_finished", False, _("no stage finished since the start {age} s ago (allowed {limit} s)")
                         .format(age=f"{up:.0f}", limit=f"{limit:.0f}"))
        return Check("stage_finished", True,
                     _("starting: no stage finished since the start {age} s ago").format(age=f"{up:.0f}"))
    assert last is not None
    age = _age(now, last)
    if age > limit:
        return Check("stage_finished", False, _("no stage ran for {age} s (allowed {limit} s)").format(
            age=f"{age:.0f}", limit=f"{limit:.0f}"))
    return Check("stage_finished", True, _("a stage ran {age} s ago").format(age=f"{age:.0f}"))


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer (UTF-8, CJK kept as is)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body


@dataclass(frozen=True)
class _Route:
    method: str
    prefix: str
    handler: CallbackHandler


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _respond(answer: Response) -> StarletteResponse:
    status, headers, body = answer
    return StarletteResponse(body, status_code=status, headers=headers)


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Listener:
    """One port of the daemon: the admin endpoints when ``readiness`` and ``metrics`` are given, and the
    callback routes registered. Built and started by :func:`start_listener`; tests build it directly."""

    def __init__(self, *, readiness: Callable[[], Readiness] | None = None, metrics: Callable[[], str] | None = None,
                 host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None, name: str = "admin",
                 refusals: RefusalLog | None = None, console: ASGIApp | None = None) -> None:
        self._readiness = readiness
        self._console = console
        self._metrics = metrics
        self.limits = limits or Limits()
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._busy = 0  # handlers running (on the server's loop only)
        self._cut = 0  # handlers still running when stop() gave up on them
        self._builtin = _BUILTIN if readiness is not None or metrics is not None else ()
        routes: list[BaseRoute] = []
        if self._builtin:
            routes += [Route("/healthz", self._healthz, methods=["GET"]),
                       Route("/readyz", self._readyz, methods=["GET"]),
                       Route("/metrics", self._metrics_page, methods=["GET"])]
        if console is not None:  # the web console (syncd.console) answers every other path of this port
            routes.append(Mount("/", app=console))
        else:
            routes.append(Route("/{path:path}", self._dispatch, methods=_METHODS))
        self._http = HttpServer(Starlette(routes=routes), host=host, port=port, limits=self.limits, name=name,
                                refusals=refusals)

    def register(self, method: str, path_prefix: str, handler: CallbackHandler) -> None:
        """Send ``method`` requests for ``path_prefix`` and every path below it to ``handler``.

        The longest matching prefix wins, so ``/callbacks/suppliers`` (the handler reads the supplier id
        from the path) and ``/callbacks/suppliers/acme`` can both be registered."""
        prefix = "/" + path_prefix.strip("/")
        if self._console is not None:
            raise ValueError(f"{path_prefix!r}: the console serves every path of this port")
        if prefix == "/" or any(_under(b, prefix) or _under(prefix, b) for b in _BUILTIN):
            raise ValueError(f"{path_prefix!r} would shadow the listener's own endpoints")
        route = _Route(method.upper(), prefix, handler)
        with self._lock:
            if any(r.method == route.method and r.prefix == prefix for r in self._routes):
                raise ValueError(f"{route.method} {prefix} is already registered")
            self._routes = sorted([*self._routes, route], key=lambda r: len(r.prefix), reverse=True)

    @property
    def routes(self) -> list[str]:
        """``METHOD /prefix`` of every registered route."""
        with self._lock:
            return [f"{r.method} {r.prefix}" for r in self._routes]

    def start(self) -> None:
        """Bind and serve in the background (OSError when the port is taken)."""
        self._cut = 0
        self._http.start()

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop within ``grace`` + 0.3 s; False when a request in flight had to be answered 503 at the deadline."""
        self._http.stop(grace)
        return self._cut == 0

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._http.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (127.0.0.1 when bound to every interface)."""
        return self._http.url

    # ---- the endpoints ----

    async def _healthz(self, request: Request) -> StarletteResponse:
        # answered on the loop, never behind a handler thread: liveness must not depend on the database
        return StarletteResponse(b"ok\n", headers={"Content-Type": "text/plain; charset=utf-8", **_NO_STORE})

    async def _readyz(self, request: Request) -> StarletteResponse:
        readiness = self._readiness
        if readiness is None:
            return _respond(json_response(404, {"error": "not found"}))

        def ready() -> Response:
            result = readiness()
            return json_response(200 if result.ok else 503, result.as_json(), _NO_STORE)

        return await self._in_thread("GET /readyz", ready, 0)

    async def _metrics_page(self, request: Request) -> StarletteResponse:
        metrics = self._metrics
        if metrics is None:
            return _respond(json_response(404, {"error": "not found"}))

        def page() -> Response:
            return 200, {"Content-Type": CONTENT_TYPE, **_NO_STORE}, metrics().encode()

        return await self._in_thread("GET /metrics", page, 0)

    async def _dispatch(self, request: Request) -> StarletteResponse:
        method, path = request.method, str(request.scope["path"])
        if path in self._builtin:
            return _respond(json_response(405, {"error": "method not allowed"}, {"Allow": "GET, HEAD"}))
        with self._lock:
            matches = [r for r in self._routes if _under(path, r.prefix)]
        if not matches:
            return _respond(json_response(404, {"error": "not found"}))
        route = next((r for r in matches if r.method == method), None)
        if route is None:
            allow = ", ".join(sorted({r.method for r in matches}))
            return _respond(json_response(405, {"error": "method not allowed"}, {"Allow": allow}))
        if self._busy >= self.limits.max_in_flight:  # full: refused before the body is read
            return self._over_capacity()
        try:
            body = await read_body(request, self.limits.max_body)
        except BodyTooLarge:
            self._http.refusals.note(f"{self._http.name} port", "body too large (413)")
            return _respond(json_response(413, {"error": f"body larger than {self.limits.max_body} bytes"}))
        except ClientDisconnect:
            return _respond(json_response(408, {"error": "request timeout"}))  # nobody reads it
        query = dict(parse_qsl(bytes(request.scope["query_string"]).decode("latin-1"), keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await self._in_thread(f"{method} {path}", lambda: _checked(route, route.handler(path, query, headers,
                                                                                             body)), len(body))

    def _over_capacity(self) -> StarletteResponse:
        self._http.refusals.note(f"{self._http.name} port", "over capacity (503)")
        return _respond(json_response(503, {"error": "over capacity, try again"}, {"Retry-After": "1"}))

    async def _in_thread(self, what: str, fn: Callable[[], Response], body_len: int) -> StarletteResponse:
        """``fn`` in a handler thread: 503 at once when ``max_in_flight`` run already, 503 when the listener
        stops before it is done, 500 (logged without message nor body) when it raises."""
        if self._busy >= self.limits.max_in_flight:
            return self._over_capacity()
        self._busy += 1
        try:
            work = self._http.run_in_thread(fn)
            stopping = self._http.stopping
            assert stopping is not None
            stop = asyncio.ensure_future(stopping.wait())
            try:
                await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if not work.done():
                self._cut += 1
                return _respond(json_response(503, {"error": "shutting down"}, {"Connection": "close"}))
            try:
                return _respond(work.result())
            except Exception as err:  # noqa: BLE001 - a handler bug answers 500 and is logged; the port lives on
                frames = "".join(traceback.format_tb(err.__traceback__))
                log.error("handler failed on %s: %s (message and %d-byte body not logged)\n%s",
                          what, type(err).__name__, body_len, frames.rstrip())
                return _respond(json_response(500, {"error": "internal error"}))
        finally:
            self._busy -= 1


def _checked(route: _Route, answer: object) -> Response:
    """A handler's answer, or TypeError (→ 500) when it is not ``(int, dict[str, str], bytes)``."""
    if (isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[0], int)
            and isinstance(answer[1], dict) and isinstance(answer[2], bytes | bytearray)):
        return answer[0], answer[1], bytes(answer[2])
    raise TypeError(f"callback handler for {route.method} {route.prefix} answered {type(answer).__name__}, "
                    "expected (status, headers, body bytes)")


class Listeners:
    """The admin port and the callback port of a running daemon."""

    def __init__(self, admin: Listener, callback: Listener) -> None:
        self.admin = admin
        self.callback = callback

    def register(self, method: str, path_prefix: str, handler: CallbackHandler) -> None:
        """A callback route, on the callback port."""
        self.callback.register(method, path_prefix, handler)

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop both ports (together: about ``grace`` + 0.3 s); False when a request in flight was cut."""
        results: list[bool] = []
        other = threading.Thread(target=lambda: results.append(self.callback.stop(grace)), daemon=True)
        other.start()
        finished = self.admin.stop(grace)
        other.join(grace + 4.0)
        return finished and all(results)


def start_listener(settings: Settings, db: Database, metrics_registry: MetricsRegistry, stats: CallStats,
                   is_scheduler_running: Callable[[], bool], stage_intervals: Mapping[str, float] | BaseModel,
                   *, extra_collectors: Sequence[Collector] = (), metrics: Metrics | None = None,
                   console: ASGIApp | None = None) -> Listeners:
    """Build the admin listener on ``settings.admin_host``:``admin_port`` and the callback listener on
    ``settings.callback_host``:``callback_port``, and start both (OSError when a port is taken).

    ``stage_intervals``: stage → seconds (``config.global_.intervals`` as is, or a mapping).
    ``extra_collectors``: more ``/metrics`` sources, each returning samples; ``metrics``: a ready-made page
    (the daemon's, with its configured shops, suppliers and alert rules) instead of a bare one; ``console``: the web
    console (:mod:`syncd.console`), served under ``/`` on the admin port."""
    intervals = dict(stage_intervals.model_dump() if isinstance(stage_intervals, BaseModel) else stage_intervals)
    page = metrics or Metrics(db, metrics_registry, stats, extra_collectors)
    if metrics is not None:
        for fn in extra_collectors:
            page.add(getattr(fn, "__name__", "extra"), fn)

    def readiness() -> Readiness:
        return check_readiness(db, intervals, scheduler_running=bool(is_scheduler_running()),
                               in_flight=metrics_registry.in_flight(), started_at=metrics_registry.started_at)

    admin = Listener(readiness=readiness, metrics=page.render, host=settings.admin_host, port=settings.admin_port,
                     name="admin", console=console)
    callback = Listener(host=settings.callback_host, port=settings.callback_port, name="callback")
    admin.start()
    try:
        callback.start()
    except BaseException:
        admin.stop()
        raise
    log.info("admin port listening on %s:%d (/healthz, /readyz, /metrics%s); callback port on %s:%d",
             settings.admin_host, admin.port, ", console /" if console is not None else "", settings.callback_host,
             callback.port)
    return Listeners(admin, callback)
