"""pull: each stretch of update times is read when fresh and once more when settled, not once per run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.stages import pull
from syncd.store.db import Database
from syncd.store.models import Cursor, Order
from tests.fakes import make_order
from tests.stages.harness import Harness, build

OVERLAP = timedelta(minutes=5)  # the harness's, with no lag


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


def _pull_at(h: Harness, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        assert h.stage("pull").ok


def _cursor(db: Database, stream: str) -> datetime | None:
    with db.begin() as s:
        row = s.get(Cursor, ("shop1", stream))
        return None if row is None else clock.ensure_utc(row.watermark)


def test_pull_given_a_run_every_minute_lists_each_moment_twice_not_once_per_run(h: Harness, db: Database):
    base = clock.now().replace(microsecond=0)
    for i in range(16):  # settling reads come in 5-minute batches: minute 6 settles in the run at minute 15
        _pull_at(h, base + timedelta(minutes=i))
    for minute in range(1, 7):  # moments that have settled by the last run, away from window edges
        moment = base + timedelta(minutes=minute, seconds=30)
        readings = sum(a <= moment <= b for a, b in h.shop.list_calls)
        assert readings == 2, f"{moment:%H:%M:%S} listed {readings} times"  # re-reading the overlap: 6


def test_pull_given_the_first_runs_look_back_does_not_read_it_again(h: Harness, db: Database):
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)  # 24 hours of look-back, all of it settled but its last 5 minutes
    assert _cursor(db, "orders-settled") == base - OVERLAP
    h.shop.list_calls.clear()

    _pull_at(h, base + pull.SETTLE_BATCH)

    assert sum(((b - a) for a, b in h.shop.list_calls), timedelta()) <= 2 * pull.SETTLE_BATCH
    assert _cursor(db, "orders-settled") == base + pull.SETTLE_BATCH - OVERLAP
    assert _cursor(db, "orders") == base + pull.SETTLE_BATCH


def test_pull_given_a_cursor_from_before_settled_cursors_reads_its_last_overlap_once_more(h: Harness, db):
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    with db.begin() as s:  # as an older syncd left it: one cursor per stream
        s.delete(s.get(Cursor, ("shop1", "orders-settled")))
    h.shop.put(make_order("801", base - timedelta(minutes=2)))  # stamped late, behind the cursor

    _pull_at(h, base + OVERLAP)

    with db.begin() as s:
        assert s.scalar(select(Order.platform_order_id)) == "801"
    assert _cursor(db, "orders-settled") == base


def test_pull_given_a_settling_read_that_fails_keeps_its_cursor_and_reads_it_next_time(h: Harness, db):
    from tests.fakes import transient

    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    h.shop.put(make_order("802", base - timedelta(minutes=1)))
    settled = _cursor(db, "orders-settled")
    h.shop.fail_list.append(transient())
    with time_machine.travel(base + OVERLAP, tick=False):
        assert not h.stage("pull").ok
    assert _cursor(db, "orders-settled") == settled

    _pull_at(h, base + OVERLAP + timedelta(seconds=10))

    with db.begin() as s:
        assert s.scalar(select(Order.platform_order_id)) == "802"


def test_pull_given_a_settling_read_that_fails_still_stores_what_is_new(h: Harness, db: Database):
    from tests.fakes import transient

    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    h.shop.put(make_order("803", base + OVERLAP - timedelta(seconds=5)))  # fresh in the failing run
    h.shop.fail_list.append(transient())  # the settling read comes first, and fails
    with time_machine.travel(base + OVERLAP, tick=False):
        assert not h.stage("pull").ok  # the failure is reported
    with db.begin() as s:
        assert s.scalar(select(Order.platform_order_id)) == "803"
    assert _cursor(db, "orders") == base + OVERLAP


def test_pull_given_a_settling_read_that_fails_after_downtime_the_catch_up_does_not_settle_past_it(h, db):
    from tests.fakes import transient

    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    settled = _cursor(db, "orders-settled")
    h.shop.fail_list.append(transient())  # the settling read of the last 5 minutes before the outage fails
    with time_machine.travel(base + timedelta(hours=3), tick=False):
        assert not h.stage("pull").ok
    assert _cursor(db, "orders") == base + timedelta(hours=3)  # the catch-up read everything since
    # its windows were old enough to count as settled, but they do not join on to the unread stretch
    assert _cursor(db, "orders-settled") == settled


def test_pull_given_a_quiet_shop_costs_one_call_a_run_and_one_per_settling_batch(h: Harness, db: Database):
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    h.shop.list_calls.clear()
    runs = 30  # every 20 seconds for 10 minutes
    for i in range(1, runs + 1):
        _pull_at(h, base + timedelta(seconds=20 * i))
    batches = timedelta(seconds=20 * runs) // pull.SETTLE_BATCH
    assert len(h.shop.list_calls) <= runs + batches  # read twice each run, it was 2 × 30
    assert _cursor(db, "orders-settled") >= base + timedelta(seconds=20 * runs) - OVERLAP - pull.SETTLE_BATCH


def test_pull_given_an_order_stamped_late_finds_it_within_the_settling_bound(h: Harness, db: Database):
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    _pull_at(h, base + timedelta(minutes=1))
    stamped = base + timedelta(seconds=30)
    h.shop.put(make_order("804", stamped))  # visible only now, behind the fresh cursor
    at = base + timedelta(minutes=1)
    while at < stamped + OVERLAP + pull.SETTLE_BATCH + timedelta(seconds=20):  # lag 0; one run interval late
        at += timedelta(seconds=20)
        _pull_at(h, at)
    with db.begin() as s:
        assert s.scalar(select(Order.platform_order_id)) == "804"


def test_pull_given_a_long_look_back_past_the_runs_budget_reads_it_over_several_runs(h: Harness, db: Database,
                                                                                     monkeypatch):
    """A fleet's first pulls: each shop's run stops after its share of the interval, the next goes on."""
    from syncd.stages.runner import SCHEDULED

    monkeypatch.setattr(pull, "run_budget", lambda rt: 0.0)  # spent after the first window
    base = clock.now().replace(microsecond=0)
    for i, hours in enumerate((23, 12, 1)):
        h.shop.put(make_order(f"90{i}", base - timedelta(hours=hours)))
    token = SCHEDULED.set(True)  # as the scheduler runs it
    try:
        _pull_at(h, base)
        assert len(h.shop.list_calls) == 1  # one window of the 24 hours; the rest is the next runs' business
        assert _cursor(db, "orders") < base - timedelta(hours=20)
        runs = 1
        while _cursor(db, "orders") < base and runs < 60:
            _pull_at(h, base + timedelta(seconds=runs))
            runs += 1
    finally:
        SCHEDULED.reset(token)
    with db.begin() as s:
        assert set(s.scalars(select(Order.platform_order_id))) == {"900", "901", "902"}
    assert 3 <= runs < 60
    assert _cursor(db, "orders-settled") is not None


def test_pull_given_a_listing_that_reads_each_entry_fits_a_scheduled_runs_window_to_its_budget(
        h: Harness, db: Database, monkeypatch):
    """Taobao reads each listed trade with a call of its own (20 a second): 300 trades in one hour's window would
    keep a fleet shop's run 15 s where its share is 5 s. The window is narrowed to what the budget can read."""
    from syncd.stages.runner import SCHEDULED

    monkeypatch.setattr(pull, "run_budget", lambda rt: 0.0)  # spent: one page's worth, the least a run reads
    monkeypatch.setattr(h.shop, "listing_rate", lambda: 20.0, raising=False)
    base = clock.now().replace(microsecond=0)
    for i in range(300):  # within one hour, the fake's whole window: 300 ≤ 2 × WINDOW_ENTRIES, read whole before
        h.shop.put(make_order(f"7{i:03d}", base - timedelta(hours=3) + timedelta(seconds=10 * i)))

    def stored() -> int:
        with db.begin() as s:
            return len(set(s.scalars(select(Order.platform_order_id))))

    token = SCHEDULED.set(True)
    try:
        runs = 0
        while stored() < 300 and runs < 60:
            _pull_at(h, base + timedelta(seconds=runs))
            runs += 1
    finally:
        SCHEDULED.reset(token)
    assert stored() == 300  # over several runs, nothing left out
    held = [h.shop.count_orders(a, b) or 0 for a, b in h.shop.list_calls]
    assert max(held) <= pull.BUDGET_STEP  # each run read at most a page's worth
    assert sum(n > 0 for n in held) >= 3


