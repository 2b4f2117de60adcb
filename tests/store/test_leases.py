"""Leases: one holder at a time, a crashed holder never locks its successor out, a refusal names the holder."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.store.db import (
    Database,
    LeaseHeld,
    lease_held,
    open_database,
    release_lease,
    stage_lease,
    take_over_leases,
    try_lease,
)
from syncd.store.models import Lease

ROOT = Path(__file__).resolve().parents[2]
MIN = timedelta(minutes=1)


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def test_lease_given_a_holder_in_this_process_refuses_others_and_lets_the_holder_renew(db: Database):
    assert try_lease(db, "pull:shop1", "a", MIN)
    assert not try_lease(db, "pull:shop1", "b", MIN)
    assert try_lease(db, "pull:shop1", "a", MIN)  # renewal by the holder
    with time_machine.travel(clock.now() + 2 * MIN):
        # past its bound the holder still runs in this process: never a second runner, a warning instead
        assert not try_lease(db, "pull:shop1", "b", MIN)
        assert lease_held(db, "pull:shop1").overdue
    release_lease(db, "pull:shop1", "a")  # the renewal's release: the first taking still holds it
    assert not try_lease(db, "pull:shop1", "b", MIN)
    release_lease(db, "pull:shop1", "a")
    assert try_lease(db, "pull:shop1", "b", MIN)


def test_lease_given_another_process_holding_it_refuses_and_names_the_holder(db: Database):
    other = open_database(_url(db))  # another replica: its own connections
    try:
        assert try_lease(other, "forward:acme", "replica-a", MIN)
        assert not try_lease(db, "forward:acme", "replica-b", MIN)
        with pytest.raises(LeaseHeld, match="held by replica-a") as refused, \
                stage_lease(db, "forward:acme", "replica-b", MIN):
            pass
        assert not refused.value.overdue
        release_lease(other, "forward:acme", "replica-a")
        with stage_lease(db, "forward:acme", "replica-b", MIN):
            assert not try_lease(other, "forward:acme", "replica-a", MIN)
        assert try_lease(other, "forward:acme", "replica-a", MIN)  # released at the end of the block
    finally:
        other.dispose()


def test_lease_given_a_postgres_holder_killed_by_sigkill_is_free_at_once_with_no_expiry(db: Database):
    if db.is_sqlite:
        pytest.skip("SQLite: one daemon per file; its leases are taken over at start (test below)")
    script = ("import sys; from datetime import timedelta; from syncd.store.db import open_database, try_lease\n"
              "db = open_database(sys.argv[1]); assert try_lease(db, 'pull:shop1', 'crashed-pod', timedelta(hours=1))\n"
              "print('held', flush=True); sys.stdin.read()")
    with subprocess.Popen([sys.executable, "-c", script, _url(db)], cwd=ROOT, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, env={"PYTHONPATH": str(ROOT)}) as proc:
        _holder_killed(db, proc)


def _holder_killed(db: Database, proc: subprocess.Popen[bytes]) -> None:
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
        assert not try_lease(db, "pull:shop1", "new-pod", MIN)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5  # the server notices the closed socket within milliseconds
        got = try_lease(db, "pull:shop1", "new-pod", MIN)
        while not got and time.monotonic() < deadline:
            proc.wait(timeout=0.05)  # paces the polling (the process is already gone)
            got = try_lease(db, "pull:shop1", "new-pod", MIN)
        assert got, "the dead holder's lease (bound one hour away) was not taken over"
        with db.read() as s:
            assert s.scalar(select(Lease.holder).where(Lease.name == "pull:shop1")) == "new-pod"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_lease_given_a_postgres_holder_alive_past_its_bound_is_refused_and_reported_overdue(db: Database):
    if db.is_sqlite:
        pytest.skip("PostgreSQL: a live holder keeps its advisory lock")
    other = open_database(_url(db))
    try:
        assert try_lease(other, "collect:acme", "slow-replica", MIN)
        with time_machine.travel(clock.now() + 5 * MIN):
            assert not try_lease(db, "collect:acme", "replica-b", MIN)
            held = lease_held(db, "collect:acme")
            assert held.overdue and held.holder == "slow-replica"
            assert "past its bound" in str(held)
    finally:
        other.dispose()


def test_take_over_leases_given_rows_left_by_a_killed_sqlite_daemon_frees_them_for_the_new_one(db: Database):
    if not db.is_sqlite:
        assert take_over_leases(db) == 0  # PostgreSQL: nothing to clear, a dead session holds nothing
        return
    crashed = open_database(_url(db))
    assert try_lease(crashed, "pull:shop1", "host-a-4242", timedelta(minutes=15))
    crashed.engine.dispose()  # SIGKILL: no release ran, the row stays
    assert not try_lease(db, "pull:shop1", "host-b-17", timedelta(minutes=15))
    assert take_over_leases(db) == 1
    assert try_lease(db, "pull:shop1", "host-b-17", timedelta(minutes=15))


def test_release_given_the_lock_connection_lost_in_mid_run_warns_that_the_lease_was_lost(
        db: Database, caplog: pytest.LogCaptureFixture):
    if db.is_sqlite:
        pytest.skip("PostgreSQL: SQLite leases have no connection of their own")
    from sqlalchemy import text

    assert try_lease(db, "pull:shop1", "pod-a", MIN)
    conn = db.leases.held["pull:shop1"].conn
    assert conn is not None
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    conn.commit()
    with db.begin() as s:  # a network cut, a server restart: the session ends, and its lock with it
        assert s.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
    release_lease(db, "pull:shop1", "pod-a")
    assert any("lock connection was lost" in r.getMessage() for r in caplog.records)
    assert try_lease(db, "pull:shop1", "pod-b", MIN)


def _lock_pid(db: Database, name: str) -> int:
    from sqlalchemy import text

    conn = db.leases.held[name].conn
    assert conn is not None
    pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    conn.commit()
    return pid


def test_lease_given_a_clean_release_on_postgres_takes_the_next_lease_on_the_same_lock_connection(db: Database):
    """A fifty-shop fleet takes ten leases a second: a connection whose lease ended cleanly (unlocked) serves the
    next one instead of a new session each; the lease is still refused to other holders while taken, and free
    once released."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL: SQLite leases have no connection of their own")
    other = open_database(_url(db))
    try:
        assert try_lease(db, "pull:shop1", "pod-a", MIN)
        first = _lock_pid(db, "pull:shop1")
        release_lease(db, "pull:shop1", "pod-a")
        assert try_lease(db, "pull:shop2", "pod-a", MIN)
        assert _lock_pid(db, "pull:shop2") == first  # the same session, holding only the new lock
        assert try_lease(other, "pull:shop1", "pod-b", MIN)  # the first lock did not stay with the session
        assert not try_lease(other, "pull:shop2", "pod-b", MIN)
        with db.read() as s:
            assert s.scalar(select(Lease.holder).where(Lease.name == "pull:shop2")) == "pod-a"
        release_lease(db, "pull:shop2", "pod-a")
        with db.read() as s:
            assert s.scalar(select(Lease.holder).where(Lease.name == "pull:shop2")) is None
        assert try_lease(other, "pull:shop2", "pod-b", MIN)
    finally:
        other.dispose()


