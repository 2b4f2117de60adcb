"""pull: versions committed by this process are not mapped or stored again when the settling read lists them."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.stages import pull
from syncd.store.db import Database
from syncd.store.models import Order
from syncd.store.orders import CommittedVersions
from tests.fakes import make_order
from tests.stages.harness import Harness, build


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The order ids each upsert was given (windows with none left out)."""
    calls: list[list[str]] = []
    real = pull.upsert_orders

    def spy(s: Any, shop_id: str, orders: Any, now: Any) -> Any:
        if orders:
            calls.append([o.platform_order_id for o in orders])
        return real(s, shop_id, orders, now)

    monkeypatch.setattr(pull, "upsert_orders", spy)
    return calls


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)


def _pull_once_settled(h: Harness) -> bool:
    """A pull 5 minutes (the harness's overlap) on: what was read fresh is read again, settled."""
    with time_machine.travel(clock.now() + timedelta(minutes=5)):
        return h.stage("pull").ok


def test_pull_given_the_overlap_lists_committed_versions_stores_only_what_changed(
        h: Harness, db: Database, stored: list[list[str]]) -> None:
    for i in range(3):
        h.shop.put(make_order(f"70{i}", _ago(3 - i)))
    assert h.stage("pull").ok
    assert sorted(pid for window in stored for pid in window) == ["700", "701", "702"]
    stored.clear()
    changed = make_order("701", _ago(0.5), qty=3)  # stamped behind the cursor: found by the settling read
    h.shop.put(changed)

    assert _pull_once_settled(h)

    assert stored == [["701"]]
    with db.begin() as s:
        assert s.scalar(select(Order.platform_updated_at).where(Order.platform_order_id == "701")) \
            == changed.updated_at


def test_pull_given_a_window_that_failed_to_commit_remembers_none_of_it(
        h: Harness, db: Database, stored: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    h.shop.put(make_order("710", _ago(2)))
    real = pull._quarantine

    def fail(*args: Any) -> None:  # after the window's upsert, inside its transaction
        if stored:
            raise RuntimeError("disk full")

    monkeypatch.setattr(pull, "_quarantine", fail)
    assert not h.stage("pull").ok
    assert stored == [["710"]]
    monkeypatch.setattr(pull, "_quarantine", real)
    stored.clear()

    assert h.stage("pull").ok

    assert stored == [["710"]]  # read and stored again: the first transaction rolled back
    with db.begin() as s:
        assert s.scalar(select(Order.platform_order_id)) == "710"


def test_pull_given_same_stamp_other_content_stores_it(h: Harness, db: Database, stored: list[list[str]]) -> None:
    first = make_order("720", _ago(2))
    h.shop.put(first)
    h.stage("pull")
    h.shop.put(dataclasses.replace(first, raw={"order_id": "720", "seller_words": "加急"}, seller_memo="加急"))
    stored.clear()

    assert _pull_once_settled(h)

    assert stored == [["720"]]
    with db.begin() as s:
        assert s.scalar(select(Order.seller_memo)) == "加急"


def test_committed_versions_keep_the_newest_and_forget_what_no_run_can_re_read() -> None:
    seen = CommittedVersions()
    seen.record([("a", 100.0, "h1"), ("b", 200.0, "h2")], keep_from=0)
    seen.record([("a", 90.0, "h0")], keep_from=0)  # an older version never replaces a newer one
    assert seen.unchanged("a", 100.0, None) is False  # the hash of None is not h1
    assert len(seen) == 2
    seen.record([("c", 300.0, "h3")], keep_from=150.0)
    assert len(seen) == 2  # "a" (stamped 100) can no longer come back in an overlap