def test_pull_given_a_run_by_hand_reads_the_whole_look_back_in_one_run(h: Harness, db: Database, monkeypatch):
    monkeypatch.setattr(pull, "run_budget", lambda rt: 0.0)
    base = clock.now().replace(microsecond=0)
    h.shop.put(make_order("910", base - timedelta(hours=23)))
    h.shop.put(make_order("911", base - timedelta(minutes=10)))
    _pull_at(h, base)  # `syncd once`, a resync: not scheduled
    with db.begin() as s:
        assert set(s.scalars(select(Order.platform_order_id))) == {"910", "911"}


def test_run_budget_is_a_shops_share_of_the_pull_interval():
    from types import SimpleNamespace

    def rt(shops: int, interval: int) -> object:
        return SimpleNamespace(storefronts=dict.fromkeys(range(shops)),
                               config=SimpleNamespace(global_=SimpleNamespace(intervals=SimpleNamespace(pull=interval))))

    assert pull.run_budget(rt(50, 20)) == pytest.approx(0.8 * 20 * 17 / 50)  # a third, 17 of 50 at once: 5.4 s
    assert pull.run_budget(rt(3, 20)) == pytest.approx(16.0)  # every shop at once: most of the interval
    assert pull.run_budget(rt(200, 5)) == pull.MIN_RUN_SECONDS


