"""Engine and sessions. SQLite: WAL, BEGIN IMMEDIATE, one daemon per file. PostgreSQL: SKIP LOCKED claims."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from syncd import clock, jsoncodec
from syncd.errors import ConfigError
from syncd.store.models import Lease


@dataclass
class StatementCounter:
    """Counts SQL statements sent (executemany counts once), for the benchmark and metrics."""

    count: int = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    statements: StatementCounter = field(default_factory=StatementCounter)
    readers: sessionmaker[Session] | None = None

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


def try_lease(db: Database, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``ttl``; False while another holder's lease runs."""
    now = clock.now()
    with db.begin() as s:
        res = s.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        )
        if res.rowcount:  # type: ignore[attr-defined]
            return True
    try:
        with db.begin() as s:
            s.execute(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False


def release_lease(db: Database, name: str, holder: str) -> None:
    with db.begin() as s:
        s.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                  .values(expires_at=clock.now() - timedelta(seconds=1)))


@contextmanager
def lease(db: Database, name: str, holder: str, ttl: timedelta) -> Iterator[bool]:
    """``with lease(...) as got:`` — got is False when someone else holds it."""
    got = try_lease(db, name, holder, ttl)
    try:
        yield got
    finally:
        if got:
            release_lease(db, name, holder)
