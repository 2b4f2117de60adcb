"""Shared fixtures: a migrated database on SQLite, and on PostgreSQL when SYNCD_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from syncd import i18n
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade

PG_URL = os.environ.get("SYNCD_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests read English unless they ask for another language (``with i18n.use("zh-CN")``): SYNCD_LANG=en
    wins over the configured language, also in the daemons a test starts."""
    monkeypatch.setenv(i18n.ENV_LANG, "en")
    with i18n.use("en", i18n.DEFAULT_TIMEZONE):
        yield
NO_PG = "PostgreSQL tests need SYNCD_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"


def pg_schema_url(schema: str) -> str:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def make_pg_schema() -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = open_database(PG_URL or "")
    with admin.engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema


def drop_pg_schema(schema: str) -> None:
    admin = open_database(PG_URL or "")
    with admin.engine.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'syncd.db'}"
        return
    if not PG_URL:
        pytest.skip(NO_PG)
    schema = make_pg_schema()
    try:
        yield pg_schema_url(schema)
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def _no_real_sandbox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never read an operator's environment by accident.
    for key in list(os.environ):
        if key.startswith("SYNCD_") and key not in ("SYNCD_TEST_POSTGRES_URL",):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _no_call_pace() -> None:
    """Each test starts with no remembered call pace (syncd.inflight): its first calls of a name go in flight."""
    from syncd import inflight

    inflight.forget()
