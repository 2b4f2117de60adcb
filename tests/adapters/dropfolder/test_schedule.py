"""batch_due: interval and Asia/Shanghai cutoffs, on aware UTC times (no real clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.adapters.dropfolder import Schedule, batch_due


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


INTERVAL = Schedule(interval_minutes=30)
CUTOFFS_ONLY = Schedule(interval_minutes=None, cutoffs=["11:00", "16:00"])


def test_no_batch_yet_is_due():
    assert batch_due(None, utc(22, 3), INTERVAL)
    assert batch_due(None, utc(22, 3), CUTOFFS_ONLY)


def test_interval_elapsed_is_due():
    assert batch_due(utc(22, 3), utc(22, 3, 30), INTERVAL)


def test_interval_not_elapsed_is_not_due():
    assert not batch_due(utc(22, 3), utc(22, 3, 29), INTERVAL)


def test_now_before_last_batch_is_not_due():
    assert not batch_due(utc(22, 3), utc(22, 2), INTERVAL)


def test_cutoff_passed_since_last_batch_is_due():
    # 11:00 Shanghai = 03:00 UTC
    assert batch_due(utc(22, 2, 55), utc(22, 3, 0), CUTOFFS_ONLY)


def test_cutoff_not_reached_yet_is_not_due():
    assert not batch_due(utc(22, 2, 0), utc(22, 2, 59), CUTOFFS_ONLY)


def test_cutoff_already_passed_before_last_batch_is_not_due():
    assert not batch_due(utc(22, 3, 5), utc(22, 7, 59), CUTOFFS_ONLY)


def test_cutoff_just_before_shanghai_midnight_passed_across_midnight_is_due():
    schedule = Schedule(interval_minutes=None, cutoffs=["23:50"])  # = 15:50 UTC
    assert batch_due(utc(22, 15, 40), utc(22, 16, 10), schedule)  # 23:40 → 00:10 Shanghai
    assert not batch_due(utc(22, 15, 55), utc(22, 16, 10), schedule)


def test_cutoff_just_after_shanghai_midnight_counts_on_the_next_shanghai_day():
    schedule = Schedule(interval_minutes=None, cutoffs=["00:30"])  # = 16:30 UTC the day before
    assert batch_due(utc(22, 16, 0), utc(22, 16, 45), schedule)  # 00:00 → 00:45 Shanghai, 23 Nov
    assert not batch_due(utc(22, 16, 31), utc(23, 0, 0), schedule)  # 00:31 → 08:00 Shanghai


def test_cutoff_uses_shanghai_time_not_utc():
    schedule = Schedule(interval_minutes=None, cutoffs=["07:00"])  # 07:00 Shanghai = 23:00 UTC
    assert not batch_due(utc(22, 6, 0), utc(22, 7, 30), schedule)  # 07:00 UTC passed, 07:00 Shanghai not
    assert batch_due(utc(22, 22, 30), utc(22, 23, 0), schedule)


def test_cutoffs_with_a_gap_longer_than_a_day_are_due():
    assert batch_due(utc(20, 3, 1), utc(21, 3, 2), CUTOFFS_ONLY)


def test_interval_or_cutoff_whichever_comes_first_is_due():
    schedule = Schedule(interval_minutes=240, cutoffs=["11:00"])
    assert batch_due(utc(22, 2, 50), utc(22, 3, 0), schedule)  # cutoff
    assert batch_due(utc(22, 4, 0), utc(22, 8, 0), schedule)  # interval
    assert not batch_due(utc(22, 4, 0), utc(22, 7, 59), schedule)


def test_naive_last_batch_time_is_taken_as_utc():
    naive = datetime(2026, 11, 22, 3, 0)
    assert not batch_due(naive, utc(22, 3, 29), INTERVAL)
    assert batch_due(naive, utc(22, 3, 30), INTERVAL)


def test_adapter_batch_due_uses_its_configured_schedule(make_adapter):
    adapter = make_adapter(schedule={"interval_minutes": 60})
    last = utc(22, 3)
    assert not adapter.batch_due(last, last + timedelta(minutes=59))
    assert adapter.batch_due(last, last + timedelta(minutes=60))


def test_batch_written_exactly_at_a_cutoff_is_not_due_again_for_that_cutoff():
    at_cutoff = utc(22, 3, 0)  # 11:00 Shanghai
    assert not batch_due(at_cutoff, utc(22, 3, 1), CUTOFFS_ONLY)
