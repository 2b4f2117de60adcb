"""upsert_orders: what a window read again costs, and what a real change writes (SQLite, and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from syncd import clock
from syncd.domain import OrderIn, RefundState
from syncd.store.db import Database
from syncd.store.models import Order, OrderLine, Shop
from syncd.store.orders import payload_hash, upsert_orders
from tests.fakes import make_order

STAMP = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def shop(db: Database) -> Database:
    with db.begin() as s:
        s.add(Shop(id="shop1", platform="fake", updated_at=clock.now()))
    return db


@pytest.fixture
def writes(shop: Database) -> Iterator[list[str]]:
    """Every INSERT or UPDATE statement sent, by table (``"UPDATE orders"``)."""
    seen: list[str] = []
    write = re.compile(r"^\s*(INSERT INTO|UPDATE) (\w+)")

    def capture(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if m := write.match(statement):
            seen.append(f"{m[1]} {m[2]}")

    event.listen(shop.engine, "before_cursor_execute", capture)
    yield seen
    event.remove(shop.engine, "before_cursor_execute", capture)


def _order(raw: dict[str, Any], **changes: Any) -> OrderIn:
    return dataclasses.replace(make_order("900", STAMP, skus=("SKU-A", "SKU-B")), raw=raw, **changes)


def _upsert(db: Database, order: OrderIn) -> Any:
    with db.begin() as s:
        return upsert_orders(s, "shop1", [order], clock.now())


def test_upsert_given_the_same_version_again_writes_nothing(shop: Database, writes: list[str]) -> None:
    raw = {"order_id": "900", "order_status": 2, "sku_order_list": [{"order_id": "900-1", "spec": [{"v": "红"}]}]}
    assert _upsert(shop, _order(raw)).inserted == 1
    writes.clear()
    res = _upsert(shop, _order(dict(raw)))  # an equal payload, as a second read of the window decodes it
    assert (res.unchanged, res.updated, writes) == (1, 0, [])


def test_upsert_given_other_content_under_the_same_stamp_stores_it(shop: Database) -> None:
    _upsert(shop, _order({"order_id": "900", "seller_words": ""}))
    res = _upsert(shop, _order({"order_id": "900", "seller_words": "加急"}, seller_memo="加急"))
    assert res.updated == 1
    with shop.begin() as s:
        assert s.execute(select(Order.raw, Order.seller_memo)).one() == ({"order_id": "900", "seller_words": "加急"},
                                                                        "加急")


def test_upsert_given_a_status_change_leaves_unchanged_lines_alone(shop: Database, writes: list[str]) -> None:
    _upsert(shop, _order({"order_id": "900", "order_status": 2}))
    writes.clear()
    shipped = _order({"order_id": "900", "order_status": 3}, platform_status="3",
                     updated_at=STAMP + timedelta(minutes=1))
    assert _upsert(shop, shipped).updated == 1
    assert writes == ["UPDATE orders"]


def test_upsert_given_a_line_refund_rewrites_that_line(shop: Database) -> None:
    _upsert(shop, _order({"order_id": "900", "v": 1}))
    base = _order({"order_id": "900", "v": 2}, updated_at=STAMP + timedelta(minutes=1))
    refunded = [dataclasses.replace(base.lines[0], refund_state=RefundState.REQUESTED), base.lines[1]]
    _upsert(shop, dataclasses.replace(base, lines=refunded))
    with shop.begin() as s:
        got = {lid: st for lid, st in s.execute(select(OrderLine.platform_line_id, OrderLine.refund_state))}
    assert got == {"900-1": "requested", "900-2": "none"}


def test_payload_hash_tells_content_apart_and_takes_values_json_cannot_hold() -> None:
    a = {"order_id": "1", "lines": [{"n": 1, "price": 1.5, "ok": True, "memo": None}]}
    assert payload_hash(a) == payload_hash({"order_id": "1", "lines": [{"n": 1, "price": 1.5, "ok": True,
                                                                        "memo": None}]})
    assert payload_hash(a) != payload_hash({"order_id": "1", "lines": [{"n": 2, "price": 1.5, "ok": True,
                                                                        "memo": None}]})
    odd = {"order_id": "1", "at": STAMP}  # not a JSON value: written as its text
    assert payload_hash(odd) == payload_hash({"order_id": "1", "at": STAMP})
    assert payload_hash(odd) != payload_hash({"order_id": "1", "at": STAMP + timedelta(seconds=1)})
