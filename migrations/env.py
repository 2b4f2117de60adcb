"""Alembic environment: the URL comes from the caller (``syncd db upgrade``) or SYNCD_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from syncd.settings import Settings
from syncd.store.db import open_database
from syncd.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().db_url()
    db = open_database(url)
    with db.engine.connect() as connection:
        _run(connection)
    db.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `syncd db upgrade`")
run_migrations_online()
