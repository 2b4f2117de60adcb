"""Engine and sessions. SQLite: WAL, BEGIN IMMEDIATE, one daemon per file. PostgreSQL: SKIP LOCKED claims.

Leases (one holder at a time for a shop's pull, a supplier's export, the watch pass, a token refresh):

* Inside one process a name is held by one thread at a time (:attr:`Database.leases`).
* PostgreSQL (several replicas): a **session-level advisory lock** on a connection of its own, held for
  the whole run and closed at release. PostgreSQL drops the lock the moment that connection ends, so a
  replica killed by SIGKILL or OOM frees its leases at once (the kernel closes its socket); a machine that
  vanishes is noticed by TCP keepalives within about 30 s (``LOCK_CONNECT_ARGS``). No heartbeat is needed
  and no expiry can hand a lease to a second replica while the first still works. The ``leases`` row is
  kept beside it as a record (who holds it, until when the run was expected to end): a replica refused a
  lease names the holder, and one whose holder is past that bound logs a warning and raises an alert.
  A holder whose lock connection drops in mid-run (a network cut) loses the lease and says so at release;
  the row claims (``SKIP LOCKED``) and idempotency keys keep effects single even then.
* SQLite (one daemon, guaranteed by :class:`DaemonLock`): the ``leases`` row is the lock between the daemon
  and operator commands; :func:`take_over_leases` at start clears every row an earlier process left, so a
  daemon restarted after a crash (new pid, new host name) is never locked out by its predecessor.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from syncd import clock, jsoncodec
from syncd.errors import ConfigError
from syncd.store.models import Lease

log = logging.getLogger("syncd.store")


@dataclass
class StatementCounter:
    """Counts SQL statements sent (executemany counts once), for the benchmark and metrics."""

    count: int = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


@dataclass
class _Held:
    holder: str
    conn: Connection | None  # PostgreSQL: the connection whose session holds the advisory lock
    depth: int = 1  # the same holder took it again (a renewal) before releasing: released at the last release
    ready: bool = False  # False while the taking is under way (a same-holder caller meanwhile is refused)


# The lock connection notices a vanished server, and the server a vanished replica, within about 30 s.
LOCK_CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                     "keepalives_count": 3}


class LeaseTable:
    """The leases this process holds, by name, and the engine of their lock connections (PostgreSQL)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, _Held] = {}
        self.engine: Engine | None = None

    def lock_engine(self, engine: Engine) -> Engine:
        """The engine of the lock connections: each lease holds one of its own while it runs. A connection whose
        lease ended cleanly (unlocked, so it holds no lock) waits in the pool for the next lease; a fifty-shop
        fleet takes ten leases a second, and a new session each (a connection, a server process) cost more than
        the run it guarded. Any other end of a lease discards its connection (:func:`_close`), and the session's
        locks end with it. No cap: as many at once as leases are held, as before the pool."""
        with self.lock:
            if self.engine is None:
                # pre-ping as the main engine: a pooled connection the server dropped meanwhile (a restart, a
                # failover) is replaced at checkout instead of failing the next lease
                self.engine = create_engine(engine.url, pool_size=LOCK_POOL, max_overflow=-1, pool_pre_ping=True,
                                            connect_args=LOCK_CONNECT_ARGS)
            return self.engine

    def close_all(self) -> None:
        with self.lock:
            held, self.held = list(self.held.values()), {}
            engine, self.engine = self.engine, None
        for h in held:
            _close(h.conn, discard=True)
        if engine is not None:
            engine.dispose()


LOCK_POOL = 8  # lock connections kept between leases (a lease's run is seconds; the pull works up to 24 shops at once)


