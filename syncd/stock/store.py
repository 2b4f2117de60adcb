"""The stock tables (syncd/store/models.py, revision 0009): upserts that work on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(s: Session, model: Any, rows: Sequence[Mapping[str, Any]], keys: Iterable[str],
           update: Iterable[str] | None = None) -> None:
    """Insert ``rows`` (all with the same columns); a row whose key exists has its other columns (or ``update``)
    set instead. One statement, compiled once and cached, executed for every row."""
    if not rows:
        return
    keys = list(keys)
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(model)
    cols = list(update) if update is not None else [c for c in rows[0] if c not in keys]
    stmt = (stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in cols}) if cols
            else stmt.on_conflict_do_nothing(index_elements=keys))
    s.execute(stmt, [dict(r) for r in rows])
