"""Calls to one outside system, a few at a time: what hides the answer time of a platform's gateway.

A shop's stage walks its work one call after another; at 0.25 s an answer that is four calls a second, whatever
the platform's budget (10–20 a second for an upload). :func:`bounded_calls` keeps up to ``limit`` calls of a
list going at once on threads of its own; the rate limiter, which every adapter asks before a call, still spaces
them to the budget. Results come back in the order the calls finish, to the caller's thread, which alone writes
to the database. ``halt`` is asked before each new call: once it says stop, no call starts, the calls in flight
finish and are handed back (their outcome must be recorded: the outside system may have acted on them), and the
caller frees the items that never started.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Where the CPU seconds of the calls' own threads go: a stage's scope sets its report's counter here
# (syncd.stages.runner.scope), so the stage's CPU keeps what its calls in flight spend.
CPU_SINK: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar("syncd_inflight_cpu",
                                                                                         default=None)

# Calls answering faster than this gain nothing from threads, whose hand-overs only cost (the three-shop bench's
# simulators answer in a millisecond; its CPU per order moved with the machine more than with the threads:
# docs/benchmarks.md, 2026-12-07 01:58): while a name's recent calls answer this fast, its calls go one at a time
# on the caller's thread. 20 ms: one at a time, with the caller's own work between them, 40 ms answers reached
# half of Douyin's 20 uploads a second in the fifty-shop fleet (docs/benchmarks.md, 2026-12-07 03:52); at 50 ms
# they were still sent one at a time.
SLOW_CALL = 0.02  # seconds
_clock = time.monotonic  # wall time of a call (a test hands in its own)
_pace: dict[str, float] = {}  # name → recent seconds per call (an average weighing the last calls most)
_pace_lock = threading.Lock()


def forget() -> None:
    """Forget every name's pace (tests start from none)."""
    with _pace_lock:
        _pace.clear()


def _note(name: str, seconds: float) -> None:
    with _pace_lock:
        before = _pace.get(name)
        _pace[name] = seconds if before is None else 0.7 * before + 0.3 * seconds


def _fast(name: str) -> bool:
    with _pace_lock:
        pace = _pace.get(name)
    return pace is not None and pace < SLOW_CALL


def _paced(name: str, call: Callable[[], R]) -> R:
    """Make the call, noting how long it took under ``name`` (whether its next calls go in flight)."""
    started = _clock()
    try:
        return call()
    finally:
        _note(name, _clock() - started)


def bounded_calls(items: Sequence[T], call: Callable[[T], R], *, limit: int, halt: Callable[[], bool],
                  name: str = "call") -> Iterator[tuple[int, R]]:
    """``(index, call(items[index]))`` for the items, at most ``limit`` calls at once, in the order they finish;
    no new call once ``halt()`` is true (the ones in flight are still yielded). With ``limit`` 1 or a single item
    the calls are made on the caller's thread, and so they are while ``name``'s recent calls answered faster than
    :data:`SLOW_CALL`. The log context of the caller goes with each call, and the CPU of each call on a thread of
    its own is handed to :data:`CPU_SINK`."""
    if limit <= 1 or len(items) <= 1 or _fast(name):
        for i, item in enumerate(items):
            if halt():
                return
            yield i, _paced(name, lambda item=item: call(item))  # type: ignore[misc]
        return
    sink = CPU_SINK.get()

    def timed(item: T) -> R:
        start = time.thread_time()
        try:
            return _paced(name, lambda: call(item))
        finally:
            if sink is not None:
                sink(time.thread_time() - start)

    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix=name) as pool:
        pending: dict[Future[R], int] = {}
        nxt = 0
        try:
            while True:
                while nxt < len(items) and len(pending) < limit and not halt():
                    pending[pool.submit(contextvars.copy_context().run, timed, items[nxt])] = nxt
                    nxt += 1
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    yield pending.pop(future), future.result()
        finally:
            # the caller stopped reading (an exception of its own): let no further call start; the pool's exit
            # waits for the ones in flight
            for future in pending:
                future.cancel()


class Lane:
    """Pieces of work handed off to run beside the caller, one after another in the order given, on a thread of
    their own: a pipeline's next step (1688's creates of the orders already checked while the next orders'
    previews go on; the payments of those created while the next are checked and sent). The caller's log context
    goes with each piece and the piece's CPU to :data:`CPU_SINK`. Once a piece fails, the pieces after it are
    skipped (they are not started: the caller frees what they held). :meth:`join` waits for all, then answers
    the results of the pieces that ran and the first failure."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._sink = CPU_SINK.get()
        self._futures: list[Future[object]] = []
        self._error: BaseException | None = None

    def submit(self, piece: Callable[..., object], *args: object) -> None:
        def run() -> object:
            if self._error is not None:
                return None
            start = time.thread_time()
            try:
                return piece(*args)
            except BaseException as err:
                self._error = err
                raise
            finally:
                if self._sink is not None:
                    self._sink(time.thread_time() - start)

        self._futures.append(self._pool.submit(contextvars.copy_context().run, run))

    def busy(self) -> bool:
        """A piece is running or waiting to."""
        return any(not f.done() for f in self._futures)

    def wait(self) -> None:
        """Wait until every piece handed over so far has run (or been skipped)."""
        wait(list(self._futures))

    def failed(self) -> BaseException | None:
        """The failure of a piece that ran, if one failed."""
        return self._error

    def join(self) -> tuple[list[object], BaseException | None]:
        """Wait for every piece; their results (of those that ran and answered) and the first failure."""
        self._pool.shutdown(wait=True)
        results = [f.result() for f in self._futures if f.exception() is None and f.result() is not None]
        return results, self._error


class Ahead(Generic[R]):
    """Calls started before their turn: the caller walks its items one by one (what each answer means depends on
    the answers before it), and the next items' calls are already on their way, at most ``limit`` at once, on
    threads of their own. 1688's stock check (a preview, one call per order) answered in 0.25 s holds a claim to
    four checks a second one after another, where its budget is five and the creates and payments wait behind it.

    The caller takes each result in its own turn (``future.result()``, which raises what the call raised), so it
    reads the answers in the order it asked them. While ``name``'s recent calls answer faster than
    :data:`SLOW_CALL` nothing goes ahead (:meth:`on`): threads would only cost. :meth:`close` cancels the calls
    not started and waits for those on their way (an answer nobody reads; these calls change nothing)."""

    def __init__(self, name: str, limit: int) -> None:
        self._name = name
        self._limit = limit
        self._sink = CPU_SINK.get()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[R]] = []

    def on(self) -> bool:
        """Whether calls go ahead now (``limit`` above 1, and the recent calls answered slowly)."""
        return self._limit > 1 and not _fast(self._name)

    @property
    def limit(self) -> int:
        return self._limit if self.on() else 1

    def now(self, call: Callable[[], R]) -> R:
        """Make the call on the caller's thread, noting how long it took (for :meth:`on`)."""
        return _paced(self._name, call)

    def start(self, call: Callable[[], R]) -> Future[R]:
        """Start the call on a thread of its own; its result (or exception) is the future's."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._limit, thread_name_prefix=self._name)
        sink = self._sink

        def timed() -> R:
            start = time.thread_time()
            try:
                return self.now(call)
            finally:
                if sink is not None:
                    sink(time.thread_time() - start)

        future = self._pool.submit(contextvars.copy_context().run, timed)
        self._futures.append(future)
        return future

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
