"""Fixtures of the console's tests: the seeded database (SQLite, and PostgreSQL when configured), the console over
it with a known password, and a test client (signed in or not)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from syncd import clock
from syncd.console.app import Console
from syncd.console.auth import hash_password
from syncd.console.pages import Pages
from syncd.console.settings import ConsoleSettings
from syncd.store.db import Database
from tests.console.seed import Seeded, seed

with warnings.catch_warnings():  # starlette asks for httpx2 at import; httpx does the same job here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSWORD = "correct horse 电池"
HASH = hash_password(PASSWORD)


@dataclass
class Resyncs:
    """Stands in for the daemon's resync (storefront adapters): records each call."""

    calls: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __call__(self, shop: str, pid: str, who: str, why: str) -> int:
        self.calls.append((shop, pid, who, why))
        return 1


@pytest.fixture
def seeded(db: Database) -> Seeded:
    return seed(db, clock.now())


@pytest.fixture
def resyncs() -> Resyncs:
    return Resyncs()


def make_console(db: Database, resyncs: Resyncs | None = None, **settings: Any) -> Console:
    pages = Pages(db, shops=["shop-a", "shop-b"], suppliers=["acme"], ship_within_hours={"acme": 24},
                  resync=resyncs)
    return Console(pages, ConsoleSettings(**{"password_hash": HASH, **settings}))


@pytest.fixture
def console(db: Database, seeded: Seeded, resyncs: Resyncs) -> Console:
    return make_console(db, resyncs)


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(console.app(), follow_redirects=False) as c:
        yield c


def sign_in(c: TestClient, password: str = PASSWORD) -> Any:
    return c.post("/login", data={"password": password})


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    assert sign_in(client).status_code == 303
    return client
