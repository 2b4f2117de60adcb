"""The drop-folder supplier: orders go out as spreadsheets in an outbox folder, replies come back in an inbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from syncd import clock
from syncd.adapters.dropfolder import inbox, outbox
from syncd.adapters.dropfolder.config import DropFolderConfig
from syncd.adapters.dropfolder.files import ensure_dir
from syncd.adapters.dropfolder.retention import PurgedFile, purge_folders
from syncd.adapters.dropfolder.schedule import batch_due
from syncd.domain import InboxFile, OutboxBatch, ParsedInbox, RowError
from syncd.errors import ConfigError
from syncd.registry import AdapterContext
from syncd.sheets.limits import MB


def resolve_dir(data_dir: Path, folder: str) -> Path:
    """``folder`` as an absolute path: relative paths are taken from the data directory."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else Path(data_dir) / path


class DropFolderSupplier:
    """A :class:`syncd.protocols.FileSupplierAdapter` over two local (or mounted) folders."""

    kind: str = "file"

    def __init__(self, config: DropFolderConfig, outbox_dir: Path, inbox_dir: Path) -> None:
        self.config = config
        self.outbox_dir = outbox_dir
        self.inbox_dir = inbox_dir
        self._order_headers = tuple(c.header for c in config.columns if c.field == "order_no")
        self._sub_order_headers = tuple(c.header for c in config.columns if c.field == "sub_order_no")
        self._max_bytes = int(config.limits.max_file_mb * MB)

    @classmethod
    def from_context(cls, config: DropFolderConfig, ctx: AdapterContext) -> DropFolderSupplier:
        """Resolve the folders against ``ctx.data_dir`` and create them; ConfigError when that fails."""
        where = f"supplier {config.id}"
        outbox_dir = resolve_dir(ctx.data_dir, config.outbox_dir)
        inbox_dir = resolve_dir(ctx.data_dir, config.inbox_dir)
        for key, folder in (("outbox_dir", outbox_dir), ("inbox_dir", inbox_dir)):
            try:
                ensure_dir(folder, config.dir_mode)
            except OSError as err:
                raise ConfigError(where, key, f"cannot create folder {folder}: {err.strerror or err}") from err
        if outbox_dir.resolve() == inbox_dir.resolve():
            raise ConfigError(where, "inbox_dir", f"must differ from outbox_dir, both are {inbox_dir}")
        return cls(config, outbox_dir, inbox_dir)

    def write_batch(self, batch: OutboxBatch) -> str:
        """Write the batch file atomically (same batch → same file name); returns the file name."""
        return outbox.write_batch(batch, self.outbox_dir, self.config.columns, self.config.format,
                                  self.config.encoding, self.config.file_prefix, self.config.file_mode)

    def list_inbox(self, now: datetime) -> list[InboxFile]:
        """Reply files that are complete (not modified within ``settle_seconds``), oldest first."""
        return inbox.list_inbox(self.inbox_dir, now, self.config.settle_seconds, self._max_bytes)

    def parse_inbox(self, file: InboxFile) -> ParsedInbox:
        """Read one reply file into accepted rows and rejected rows (never raises for bad content)."""
        return inbox.parse_inbox(file, self._order_headers, self._sub_order_headers, self.config.limits)

    def finish_inbox(self, file: InboxFile, errors: Sequence[RowError], file_error: str | None) -> str:
        """Move the file to processed/ or rejected/, with ``<file>.errors.csv`` beside it; returns the new path."""
        return inbox.finish_inbox(self.inbox_dir, file, errors, file_error, clock.now(),
                                  file_mode=self.config.file_mode, dir_mode=self.config.dir_mode,
                                  max_bytes=self._max_bytes)

    def batch_due(self, last_batch_at: datetime | None, now: datetime) -> bool:
        """Whether the schedule asks for a new outbox batch at ``now``."""
        return batch_due(last_batch_at, now, self.config.schedule)

    @property
    def retention_days(self) -> float:
        """Days outbox, processed and rejected files are kept."""
        return self.config.retention_days

    def purge_files(self, now: datetime, dry_run: bool = False) -> list[PurgedFile]:
        """Delete (or with ``dry_run`` only list) outbox, processed and rejected files older than
        ``retention_days``; files waiting in the inbox are never touched."""
        folders = [self.outbox_dir, self.inbox_dir / inbox.PROCESSED, self.inbox_dir / inbox.REJECTED]
        return purge_folders(folders, now, self.config.retention_days, dry_run)

    def close(self) -> None:
        """Nothing to release."""


def create(config: Any, ctx: AdapterContext) -> DropFolderSupplier:
    """Registry factory: a validated :class:`DropFolderConfig` and the core's context → adapter."""
    if not isinstance(config, DropFolderConfig):
        raise TypeError(f"expected DropFolderConfig, got {type(config).__name__}")
    return DropFolderSupplier.from_context(config, ctx)


__all__ = ["DropFolderSupplier", "create", "resolve_dir"]
