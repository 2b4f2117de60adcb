"""The history seeder: finished orders the daemon's own models read back, in bulk, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, insert, select

from syncd import clock
from syncd.bench_seed import seed_orders
from syncd.routing import idempotency_key
from syncd.store.db import Database
from syncd.store.models import ExportBatch, Order, OrderLine, Shipment, SupplierOrder, TrackingEvent


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_seed_given_n_orders_writes_each_finished_with_its_whole_history(db: Database) -> None:
    now = clock.now()
    summary = seed_orders(db, 400, days=60, now=now, chunk=150)
    assert summary.orders == 400
    assert _count(db, Order) == 400 == summary.rows["orders"]
    with db.read() as s:
        orders = s.execute(select(Order)).scalars().all()
        states = Counter(o.state for o in orders)
        assert set(states) == {"shipped", "cancelled"}
        assert 0 < states["cancelled"] < 40  # about 3 %
        for o in orders:
            assert now - timedelta(days=61) <= o.platform_created_at <= now - timedelta(days=3)
            assert o.receiver["province"] and "****" in o.receiver["phone_masked"]
            assert o.platform_order_id.startswith("9") and len(o.platform_order_id) == 19
        shipped = [o for o in orders if o.state == "shipped"]
        sos = s.execute(select(SupplierOrder)).scalars().all()
        by_order = Counter(so.order_id for so in sos)
        assert all(by_order[o.id] >= 1 for o in orders)
        for so in sos:
            order = next(o for o in orders if o.id == so.order_id)
            assert so.idempotency_key == idempotency_key(order.shop_id, order.platform_order_id, so.supplier_id)
            assert so.state == ("cancelled" if order.state == "cancelled" else "shipped")
            exported = so.state == "shipped" and so.supplier_id in ("yiwu-goods", "gz-apparel")
            assert (so.batch_id is not None) == exported
        ships = s.execute(select(Shipment)).scalars().all()
        assert {sh.order_id for sh in ships} == {o.id for o in shipped}
        assert all(sh.writeback_state == "uploaded" and sh.track_final and sh.delivered_at for sh in ships)
        assert len({sh.carrier for sh in ships}) >= 5 and len({sh.province for sh in ships}) >= 8
        events = Counter(e.shipment_id for e in s.execute(select(TrackingEvent)).scalars())
        assert set(events.values()) == {5}
        assert {o.shop_id for o in orders} == {"douyin-demo", "pdd-demo", "taobao-demo"}
        lines = s.execute(select(OrderLine)).scalars().all()
        assert len(lines) == summary.rows["order_lines"] > 400
        assert all(ln.unit_price_fen > 0 and isinstance(ln.unit_price_fen, int) for ln in lines)
        assert _count(db, ExportBatch) == summary.rows["export_batches"] > 0


def test_seed_given_a_database_in_use_appends_after_its_ids_and_the_daemon_still_inserts(db: Database) -> None:
    seed_orders(db, 50, chunk=20)
    seed_orders(db, 50, seed=8, chunk=20)
    assert _count(db, Order) == 100
    now = clock.now()
    with db.begin() as s:  # the database's own id sequence is past the seeded rows (PostgreSQL: setval)
        s.execute(insert(Order), [{
            "shop_id": "douyin-demo", "platform_order_id": "4000000000000000001", "platform_status": "2",
            "status": "paid", "ready_to_ship": True, "refund_state": "none", "payment_mode": "prepaid",
            "platform_updated_at": now, "receiver": {}, "shipped_tracking": [], "raw": {}, "state": "new",
            "first_seen_at": now, "updated_at": now}])
    assert _count(db, Order) == 101


def test_seed_given_the_same_seed_writes_the_same_orders(tmp_path) -> None:
    from syncd.store.db import open_database
    from syncd.store.migrate import upgrade

    now = clock.now()
    seen = []
    for name in ("a", "b"):
        d = open_database(f"sqlite:///{tmp_path / name}.db")
        upgrade(d)
        seed_orders(d, 30, now=now, seed=3)
        with d.read() as s:
            seen.append(s.execute(select(Order.shop_id, Order.platform_created_at, Order.receiver)
                                  .order_by(Order.id)).all())
        d.dispose()
    assert seen[0] == seen[1]


def test_seed_given_a_column_it_does_not_know_writes_that_columns_default(db: Database) -> None:
    """A revision after the seeder adds a column: the seeder writes the column's default, not a KeyError."""
    from syncd import bench_seed

    known = bench_seed.SO_COLS
    gen = bench_seed._Generator(__import__("random").Random(1), clock.now(), 60, bench_seed.DEFAULT_SHOPS,
                                bench_seed.DEFAULT_SUPPLIERS, db.is_sqlite, dict.fromkeys(bench_seed.TABLES, 1))
    row = gen._row("supplier_orders", known, {c: "x" for c in known if c != "faults"})
    assert row[known.index("faults")] == 0  # the model's default