def test_pull_given_a_quiet_shop_reads_its_cursors_once_a_run_and_moves_each_without_reading_it(h: Harness, db):
    """A fleet pulls fifty shops every few seconds, most with nothing new: their cursors are read in one query at
    the run's start (the run holds the shop's lease, only the pull moves them), each window's transaction moves
    its cursor by one statement, and an empty refund window looks nothing up."""
    from tests.plans import statements

    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    _pull_at(h, base + pull.SETTLE_BATCH)  # every cursor has its row

    seen = statements(db, lambda: _pull_at(h, base + pull.SETTLE_BATCH + timedelta(seconds=20)),
                      r"\bcursors\b|\bFROM orders\b")
    reads = [sql for sql, _p in seen if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1 and "cursors" in reads[0], reads  # one read of the cursors; no order looked up
    moves = [sql for sql, _p in seen if sql.lstrip().upper().startswith("UPDATE")]
    assert len(moves) == 2, moves  # the fresh cursor of each stream, one statement each
    assert _cursor(db, "orders") == _cursor(db, "refunds") == base + pull.SETTLE_BATCH + timedelta(seconds=20)


def test_pull_given_a_cursor_moved_further_meanwhile_does_not_move_it_back(h: Harness, db: Database, monkeypatch):
    """The run knows its cursors from its start; should another holder have moved one further meanwhile (a lock
    connection lost in mid-run), the window's statement still moves a cursor only forward."""
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    ahead = base + timedelta(hours=1)
    read = pull.read_cursors

    def read_then_moved_elsewhere(rt, shop_id):  # type: ignore[no-untyped-def]
        marks = read(rt, shop_id)
        with db.begin() as s:
            s.get(Cursor, ("shop1", "orders")).watermark = ahead
        return marks

    monkeypatch.setattr(pull, "read_cursors", read_then_moved_elsewhere)
    _pull_at(h, base + timedelta(seconds=20))
    assert _cursor(db, "orders") == ahead
    assert _cursor(db, "refunds") == base + timedelta(seconds=20)


def _scheduled_pull_at(h: Harness, when: datetime) -> None:
    from syncd.stages.runner import SCHEDULED

    token = SCHEDULED.set(True)  # as the scheduler runs it
    try:
        _pull_at(h, when)
    finally:
        SCHEDULED.reset(token)


def test_pull_given_another_replica_read_a_shop_moments_ago_leaves_it_out_of_the_scheduled_run(h: Harness, db):
    """Two replicas each run the pull every interval: the second to come to a shop a few seconds after the first
    does not read it again (two list calls of a quiet shop for nothing)."""
    interval = h.rt.config.global_.intervals.pull
    base = clock.now().replace(microsecond=0)
    _scheduled_pull_at(h, base)
    h.shop.list_calls.clear()
    elsewhere = base + timedelta(seconds=interval)  # another replica's run, as far as its cursors show
    with db.begin() as s:
        s.get(Cursor, ("shop1", "orders")).watermark = elsewhere

    _scheduled_pull_at(h, elsewhere + timedelta(seconds=interval * pull.ELSEWHERE_SHARE * 0.9))
    assert h.shop.list_calls == []

    _scheduled_pull_at(h, elsewhere + timedelta(seconds=interval * pull.ELSEWHERE_SHARE * 1.1))
    assert h.shop.list_calls  # read long enough ago: this replica's turn
    assert _cursor(db, "orders") == elsewhere + timedelta(seconds=interval * pull.ELSEWHERE_SHARE * 1.1)


def test_pull_given_one_replica_reads_a_shop_at_every_scheduled_run_however_close(h: Harness, db: Database):
    """Its own reads never leave a shop out: only a cursor moved past where this process left it does."""
    base = clock.now().replace(microsecond=0)
    _scheduled_pull_at(h, base)
    for i in range(1, 4):
        h.shop.list_calls.clear()
        _scheduled_pull_at(h, base + timedelta(seconds=i))
        assert h.shop.list_calls, f"run {i} left the shop out"
    assert _cursor(db, "orders") == base + timedelta(seconds=3)


def test_pull_given_a_run_by_hand_reads_a_shop_another_replica_has_just_read(h: Harness, db: Database):
    base = clock.now().replace(microsecond=0)
    _pull_at(h, base)
    with db.begin() as s:
        s.get(Cursor, ("shop1", "orders")).watermark = base + timedelta(seconds=1)
    h.shop.list_calls.clear()
    _pull_at(h, base + timedelta(seconds=2))  # `syncd once`, not the scheduler
    assert h.shop.list_calls


def test_pull_given_a_restarted_process_reads_every_shop_at_its_first_scheduled_run(h: Harness, db: Database):
    """Its predecessor read the shop a second before it was killed: the new process has read nothing yet, so the
    shop is not left out as another replica's."""
    base = clock.now().replace(microsecond=0)
    _scheduled_pull_at(h, base)
    h.rt.pulled_to.clear()  # a new process: it has read no shop yet
    h.shop.list_calls.clear()
    _scheduled_pull_at(h, base + timedelta(seconds=1))
    assert h.shop.list_calls


def test_pull_given_its_refund_read_failed_still_knows_where_it_left_the_orders_cursor(h: Harness, db: Database,
                                                                                     monkeypatch):
    """The orders cursor moved, then the refund stream failed: this process's own read is not taken for another
    replica's at its next run, however soon (a run that overran is followed at once)."""
    from tests.fakes import transient

    base = clock.now().replace(microsecond=0)
    _scheduled_pull_at(h, base)
    real = h.shop.list_refunds
    failures = [transient()]

    def list_refunds(start, end):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return real(start, end)

    monkeypatch.setattr(h.shop, "list_refunds", list_refunds)
    with time_machine.travel(base + timedelta(seconds=20), tick=False):
        from syncd.stages.runner import SCHEDULED

        token = SCHEDULED.set(True)
        try:
            assert not h.stage("pull").ok
        finally:
            SCHEDULED.reset(token)
    assert _cursor(db, "orders") == base + timedelta(seconds=20)
    h.shop.list_calls.clear()
    _scheduled_pull_at(h, base + timedelta(seconds=21))
    assert h.shop.list_calls
