"""adapters.common.cached.KeptTable: a platform's table read once however many calls ask at once, kept its hours."""

from __future__ import annotations

import threading
from datetime import timedelta

import time_machine

from syncd import clock
from syncd.adapters.common.cached import KeptTable


def test_kept_table_given_calls_at_once_reads_the_platform_once_and_shares_its_answer():
    reading = threading.Event()  # the first read has begun: the other calls come while it is out
    release = threading.Event()
    reads: list[int] = []

    def load() -> dict[str, str]:
        reads.append(1)
        reading.set()
        assert release.wait(20)
        return {"zhongtong": "ZTO"}

    table = KeptTable(load, lambda: 24.0)
    got: list[dict[str, str]] = []
    first = threading.Thread(target=lambda: got.append(table.get()))
    first.start()
    assert reading.wait(20)
    others = [threading.Thread(target=lambda: got.append(table.get())) for _ in range(3)]
    for t in others:
        t.start()
    release.set()
    for t in (first, *others):
        t.join(20)
    assert len(reads) == 1 and got == [{"zhongtong": "ZTO"}] * 4


def test_kept_table_given_its_hours_passed_reads_again_and_after_a_failed_read_tries_again():
    answers: list[object] = [{"a": "1"}, RuntimeError("HTTP 502"), {"a": "2"}]

    def load() -> dict[str, str]:
        got = answers.pop(0)
        if isinstance(got, Exception):
            raise got
        return got  # type: ignore[return-value]

    table = KeptTable(load, lambda: 1.0)
    with time_machine.travel(clock.now(), tick=False) as traveller:
        assert table.get() == {"a": "1"}
        traveller.shift(timedelta(minutes=59))
        assert table.get() == {"a": "1"}
        traveller.shift(timedelta(minutes=2))
        try:
            table.get()
        except RuntimeError:
            pass
        else:
            raise AssertionError("the failed read must surface")
        assert table.get() == {"a": "2"}
