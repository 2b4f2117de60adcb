"""pull: windows sized to what one transaction should hold, and re-read refund events that write nothing."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import event, func, select, update

from syncd import clock
from syncd.domain import RefundEvent, RefundState
from syncd.stages import pull
from syncd.store.db import Database
from syncd.store.models import Cursor, Order
from tests.fakes import make_order
from tests.stages.harness import Harness, build

TARGET = 50  # pull.WINDOW_ENTRIES for these tests


@pytest.fixture
def h(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(pull, "WINDOW_ENTRIES", TARGET)
    return build(db, tmp_path)


def _burst(h: Harness, prefix: str, n: int, seconds: float, *, ending_ago: float = 0.0) -> None:
    """``n`` orders updated evenly over the ``seconds`` before ``ending_ago`` seconds ago."""
    end = clock.now() - timedelta(seconds=ending_ago)
    for i in range(n):
        h.shop.put(make_order(f"{prefix}{i:05d}", end - timedelta(seconds=seconds * (n - i) / n)))


def _held(h: Harness, calls: list[tuple[Any, Any]]) -> list[int]:
    return [sum(1 for o in h.shop.orders.values() if a <= o.updated_at <= b) for a, b in calls]


def test_pull_given_a_burst_at_the_end_of_a_window_narrows_the_window_before_reading_it(h: Harness, db: Database):
    _burst(h, "9", 600, 60)  # 10 orders a second, all in the last minute of a 24-hour first look-back
    assert h.stage("pull").ok
    held = _held(h, h.shop.list_calls)
    assert sum(held) >= 600 and max(held) <= 2 * TARGET + 10  # a few share a boundary second
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 600
        assert s.get(Cursor, ("shop1", "orders")).watermark == h.shop.list_calls[-1][1]
    calls = h.shop.list_calls
    assert all(b[0] <= a[1] for a, b in itertools.pairwise(calls))  # no gap between windows


def test_pull_without_a_count_narrows_the_windows_after_one_held_too_much(h: Harness, db: Database,
                                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(h.shop, "count_orders", lambda start, end: None)
    _burst(h, "7", 1800, 2 * 3600)  # one order every 4 seconds for two hours
    h.stage("pull")
    held = _held(h, h.shop.list_calls)
    over = [i for i, n in enumerate(held) if n > 2 * TARGET + 5]
    assert len(over) == 1  # nothing tells beforehand: the first busy window is read whole, the next ones fit
    assert len(held) - over[0] > 1800 // (2 * TARGET) and sum(held) >= 1800
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1800


def test_pull_over_a_quiet_stretch_widens_windows_at_most_twofold_each(h: Harness):
    _burst(h, "5", 300, 30, ending_ago=3600)  # busy an hour ago, quiet since
    h.stage("pull")
    h.shop.list_calls.clear()
    start = clock.now() - timedelta(hours=1)
    pull.walk(h.rt, "shop1", start, clock.now(), h.shop.list_orders, pull.store_orders("shop1"), cursor=None)
    spans = [b - a for a, b in h.shop.list_calls]
    assert all(nxt <= 2 * prev + timedelta(seconds=1) for prev, nxt in itertools.pairwise(spans))
    assert max(spans) <= timedelta(hours=1)


def test_pace_narrows_at_once_widens_by_two_and_stays_within_the_ceiling_and_floor():
    pace, ceiling = pull._Pace(), timedelta(hours=1)

    class Adapter:
        pass

    a = Adapter()
    assert pace.span(a, "s", ceiling) == ceiling  # never seen
    pace.learn(a, "s", ceiling, ceiling, 100 * pull.WINDOW_ENTRIES, ceiling)
    assert pace.span(a, "s", ceiling) == timedelta(seconds=36)
    pace.learn(a, "s", timedelta(seconds=36), timedelta(seconds=36), 0, ceiling)
    assert pace.span(a, "s", ceiling) == timedelta(seconds=72)  # empty: twice as wide, no more
    pace.learn(a, "s", timedelta(seconds=72), timedelta(seconds=1), 10**9, ceiling)
    assert pace.span(a, "s", ceiling) == pull.MIN_WINDOW
    assert pace.span(a, "s", timedelta(seconds=1)) == timedelta(seconds=1)  # the configured window rules
    assert pace.span(Adapter(), "s", ceiling) == ceiling  # per adapter


def test_refund_events_read_again_when_settled_write_neither_line_nor_order(h: Harness, db: Database):
    h.shop.put(make_order("401", clock.now() - timedelta(minutes=3), skus=("SKU-A", "SKU-B")))
    h.stage("pull")
    h.shop.refunds.append(RefundEvent("401", "401-1", RefundState.REQUESTED, clock.now(), "仅退款"))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        h.stage("pull")
        first = [st for st in statements if st.startswith("UPDATE order_lines")]
        statements.clear()
        with time_machine.travel(clock.now() + timedelta(minutes=5)):
            h.stage("pull")  # the settling read brings the same event back
        again = [st for st in statements if st.startswith(("UPDATE order_lines", "UPDATE orders"))]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(first) == 1 and again == []  # nor the order: it already reflects the event
    stamp = h.shop.refunds[0].updated_at
    assert sum(a <= stamp <= b for a, b in h.shop.refund_calls) == 2  # read fresh, then read again settled
    with db.begin() as s:
        assert s.scalar(select(Order.refund_state)) == "requested"


def test_refund_event_read_again_still_corrects_an_order_whose_refund_state_went_astray(h: Harness, db: Database):
    h.shop.put(make_order("402", clock.now() - timedelta(minutes=3)))
    h.stage("pull")
    h.shop.refunds.append(RefundEvent("402", "402-1", RefundState.REQUESTED, clock.now(), "仅退款"))
    h.stage("pull")
    with db.begin() as s:  # the order's own state overwritten while its line kept the refund
        s.execute(update(Order).values(refund_state="none"))
    with time_machine.travel(clock.now() + timedelta(minutes=5)):
        h.stage("pull")
    with db.begin() as s:
        assert s.scalar(select(Order.refund_state)) == "requested"


def test_pull_with_a_stepping_listing_reads_on_from_where_each_page_ended_and_stores_every_order(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch):
    _burst(h, "3", 95, 60, ending_ago=120)  # 95 orders in one minute, two minutes ago
    steps: list[tuple[Any, Any]] = []  # (start, where the step ended)

    def list_orders_step(start: Any, end: Any, seen: Any = None) -> Any:
        """Like Douyin's: at most one page of 10, everything before the page's last entry's moment."""
        got = h.shop.list_orders(start, end, seen)
        inside = sorted(o.updated_at for o in h.shop.orders.values() if start <= o.updated_at <= end)
        if len(inside) <= 10:
            steps.append((start, end))
            return got
        last = inside[9]
        steps.append((start, last))
        got.orders = [o for o in got.orders if o.updated_at < last]
        got.total, got.covered = len(got.orders), last
        return got

    monkeypatch.setattr(h.shop, "list_orders_step", list_orders_step, raising=False)
    monkeypatch.setattr(h.shop, "count_orders", lambda start, end: pytest.fail("a stepping listing needs no count"))
    assert h.stage("pull").ok
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 95
    assert all(b[0] == a[1] for a, b in itertools.pairwise(steps[:-1]))  # each step reads on where the last ended
    first = min(o.updated_at for o in h.shop.orders.values())
    assert len([s for s in steps if s[0] >= first]) <= 95 // 9 + 2  # a page a step, and the quiet rest at once


def test_pull_with_a_stepping_listing_reads_each_runs_stretch_as_one_window_whatever_the_last_one_held(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch):
    _burst(h, "4", 200, 60)  # four times what a window should hold (50), in the last minute
    windows: list[tuple[Any, Any]] = []

    def list_orders_step(start: Any, end: Any, seen: Any = None) -> Any:
        """Like Douyin's for a window it holds: all of it at once (its pages are its own business)."""
        windows.append((start, end))
        return h.shop.list_orders(start, end, seen)

    monkeypatch.setattr(h.shop, "list_orders_step", list_orders_step, raising=False)
    assert h.stage("pull").ok
    fresh = pull.read_cursor(h.rt, "shop1")
    assert fresh is not None
    with time_machine.travel(clock.now() + timedelta(minutes=40), tick=False):
        _burst(h, "5", 10, 600)  # 40 minutes on, a quiet stretch: paced on the last window, it would be cut
        assert h.stage("pull").ok
    assert len([w for w in windows if w[0] >= fresh]) == 1
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 210
