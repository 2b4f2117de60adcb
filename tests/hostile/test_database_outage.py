"""The database goes away for a while and comes back: one line per stage when it goes, one when it returns,
no traceback, nothing raised into the scheduler, no order lost or placed twice.

PostgreSQL: a small TCP proxy in front of the test's database drops every connection and refuses new
ones (what a restart or failover looks like from the daemon). SQLite cannot go away as a server does: the
same outage is injected where connections are opened (every pooled connection dropped, every new one
refused with the driver's own error).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from syncd import clock
from syncd.daemon import STAGES
from syncd.httpd import check_readiness
from syncd.store.db import Database, open_database
from syncd.store.models import Order, SupplierOrder
from tests.fakes import make_order
from tests.stages.harness import Harness, build

OUTAGE_RUNS = 30  # every stage runs this many times while the database is away (30 s at 1 s intervals)
# reconcile's first run waits 10 minutes; stock and stock_due return before touching the database while no shop
# keeps stock (as here: tests/stock covers them, and their outage goes through the same runner)
STAGE_NAMES = [name for name in STAGES if name not in ("reconcile", "stock", "stock_due")]


class DroppingProxy:
    """127.0.0.1:port → the database; :meth:`down` cuts every connection and refuses new ones until :meth:`up`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.is_down = False
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                refuse = self.is_down
            if refuse:
                client.close()  # the server is gone: the driver reads EOF at once
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        with self.lock:
            self.is_down = True
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def up(self) -> None:
        with self.lock:
            self.is_down = False

    def close(self) -> None:
        self.closed = True
        self.down()
        self.listener.close()


class SqliteOutage:
    """The same outage on SQLite: pooled connections dropped, new ones refused by the driver."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.is_down = False
        event.listen(db.engine, "do_connect", self._connect)

    def _connect(self, *_args: Any) -> None:
        if self.is_down:
            raise sqlite3.OperationalError("unable to open database file")

    def down(self) -> None:
        self.is_down = True
        self.db.engine.dispose()

    def up(self) -> None:
        self.is_down = False

    def close(self) -> None:
        event.remove(self.db.engine, "do_connect", self._connect)


@pytest.fixture
def outage(db: Database, tmp_path: Path) -> Iterator[tuple[Harness, DroppingProxy | SqliteOutage]]:
    if db.is_sqlite:
        fault: DroppingProxy | SqliteOutage = SqliteOutage(db)
        yield build(db, tmp_path), fault
        fault.close()
        return
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    proxy = DroppingProxy(url.host or "127.0.0.1", url.port or 5432)
    through = open_database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield build(through, tmp_path), proxy
    finally:
        proxy.close()
        through.dispose()


def _cycle(h: Harness) -> None:
    for name in STAGE_NAMES:
        h.stage(name)  # raises nothing, whatever the database does


def test_database_outage_given_30_runs_of_every_stage_logs_one_line_each_way_and_loses_no_order(
        outage: tuple[Harness, DroppingProxy | SqliteOutage], db: Database, caplog: pytest.LogCaptureFixture):
    h, fault = outage
    for i in range(5):
        h.shop.put(make_order(f"30{i}", clock.now() - timedelta(minutes=30)))
    _cycle(h)
    for i in range(5, 10):  # paid (and stamped) just before the outage: after the pull's cursor
        h.shop.put(make_order(f"30{i}", clock.now()))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        fault.down()
        for _ in range(OUTAGE_RUNS):
            _cycle(h)
        ready = check_readiness(h.rt.db, {n: 1.0 for n in STAGES})
        during = [r for r in caplog.records if r.levelno >= logging.INFO]
        caplog.clear()
        fault.up()
        _cycle(h)
        _cycle(h)
        after = [r for r in caplog.records if r.levelno >= logging.INFO]
    tracebacks = [r for r in during + after if r.exc_info]
    assert tracebacks == []
    per_stage = Counter(r.getMessage().split(":", 1)[0] for r in during)
    assert per_stage == dict.fromkeys(STAGE_NAMES, 1), [r.getMessage() for r in during]
    assert all("database unreachable" in r.getMessage() and r.levelno == logging.ERROR for r in during)
    assert not ready.ok and ready.failed[0].name == "database"
    recovered = [r.getMessage() for r in after if "database reachable again" in r.getMessage()]
    assert sorted(m.split(":", 1)[0] for m in recovered) == sorted(STAGE_NAMES)
    assert f"after {OUTAGE_RUNS} failed run(s)" in recovered[0]
    # nothing lost, nothing doubled: every order exported exactly once
    exported = Counter(r["订单号"] for r in h.exported_rows("acme"))
    assert exported == Counter(f"30{i}" for i in range(10))
    with db.read() as s:
        assert set(s.scalars(select(Order.state))) == {"placed"}
        assert s.scalar(select(SupplierOrder.id).where(SupplierOrder.state != "placed")) is None
