"""Two replicas finishing an order's two supplier orders at the same moment (PostgreSQL: SQLite serialises
every write transaction, so the race cannot happen there)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from syncd import clock
from syncd.lifecycle import OrderState, SupplierOrderState
from syncd.stages.forward import _mark_orders_placed
from syncd.store.db import Database
from syncd.store.models import Order, SupplierOrder
from tests.fakes import make_order
from tests.stages.harness import build


def _waiting_for_a_lock(db: Database) -> bool:
    with db.read() as s:
        return bool(s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND datname = current_database()")))


def test_two_replicas_placing_an_orders_two_supplier_orders_at_once_leave_it_placed(db: Database, tmp_path: Path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the race needs two concurrent write transactions: PostgreSQL only")
    h = build(db, tmp_path)
    h.shop.put(make_order("7001", clock.now(), skus=("SKU-A", "SKU-B")))  # acme and beta
    h.stage("pull")
    h.stage("route")
    with db.read() as s:
        order_id = s.scalars(select(Order.id)).one()
        so_a, so_b = s.scalars(select(SupplierOrder.id).order_by(SupplierOrder.id)).all()
    now = clock.now()
    second_done = threading.Event()

    def replica_b() -> None:
        with db.begin() as s:
            s.execute(update(SupplierOrder).where(SupplierOrder.id == so_b).values(state=SupplierOrderState.PLACED))
            _mark_orders_placed(s, [order_id], now)
        second_done.set()

    with db.begin() as s:  # replica A: its supplier order placed, the other one not committed yet
        s.execute(update(SupplierOrder).where(SupplierOrder.id == so_a).values(state=SupplierOrderState.PLACED))
        _mark_orders_placed(s, [order_id], now)
        b = threading.Thread(target=replica_b)
        b.start()
        for _ in range(200):  # bounded: B either waits for A's lock on the order, or has already finished
            if second_done.is_set() or _waiting_for_a_lock(db):
                break
            second_done.wait(0.02)
    b.join(timeout=10)
    assert second_done.is_set()
    with db.read() as s:
        assert s.get(Order, order_id).state == OrderState.PLACED
