"""The replay guard: an id is taken once inside its window, forgotten after, and memory stays bounded."""

from __future__ import annotations

from syncd.adapters.common.replay import ReplayGuard


def test_an_id_is_taken_once_inside_the_window() -> None:
    guard = ReplayGuard()

    assert guard.first_time("m1", 1000.0, 300)
    assert not guard.first_time("m1", 1200.0, 300)
    assert guard.first_time("m2", 1200.0, 300)


def test_an_id_is_forgotten_after_twice_the_window() -> None:
    guard = ReplayGuard()
    guard.first_time("m1", 1000.0, 300)

    assert not guard.first_time("m1", 1599.0, 300)  # still inside: a message may be stamped a window ahead
    assert guard.first_time("m1", 1601.0, 300)
    assert len(guard) == 1


def test_the_memory_keeps_at_most_its_cap_dropping_the_oldest() -> None:
    guard = ReplayGuard(max_remembered=3)
    for i in range(5):
        guard.first_time(f"m{i}", 1000.0 + i, 300)

    assert len(guard) == 3
    assert guard.first_time("m0", 1010.0, 300)  # pushed out
    assert not guard.first_time("m4", 1010.0, 300)
