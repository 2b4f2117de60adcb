"""The stock tables (syncd/store/models.py, revision 0009): upserts that work on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 200  # rows per statement: well inside SQLite's bound-parameter limit at 15 columns


def upsert(s: Session, model: Any, rows: Sequence[Mapping[str, Any]], keys: Iterable[str],
           update: Iterable[str] | None = None) -> None:
    """Insert ``rows``; a row whose key exists has its other columns (or ``update``) set instead."""
    if not rows:
        return
    keys = list(keys)
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), CHUNK):
        part = [dict(r) for r in rows[start:start + CHUNK]]
        stmt = insert(model).values(part)
        cols = list(update) if update is not None else [c for c in part[0] if c not in keys]
        if cols:
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        s.execute(stmt)
