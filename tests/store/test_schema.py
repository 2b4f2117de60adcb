"""The models and the migrations agree; the SQLite lock and the leases do their job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert

from syncd import clock
from syncd.errors import ConfigError
from syncd.store.db import DaemonLock, Database, open_database
from syncd.store.migrate import upgrade
from syncd.store.models import Base, Order


def test_migrations_given_a_fresh_database_match_the_models_exactly(db: Database):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_given_an_up_to_date_database_is_a_no_op(db: Database):
    upgrade(db)
    upgrade(db)


def test_orders_given_the_same_shop_and_platform_id_twice_refuse_the_second(db: Database):
    from sqlalchemy.exc import IntegrityError

    now = clock.now()
    row = {
        "shop_id": "s",
        "platform_order_id": "1",
        "platform_status": "2",
        "status": "paid",
        "ready_to_ship": True,
        "refund_state": "none",
        "payment_mode": "prepaid",
        "platform_updated_at": now,
        "receiver": {},
        "shipped_tracking": [],
        "raw": {},
        "state": "new",
        "first_seen_at": now,
        "updated_at": now,
    }
    with db.begin() as s:
        s.execute(insert(Order), [row])
    with pytest.raises(IntegrityError), db.begin() as s:
        s.execute(insert(Order), [row])


def test_datetimes_given_any_backend_come_back_aware_utc(db: Database):
    from sqlalchemy import select

    from syncd.store.models import Cursor

    when = clock.now().replace(microsecond=0)
    with db.begin() as s:
        s.add(Cursor(shop_id="s", stream="orders", watermark=when, updated_at=when))
    with db.begin() as s:
        got = s.scalar(select(Cursor.watermark))
    assert got == when and got.utcoffset() == timedelta(0)


def test_daemon_lock_given_a_second_daemon_on_the_same_sqlite_file_refuses_with_a_clear_message(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    first, second = DaemonLock(url), DaemonLock(url)
    first.acquire()
    with pytest.raises(ConfigError, match="already running"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_open_database_given_a_sqlite_url_uses_wal(tmp_path: Path):
    from sqlalchemy import text

    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


def test_read_transaction_given_a_writer_holding_the_sqlite_lock_does_not_wait(tmp_path: Path):
    from sqlalchemy import select, text

    from syncd.store.models import Order

    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(db)
    with db.begin() as s:  # a transaction holding the write lock
        s.execute(text("UPDATE leases SET holder = holder"))
        with db.read() as r:
            assert r.scalar(select(func.count()).select_from(Order)) == 0
    db.dispose()


def test_token_store_given_a_save_serves_it_from_memory_and_sees_other_replicas_after_the_cache_ages(db: Database):
    from syncd.domain import Token
    from syncd.runtime import DbTokenStore

    one, other = DbTokenStore(db, "a"), DbTokenStore(db, "b")
    t1 = Token("at-1", "rt-1", clock.now() + timedelta(days=7))
    one.save("shop", t1)
    assert other.load("shop") == t1
    before = db.statements.count
    assert one.load("shop") == t1 and other.load("shop") == t1
    assert db.statements.count == before  # both answered from memory
    t2 = Token("at-2", "rt-2", clock.now() + timedelta(days=7))
    one.save("shop", t2)  # a refresh by replica "a"
    other.CACHE_SECONDS = 0
    assert other.load("shop") == t2


@pytest.mark.postgres
def test_upgrade_given_replicas_starting_together_on_postgres_migrates_once_without_errors():
    import threading

    from tests.conftest import NO_PG, PG_URL, drop_pg_schema, make_pg_schema, pg_schema_url

    if not PG_URL:
        pytest.skip(NO_PG)
    schema = make_pg_schema()
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def replica() -> None:
        db = open_database(pg_schema_url(schema))
        try:
            start.wait(timeout=10)
            upgrade(db)
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)
        finally:
            db.dispose()

    threads = [threading.Thread(target=replica) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
    finally:
        drop_pg_schema(schema)
