"""Retention: what syncd keeps only for a while is deleted once its time is up.

- Supplier files (outbox batches, processed and rejected reply files with their ``.errors.csv`` and
  ``.reason.txt``) hold names, phones and addresses: each drop-folder supplier deletes those older than
  its ``retention_days`` (default 30). Files still waiting in an inbox are never touched.
- The rejected rows kept with each imported reply file (``inbox_files.errors``, the raw cells: names,
  phones) are emptied after the same ``retention_days``; the record itself stays, so the same file
  dropped again is still recognised.
- ``callbacks_seen`` rows (event ids of accepted pushes, kept so a replay changes nothing) older than
  :data:`CALLBACKS_KEEP`: a replay that old fails the senders' signature time check long before.

Runs as a scheduled job every :data:`INTERVAL_HOURS` and as ``syncd purge [--dry-run]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import String, cast, delete, func, select, update

from syncd import clock
from syncd.i18n import _
from syncd.runtime import Runtime
from syncd.store.db import Database
from syncd.store.models import CallbackSeen, InboxFileRecord

log = logging.getLogger("syncd.purge")

CALLBACKS_KEEP = timedelta(days=30)
INTERVAL_HOURS = 6.0


class PurgedFile(Protocol):
    """One file past its retention, as an adapter reports it."""

    path: str
    size: int
    modified_at: datetime


@runtime_checkable
class RetainsFiles(Protocol):
    """A supplier adapter that keeps files with personal data and deletes them after its retention."""

    @property
    def retention_days(self) -> float:
        """Days its files (and the rejected rows recorded from them) are kept."""

    def purge_files(self, now: datetime, dry_run: bool = False) -> Sequence[PurgedFile]:
        """Delete (``dry_run``: only list) the files past retention; return them."""


@dataclass
class PurgeReport:
    """What went (or, on a dry run, would go)."""

    files: list[tuple[str, PurgedFile]] = field(default_factory=list)  # (supplier id, file)
    callbacks: int = 0
    file_records: int = 0  # inbox_files rows whose rejected rows were emptied
    failures: list[tuple[str, str]] = field(default_factory=list)  # (supplier id, error)


def purge(suppliers: Mapping[str, Any], db: Database, now: datetime, dry_run: bool = False) -> PurgeReport:
    """Delete supplier files past retention and old ``callbacks_seen`` rows (``dry_run``: only count).

    One supplier that fails (its folder unreadable) is reported in ``failures``; the others go on.
    """
    report = PurgeReport()
    for supplier_id, adapter in suppliers.items():
        if not isinstance(adapter, RetainsFiles):
            continue
        try:
            report.files.extend((supplier_id, f) for f in adapter.purge_files(now, dry_run))
        except OSError as err:
            report.failures.append((supplier_id, err.strerror or str(err)))
        report.file_records += _empty_rejected_rows(
            db, supplier_id, clock.ensure_utc(now) - timedelta(days=adapter.retention_days), dry_run)
    before = clock.ensure_utc(now) - CALLBACKS_KEEP
    if dry_run:
        with db.read() as s:
            report.callbacks = int(s.scalar(select(func.count()).select_from(CallbackSeen)
                                            .where(CallbackSeen.at < before)) or 0)
    else:
        with db.begin() as s:
            result = s.execute(delete(CallbackSeen).where(CallbackSeen.at < before))
            report.callbacks = int(getattr(result, "rowcount", 0) or 0)
    return report


def _empty_rejected_rows(db: Database, supplier_id: str, before: datetime, dry_run: bool) -> int:
    """Empty ``inbox_files.errors`` of the supplier's files imported before ``before``; how many."""
    where = (InboxFileRecord.supplier_id == supplier_id, InboxFileRecord.processed_at < before,
             cast(InboxFileRecord.errors, String) != "[]")
    if dry_run:
        with db.read() as s:
            return int(s.scalar(select(func.count()).select_from(InboxFileRecord).where(*where)) or 0)
    with db.begin() as s:
        result = s.execute(update(InboxFileRecord).where(*where).values(errors=[]))
        return int(getattr(result, "rowcount", 0) or 0)


def run_job(rt: Runtime) -> None:
    """The scheduled purge: logs what went, never raises into the scheduler."""
    if rt.stop.is_set():
        return
    try:
        report = purge(rt.suppliers, rt.db, clock.now())
    except Exception:  # the scheduler must never see an exception; the next run tries again
        log.exception(_("purge failed; it runs again in {hours} hours").format(hours=f"{INTERVAL_HOURS:.0f}"))
        return
    for supplier_id, error in report.failures:
        log.warning(_("purge: supplier {supplier}: {error}").format(supplier=supplier_id, error=error))
    if report.files or report.callbacks or report.file_records:
        log.info(_("purge: deleted {files} supplier file(s) past retention, the rejected rows kept for {records} "
                   "file(s) and {callbacks} old callback id(s)").format(
            files=len(report.files), records=report.file_records, callbacks=report.callbacks))


__all__ = ["CALLBACKS_KEEP", "INTERVAL_HOURS", "PurgeReport", "PurgedFile", "RetainsFiles", "purge", "run_job"]
