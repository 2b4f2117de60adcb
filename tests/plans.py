"""The plans of the statements a piece of code runs: tests that a query walks an index, on SQLite (EXPLAIN QUERY
PLAN) and on PostgreSQL (EXPLAIN with sequential scans switched off, so a missing index shows as a forced one)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from syncd.store.db import Database


def statements(db: Database, run: Callable[[], object], pattern: str) -> list[tuple[str, Any]]:
    """Every single (not executemany) statement ``run`` executes whose text matches ``pattern``, with its
    parameters; at least one."""
    wanted = re.compile(pattern, re.DOTALL)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, many: bool) -> None:
        if not many and wanted.search(statement):
            seen.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert seen, f"no statement matching {pattern!r} was executed"
    return seen


def explain(db: Database, seen: list[tuple[str, Any]]) -> list[str]:
    """The plan of each statement, one string each (its lines joined by " / ")."""
    with db.engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        if db.is_sqlite:
            return [" / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                    for sql, params in seen]
        out = []
        with raw.cursor() as cur:
            cur.execute("SET enable_seqscan = off")
            for sql, params in seen:
                cur.execute(f"EXPLAIN {sql}", params)
                out.append(" / ".join(str(row[0]).strip() for row in cur.fetchall()))
        raw.rollback()
        return out
