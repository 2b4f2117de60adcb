"""open_holds: one open hold per order, written for a whole batch in a few statements (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from syncd import clock
from syncd.store.db import Database
from syncd.store.models import Hold, Order, Shop
from syncd.store.orders import open_hold, open_holds


def _orders(db: Database, n: int) -> list[int]:
    now = clock.now()
    with db.begin() as s:
        s.add(Shop(id="shop1", platform="fake", updated_at=now))
        rows = [Order(shop_id="shop1", platform_order_id=f"H{i}", platform_status="2", status="paid",
                      ready_to_ship=True, refund_state="none", payment_mode="prepaid", platform_updated_at=now,
                      receiver={}, shipped_tracking=[], raw={}, state="new", first_seen_at=now, updated_at=now)
                for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [o.id for o in rows]


def _open(db: Database) -> dict[int, tuple[str, str]]:
    with db.begin() as s:
        return {h.order_id: (h.reason, h.detail) for h in s.scalars(select(Hold).where(Hold.released_at.is_(None)))}


def test_open_holds_given_new_other_and_same_reasons_keeps_one_open_hold_each(db: Database) -> None:
    a, b, c = _orders(db, 3)
    now = clock.now()
    with db.begin() as s:
        open_hold(s, b, "unmapped_sku", "no route for SKU X", now, auto=True)
        open_hold(s, c, "not_ready", "risk review", now, auto=True)
    with db.begin() as s:
        open_holds(s, [(a, "not_ready", "not paid yet"), (b, "address_incomplete", "receiver lacks city"),
                       (c, "not_ready", "risk review (again)")], now + timedelta(minutes=1), auto=True)
    assert _open(db) == {a: ("not_ready", "not paid yet"), b: ("address_incomplete", "receiver lacks city"),
                         c: ("not_ready", "risk review (again)")}
    with db.begin() as s:
        released = {(h.order_id, h.reason, h.released_by) for h in s.scalars(select(Hold).where(
            Hold.released_at.is_not(None)))}
        assert released == {(b, "unmapped_sku", "superseded")}
        assert s.scalar(select(Hold.created_at).where(Hold.order_id == c)) == now  # the same hold, not a new one


def test_open_holds_given_a_batch_sends_the_same_few_statements_whatever_its_size(db: Database) -> None:
    ids = _orders(db, 120)
    now = clock.now()
    with db.begin() as s:
        open_holds(s, [(oid, "unmapped_sku", "old") for oid in ids[:60]], now, auto=True)
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement.split(None, 1)[0])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.begin() as s:  # 30 superseded, 30 new detail, 60 new holds
            open_holds(s, [(oid, "not_ready", "x") for oid in ids[:30]]
                       + [(oid, "unmapped_sku", "new") for oid in ids[30:60]]
                       + [(oid, "not_ready", "y") for oid in ids[60:]], now, auto=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [w for w in sent if w in ("SELECT", "UPDATE", "INSERT")] == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
    assert len(_open(db)) == 120
