"""syncd.inflight: bounded_calls (a few calls at once, results as they finish, no new call once halted) and Lane
(pieces of work in order beside the caller)."""

from __future__ import annotations

import threading
import time

from syncd.inflight import CPU_SINK, bounded_calls


def test_bounded_calls_given_a_limit_keeps_that_many_calls_going_at_once_and_returns_every_result():
    together = threading.Barrier(3, timeout=20)  # breaks unless three calls are in flight at the same time

    def call(n: int) -> int:
        if n < 3:
            together.wait()
        return n * n

    got = dict(bounded_calls(list(range(7)), call, limit=3, halt=lambda: False))
    assert got == {i: i * i for i in range(7)} and not together.broken


def test_bounded_calls_given_halt_starts_no_new_call_and_still_hands_back_those_in_flight():
    started: list[int] = []
    release = threading.Event()
    halted = threading.Event()

    def call(n: int) -> int:
        started.append(n)
        if n != 0:
            assert release.wait(20)
        return n

    got = []
    for i, r in bounded_calls(list(range(10)), call, limit=3, halt=halted.is_set):
        got.append(r)
        if i == 0:  # the first answer stops the walk while 1 and 2 are still out
            halted.set()
            release.set()
    assert sorted(started) == [0, 1, 2] and sorted(got) == [0, 1, 2]


def test_bounded_calls_given_limit_one_calls_on_the_callers_thread_in_order():
    threads = set()

    def call(n: int) -> int:
        threads.add(threading.get_ident())
        return n

    assert [i for i, _ in bounded_calls([5, 6, 7], call, limit=1, halt=lambda: False)] == [0, 1, 2]
    assert threads == {threading.get_ident()}


def test_bounded_calls_given_a_cpu_sink_hands_it_the_cpu_of_each_call_made_on_a_thread_of_its_own():
    spent: list[float] = []

    def busy(n: int) -> int:
        end = time.thread_time() + 0.02  # CPU, not a sleep: thread_time moves only while this thread computes
        while time.thread_time() < end:
            n += 1
        return n

    token = CPU_SINK.set(spent.append)
    try:
        list(bounded_calls([1, 2, 3], busy, limit=3, halt=lambda: False))
    finally:
        CPU_SINK.reset(token)
    assert len(spent) == 3 and all(s >= 0.02 for s in spent)


def test_bounded_calls_given_fast_answers_before_calls_one_at_a_time_and_given_slow_ones_goes_back_in_flight(
        monkeypatch):
    from syncd import inflight

    now = [0.0]
    monkeypatch.setattr(inflight, "_clock", lambda: now[0])
    threads: set[int] = set()
    lock = threading.Lock()

    def call(step: float) -> float:
        with lock:
            threads.add(threading.get_ident())
            now[0] += step  # the call's answer time, on the faked clock
        return step

    fast = inflight.SLOW_CALL / 10
    list(bounded_calls([fast] * 3, call, limit=3, halt=lambda: False, name="shop"))  # no pace yet: in flight
    assert threading.get_ident() not in threads
    threads.clear()
    list(bounded_calls([fast] * 3, call, limit=3, halt=lambda: False, name="shop"))  # fast before: on this thread
    assert threads == {threading.get_ident()}
    slow = inflight.SLOW_CALL * 10
    list(bounded_calls([slow] * 3, call, limit=3, halt=lambda: False, name="shop"))  # slow now: noted
    threads.clear()
    list(bounded_calls([slow] * 3, call, limit=3, halt=lambda: False, name="shop"))
    assert threading.get_ident() not in threads
    threads.clear()
    list(bounded_calls([fast] * 3, call, limit=3, halt=lambda: False, name="other"))  # each name its own pace
    assert threading.get_ident() not in threads


def test_lane_runs_pieces_in_order_beside_the_caller_and_skips_those_after_a_failure():
    from syncd.inflight import Lane

    ran: list[int] = []
    gate = threading.Event()
    lane = Lane("test-lane")

    def piece(n: int) -> int:
        if n == 0:
            assert gate.wait(20)  # the caller goes on while the lane waits: it runs beside it
        if n == 2:
            raise ValueError("piece 2")
        ran.append(n)
        return n * 10

    for n in range(5):
        lane.submit(piece, n)
    assert lane.busy() and lane.failed() is None
    gate.set()
    lane.wait()
    assert ran == [0, 1] and isinstance(lane.failed(), ValueError)
    results, error = lane.join()
    assert results == [0, 10] and isinstance(error, ValueError) and not lane.busy()


def test_lane_hands_the_cpu_of_its_pieces_to_the_callers_sink():
    from syncd.inflight import Lane

    spent: list[float] = []
    token = CPU_SINK.set(spent.append)
    try:
        lane = Lane("test-lane")
    finally:
        CPU_SINK.reset(token)

    def busy() -> int:
        end = time.thread_time() + 0.02  # CPU, not a sleep
        n = 0
        while time.thread_time() < end:
            n += 1
        return n

    lane.submit(busy)
    lane.join()
    assert len(spent) == 1 and spent[0] >= 0.02


def test_ahead_goes_ahead_while_answers_are_slow_stays_on_the_callers_thread_while_fast_and_hands_back_errors(
        monkeypatch):
    from syncd import inflight
    from syncd.inflight import Ahead

    now = [0.0]
    monkeypatch.setattr(inflight, "_clock", lambda: now[0])

    def answer(step: float) -> float:
        now[0] += step  # the call's answer time, on the faked clock
        return step

    checks: Ahead[float] = Ahead("checks", 4)
    assert checks.on() and checks.limit == 4  # no pace yet: calls go ahead
    slow = checks.start(lambda: answer(inflight.SLOW_CALL * 10))
    assert slow.result(timeout=20) == inflight.SLOW_CALL * 10 and checks.on()
    for _ in range(8):  # the pace weighs the last calls most: a few fast answers bring it under SLOW_CALL
        assert checks.now(lambda: answer(inflight.SLOW_CALL / 100)) == inflight.SLOW_CALL / 100
    assert not checks.on() and checks.limit == 1  # fast answers now: the caller asks in its turn

    def refused() -> float:
        raise ValueError("garbled")

    failed = checks.start(refused)
    gate = threading.Event()
    waiting = checks.start(lambda: float(gate.wait(20)))
    assert isinstance(failed.exception(timeout=20), ValueError)  # raised in the caller's turn, by result()
    gate.set()
    checks.close()
    assert waiting.done()