def test_lease_given_its_lock_connection_lost_on_postgres_never_serves_another_lease(db: Database):
    """A lease whose connection ended in mid-run gives that connection up, not back to the pool: the next lease
    gets a live session of its own."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL: SQLite leases have no connection of their own")
    from sqlalchemy import text

    assert try_lease(db, "pull:shop1", "pod-a", MIN)
    lost = _lock_pid(db, "pull:shop1")
    with db.begin() as s:
        assert s.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": lost}).scalar()
    release_lease(db, "pull:shop1", "pod-a")
    assert try_lease(db, "pull:shop1", "pod-a", MIN)
    assert _lock_pid(db, "pull:shop1") != lost
    release_lease(db, "pull:shop1", "pod-a")


def test_lease_given_its_row_cannot_be_written_on_postgres_keeps_no_lock_on_a_pooled_connection(db: Database):
    """The lock is taken, then the row's write fails: the taking raises, and its connection is given up with the
    lock, not kept in the pool still holding it (every later taking, by any replica, would be refused)."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL: SQLite leases have no connection of their own")
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.store.db import _ADVISORY_KEY

    name = "pull:" + "x" * 200  # longer than the row's column allows: the write after the lock fails
    with pytest.raises(SQLAlchemyError):
        try_lease(db, name, "pod-a", MIN)
    other = open_database(_url(db))
    try:
        with other.engine.connect() as conn:
            assert conn.execute(text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY})"), {"name": name}).scalar()
            conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"), {"name": name})
    finally:
        other.dispose()


def test_lease_given_its_pooled_lock_connection_dropped_by_the_server_meanwhile_takes_the_next_lease(db: Database):
    """A server restart (or a failover) ends the idle lock connections in the pool: the next lease gets a live one
    instead of failing its run."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL: SQLite leases have no connection of their own")
    from sqlalchemy import text

    assert try_lease(db, "pull:shop1", "pod-a", MIN)
    idle = _lock_pid(db, "pull:shop1")
    release_lease(db, "pull:shop1", "pod-a")  # back in the pool
    with db.begin() as s:
        assert s.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": idle}).scalar()
    assert try_lease(db, "pull:shop2", "pod-a", MIN)
    assert _lock_pid(db, "pull:shop2") != idle
    release_lease(db, "pull:shop2", "pod-a")
