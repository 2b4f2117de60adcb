"""Retention of supplier files: outbox, processed and rejected files hold names, phones and addresses,
so they are deleted once older than the supplier's ``retention_days``.

Only regular files directly in those folders are deleted (a link is never followed, a folder never
entered); a file's age is its modification time, which :func:`inbox.finish_inbox` sets when it moves a
reply file in.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncd.clock import ensure_utc

log = logging.getLogger(__name__)

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class PurgedFile:
    """One file past its retention: deleted, or only listed on a dry run."""

    path: str
    modified_at: datetime
    size: int


def purge_folders(folders: Sequence[Path], now: datetime, retention_days: float,
                  dry_run: bool = False) -> list[PurgedFile]:
    """Regular files directly in ``folders`` last modified more than ``retention_days`` before ``now``,
    deleted unless ``dry_run``. A folder that is missing, or is a link, is skipped; one file that cannot
    be deleted is logged and the others go on."""
    cutoff = ensure_utc(now).timestamp() - retention_days * DAY
    out: list[PurgedFile] = []
    for folder in folders:
        try:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                log.warning("purge: %r is not a folder (a link?); skipped", str(folder))
                continue
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("purge: cannot list %r: %s", str(folder), err.strerror or err)
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode) or st.st_mtime >= cutoff:
                    continue
                if not dry_run:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError as err:
                log.warning("purge: cannot delete %r: %s", entry.path, err.strerror or err)
                continue
            out.append(PurgedFile(entry.path, datetime.fromtimestamp(st.st_mtime, UTC), st.st_size))
    return out


__all__ = ["PurgedFile", "purge_folders"]
