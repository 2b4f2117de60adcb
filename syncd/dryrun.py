"""``syncd once --dry-run``: pull and route for real on a copy of the SQLite database, send nothing, print the plan.

The real database is only read (SQLite's backup API over a read-only connection): its file stays byte for byte
as it was, and a daemon may keep running on it meanwhile. On the copy every shop runs in shadow mode
(:func:`syncd.shadow.as_dry_run`) and only the stages that change nothing outside run (pull, route); tokens are
used as stored, never refreshed (:class:`syncd.shadow.ReadOnlyTokens`). Files the run would write land in a
temporary folder that is deleted afterwards. PostgreSQL cannot be copied this way: the dry run refuses it
(:class:`DryRunRefused`); ``mode: shadow`` per shop is the way there.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from syncd import shadow
from syncd.config.loader import Config
from syncd.errors import SyncdError
from syncd.settings import Settings
from syncd.stages.runner import StageReport
from syncd.store.db import open_database
from syncd.store.migrate import upgrade

STAGES = ("pull", "route")  # the stages that change nothing outside (pull reads, route decides in the database)


class DryRunRefused(SyncdError):
    """The database is not a SQLite file: there is no copy to run on."""


@dataclass
class DryRun:
    reports: list[StageReport]
    plan: dict[str, Any]


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL; DryRunRefused for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise DryRunRefused("a dry run needs the SQLite database (it runs on a copy of the file); on PostgreSQL "
                            "put the shops in shadow mode instead (mode: shadow, docs/shadow.md)")
    return Path(parsed.database)


def copy_database(source: Path, dest: Path) -> None:
    """Copy the SQLite database ``source`` to ``dest`` without writing to it. With a ``-wal`` beside it (a daemon
    runs, or stopped abruptly) it is read through a read-only connection, which sees every committed change; else
    as immutable, so that not even a ``-shm`` file is left beside it. A missing database leaves ``dest`` unmade
    (the dry run starts from an empty one)."""
    if not source.exists():
        return
    wal = source.with_name(source.name + "-wal").exists()
    uri = f"{source.resolve().as_uri()}?mode=ro" + ("" if wal else "&immutable=1")
    with closing(sqlite3.connect(uri, uri=True)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


@contextmanager
def _copy(settings: Settings) -> Iterator[Settings]:
    source = sqlite_path(settings.db_url())
    with tempfile.TemporaryDirectory(prefix="syncd-dry-run-") as tmp:
        copy = Path(tmp) / "syncd.db"
        copy_database(source, copy)
        # the data directory too: whatever the run would write there lands in the temporary folder
        yield settings.model_copy(update={"database_url": f"sqlite:///{copy}", "data_dir": Path(tmp) / "data"})


def dry_run(settings: Settings, config: Config) -> DryRun:
    """Pull and route every shop on a copy of the database; what would have been sent (:func:`shadow.plan`)."""
    from syncd.daemon import run_stage
    from syncd.runtime import build_runtime

    with _copy(settings) as on_copy:
        db = open_database(on_copy.db_url())
        try:
            upgrade(db)
            shadowed = shadow.as_dry_run(config)
            rt = build_runtime(on_copy, shadowed, db, read_only_tokens=True)
            try:
                reports = [run_stage(rt, name) for name in STAGES]
            finally:
                rt.close()
            return DryRun(reports, shadow.plan(db, shadowed))
        finally:
            db.dispose()