def _close(conn: Connection | None, *, discard: bool = False) -> None:
    """End a lease's use of its lock connection: ``discard`` ends the session (PostgreSQL drops whatever
    advisory lock it still holds); otherwise, holding none, it goes back to the pool."""
    if conn is None:
        return
    try:
        if discard:
            conn.invalidate()
        conn.close()
    except SQLAlchemyError:
        log.debug("closing a lease connection failed; the server drops it anyway", exc_info=True)


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    statements: StatementCounter = field(default_factory=StatementCounter)
    readers: sessionmaker[Session] | None = None
    leases: LeaseTable = field(default_factory=lambda: LeaseTable())

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """One short transaction; never keep it open across a network call."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not take the write lock."""
        with (self.readers or self.sessions).begin() as session:
            yield session

    def dispose(self) -> None:
        self.leases.close_all()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # isolation_level=None hands transaction control to us (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")  # a writer waits its turn; stage transactions are short
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A deferred transaction that later writes can fail with SQLITE_BUSY at once, whatever busy_timeout
    # says; taking the write lock up front makes concurrent stage threads wait their turn instead.
    # Read-only transactions (Database.read) need no lock: WAL readers never block nor wait for writers.
    read_only = conn.get_execution_options().get("syncd_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def open_database(url: str, *, echo: bool = False) -> Database:
    """Create the engine for ``url`` (sqlite:///path or postgresql+psycopg://...)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 60},
                               json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, echo=echo, pool_size=5, max_overflow=5, pool_pre_ping=True,
                               json_serializer=jsoncodec.dumps, json_deserializer=jsoncodec.loads)
    db = Database(engine, sessionmaker(engine, expire_on_commit=False),
                  readers=sessionmaker(engine.execution_options(syncd_read_only=True), expire_on_commit=False))
    event.listen(engine, "before_cursor_execute", db.statements)
    return db


class DaemonLock:
    """With SQLite, a second daemon on the same file refuses to start (an exclusive lock on ``<db>.lock``)."""

    def __init__(self, url: str) -> None:
        self.path: Path | None = None
        if url.startswith("sqlite") and ":memory:" not in url:
            self.path = Path(url.split("///", 1)[-1] + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a fresh machine has no data directory yet
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise ConfigError(
                str(self.path.with_suffix("")), "database",
                f"another syncd (pid {holder}) is already running on this SQLite database; "
                "stop it first, or use PostgreSQL to run several replicas",
            ) from err
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


_ADVISORY_KEY = "hashtextextended(current_schema() || '/' || :name, 0)"  # schemas in one database stay apart


class LeaseHeld(Exception):
    """A stage scope's lease is held by another holder: the run is skipped (not a success, not a failure)."""

    def __init__(self, name: str, holder: str | None, bound: datetime | None, now: datetime) -> None:
        self.name, self.holder, self.bound = name, holder, bound
        self.overdue = bound is not None and bound < now
        who = holder or "another process"
        if self.overdue:
            assert bound is not None
            over = int((now - clock.ensure_utc(bound)).total_seconds())
            msg = f"lease {name} held by {who} {over} s past its bound ({bound.isoformat(timespec='seconds')})"
        else:
            msg = f"lease {name} held by {who}"
        super().__init__(msg)


def try_lease(db: Database, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` until now + ``ttl``; False while someone else holds it. Each True is
    paired with one :func:`release_lease` (a renewal by the holder counts as a taking).

    Within this process the name is refused to any other holder. On PostgreSQL the lease is an advisory
    lock (it ends with its connection, see the module docstring); on SQLite the ``leases`` row decides
    against other processes (operator commands), an expired row of another holder being free.
    """
    table = db.leases
    with table.lock:
        mine = table.held.get(name)
        if mine is not None and (mine.holder != holder or not mine.ready):
            return False
        if mine is None:
            table.held[name] = _Held(holder, None)  # reserved while the lock is taken below
        else:
            mine.depth += 1
    if mine is not None:  # renewal: move the bound
        try:
            _write_row(db, name, holder, clock.now() + ttl)
        except BaseException:
            release_lease(db, name, holder)
            raise
        return True
    try:
        got = _acquire(db, name, holder, ttl)
    except BaseException:
        with table.lock:
            table.held.pop(name, None)
        raise
    with table.lock:
        if got:
            table.held[name].ready = True
        else:
            table.held.pop(name, None)
    return got


def _acquire(db: Database, name: str, holder: str, ttl: timedelta) -> bool:
    if db.is_sqlite:
        return _write_row(db, name, holder, clock.now() + ttl)
    conn = db.leases.lock_engine(db.engine).connect()
    try:
        got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY})"), {"name": name}).scalar())
        if got:  # the lock is ours: the row is overwritten, whatever it says, in the same transaction
            ins = pg_insert(Lease).values(name=name, holder=holder, expires_at=clock.now() + ttl)
            conn.execute(ins.on_conflict_do_update(index_elements=[Lease.name], set_={
                "holder": ins.excluded.holder, "expires_at": ins.excluded.expires_at}))
        conn.commit()  # the lock is the session's, not the transaction's: nothing stays open on this connection
    except BaseException:
        _close(conn, discard=True)
        raise
    if not got:
        _close(conn)  # it holds no lock
        return False
    with db.leases.lock:
        db.leases.held[name].conn = conn
    return True


def _write_row(db: Database, name: str, holder: str, bound: datetime) -> bool:
    """The ``leases`` row: ours until ``bound``, unless another holder's row is not past its bound (SQLite's
    taking; a renewal by the holder)."""
    now = clock.now()
    with db.begin() as s:
        cond = (Lease.holder == holder) | (Lease.expires_at < now)
        res = s.execute(update(Lease).where(Lease.name == name, cond).values(holder=holder, expires_at=bound))
        if res.rowcount:  # type: ignore[attr-defined]
            return True
    try:
        with db.begin() as s:
            s.execute(insert(Lease).values(name=name, holder=holder, expires_at=bound))
        return True
    except IntegrityError:
        return False


def release_lease(db: Database, name: str, holder: str) -> None:
    """Give the lease up (a no-op unless ``holder`` holds it here). Never raises for a database fault: the
    advisory lock ends with its connection whatever happens, and a SQLite row is the holder's own again."""
    with db.leases.lock:
        mine = db.leases.held.get(name)
        if mine is None or mine.holder != holder:
            mine = None
        elif mine.depth > 1:
            mine.depth -= 1  # renewed by the same holder: the outer taking still holds it
            return
        else:
            del db.leases.held[name]
    unlocked = False
    try:
        if mine is not None and mine.conn is not None:
            unlocked = _unlock(mine.conn, name, holder)
        if not unlocked:
            with db.begin() as s:
                s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
    except SQLAlchemyError as err:
        log.debug("lease %s: its row stays until the next holder overwrites it (%s)", name, type(err).__name__)
    finally:
        if mine is not None:
            _close(mine.conn, discard=not unlocked)


def _unlock(conn: Connection, name: str, holder: str) -> bool:
    """Delete the row and unlock, in one transaction on the lock connection; False when the lock was lost
    during the run (the unlock says so, or the connection is dead): the row is then the caller's to delete."""
    try:
        conn.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
        still_ours = bool(conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"), {"name": name}).scalar())
        if still_ours:
            conn.commit()
    except SQLAlchemyError:
        still_ours = False
    if not still_ours:
        # the connection dropped mid-run (a network cut, a server restart): another replica may have run the same
        # scope meanwhile; row claims (SKIP LOCKED) and idempotency keys keep the effects single
        log.warning("lease %s (%s): its lock connection was lost during the run", name, holder)
    return still_ours


def lease_held(db: Database, name: str) -> LeaseHeld:
    """What a refused caller knows: who holds ``name`` and whether it is past its bound."""
    with db.read() as s:
        row = s.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name)).first()
    return LeaseHeld(name, row[0] if row else None, clock.ensure_utc(row[1]) if row else None, clock.now())


def take_over_leases(db: Database) -> int:
    """SQLite, at start, under :class:`DaemonLock`: every lease row is a dead process's; clear them all."""
    if not db.is_sqlite:
        return 0
    with db.begin() as s:
        n = int(s.execute(delete(Lease)).rowcount)  # type: ignore[attr-defined]
    if n:
        log.info("took over %d lease(s) left by an earlier syncd process", n)
    return n


@contextmanager
def lease(db: Database, name: str, holder: str, ttl: timedelta) -> Iterator[bool]:
    """``with lease(...) as got:`` — got is False when someone else holds it."""
    got = try_lease(db, name, holder, ttl)
    try:
        yield got
    finally:
        if got:
            release_lease(db, name, holder)


@contextmanager
def stage_lease(db: Database, name: str, holder: str, ttl: timedelta) -> Iterator[None]:
    """A stage scope's lease for one run (``ttl`` is its bound); raises :class:`LeaseHeld` when refused, which
    the stage runner records as a skipped run."""
    if not try_lease(db, name, holder, ttl):
        raise lease_held(db, name)
    try:
        yield
    finally:
        release_lease(db, name, holder)
