"""Apply Alembic migrations (``syncd db upgrade``; also at daemon start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

import syncd.migrations as migrations
from syncd.store.db import Database

MIGRATION_LOCK_KEY = 0x5E7CD0  # any constant; names syncd's migrations among the database's advisory locks


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(next(iter(migrations.__path__)))))
    # configparser interpolation: a literal % (URL escapes) must be doubled
    cfg.set_main_option("sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run again."""
    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas starting together would race to create the same tables: one migrates, the others wait
            # here and then find the schema up to date. The lock ends with the transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def autogenerate(db: Database, message: str) -> None:
    """Developer helper: write a new revision from the models (review it before committing)."""
    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
