"""The inbox folder: which reply files are ready, reading one into a table, moving it out when done.

Bad input never raises: an unreadable file, or one over the supplier's limits, comes back as
``ParsedInbox(file_error=...)`` and is moved to ``rejected/`` with the reason in ``<file>.reason.txt``
(and ``<file>.errors.csv``). Only regular files are read: a symbolic link, fifo or device dropped in the
inbox is never opened, only moved aside the same way (reference §B.4 for encodings).
File names come from the supplier: they are logged with ``%r``, never as they are.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from syncd import clock
from syncd.adapters.dropfolder.config import InboxLimits
from syncd.adapters.dropfolder.files import (
    DIR_MODE,
    FILE_MODE,
    NotRegularFile,
    atomic_write,
    ensure_dir,
    hash_stream,
    identity,
    open_regular,
    set_mode,
)
from syncd.adapters.dropfolder.outbox import clean_text, csv_safe
from syncd.adapters.dropfolder.readers import parse_csv, parse_xlsx
from syncd.domain import InboxFile, ParsedInbox, RowError
from syncd.sheets.limits import MB, InboxLimitError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx")
PARTIAL_SUFFIXES = (".tmp", ".part", ".crdownload")
PROCESSED = "processed"
REJECTED = "rejected"
LIMIT_PREFIX = "over the limits for supplier files: "

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (BIFF), also a password-protected .xlsx
_MOVED_PREFIX = r"\d{8}T\d{6}Z(?:-\d+)?-"
_EMPTY_CHECK = 64 * 1024


# ---- listing ---------------------------------------------------------------------------------------


def is_candidate(name: str) -> bool:
    """A name that may be a finished reply file: .csv/.xlsx, not hidden, not a lock or partial file."""
    lower = name.lower()
    if name.startswith((".", "~$")) or lower.endswith(PARTIAL_SUFFIXES):
        return False
    return lower.endswith(SUFFIXES)


def sha256_of(path: Path) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a regular file's content; NotRegularFile for anything else."""
    with open_regular(path) as f:
        return hash_stream(f)


def list_inbox(inbox_dir: Path, now: datetime, settle_seconds: float,
               max_bytes: int | None = None) -> list[InboxFile]:
    """Reply files directly in ``inbox_dir`` that are complete: not modified in the last ``settle_seconds``.

    A link, fifo, socket or device under a reply-file name is listed too (with an id of the name, size 0)
    so that it is rejected and moved aside with an alert; it is never opened. Folders are skipped.
    A file over ``max_bytes`` is identified without being read (see :func:`files.identity`).
    """
    ready_before = clock.ensure_utc(now).timestamp() - settle_seconds
    found: list[tuple[float, str, InboxFile]] = []
    with os.scandir(inbox_dir) as entries:
        for entry in entries:
            if not is_candidate(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) or st.st_mtime > ready_before:
                    continue  # a folder, or still being written: look again next time
                if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                    continue  # empty: still being created
                sha, size, _kind = identity(entry.path, max_bytes)
            except FileNotFoundError:
                continue  # moved away meanwhile (another replica, a person)
            except OSError as err:
                log.warning("inbox file %r cannot be read: %s", entry.name, err.strerror or err)
                continue
            found.append((st.st_mtime, entry.name,
                          InboxFile(name=entry.name, path=entry.path, sha256=sha, size=size)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in found]


# ---- reading -----------------------------------------------------------------------------------------


def _is_blank(f: BinaryIO, size: int) -> bool:
    if size > _EMPTY_CHECK:
        return False
    f.seek(0)
    return not f.read(_EMPTY_CHECK).removeprefix(b"\xef\xbb\xbf").strip()


def parse_inbox(
    file: InboxFile,
    order_headers: Sequence[str] = (),
    sub_order_headers: Sequence[str] = (),
    limits: InboxLimits | None = None,
) -> ParsedInbox:
    """Read one reply file into accepted and rejected rows; never raises for bad content.

    The content decides the reader (a zip is a workbook whatever its suffix says). What is parsed is
    exactly the content listed (its SHA-256 is checked before and after). ``limits``: the supplier's bounds.
    ``order_headers``/``sub_order_headers``: headers our outbox used, recognised besides the aliases.
    """
    limits = limits or InboxLimits()
    path = Path(file.path)
    try:
        f = open_regular(path)
    except NotRegularFile as err:
        return _file_error(f"a {err.kind}, not a regular file: syncd only reads files dropped as they are")
    except OSError as err:
        return _file_error(f"cannot read the file: {err.strerror or err}")
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > limits.max_file_mb * MB:
                raise InboxLimitError(f"the file is {size / MB:.1f} MB, over the limit of {limits.max_file_mb:g} MB")
            if hash_stream(f)[0] != file.sha256:
                return _file_error("file changed after it was listed; it will be read again")
            if _is_blank(f, size):
                return _file_error("file is empty")
            f.seek(0)
            magic = f.read(len(_OLE_MAGIC))
            if magic.startswith(_ZIP_MAGIC):
                parsed = parse_xlsx(f, size, order_headers, sub_order_headers, limits)
            elif magic.startswith(_OLE_MAGIC):
                return _file_error("old .xls (Excel 97-2003) or password-protected workbook: save it as .xlsx "
                                   "without a password")
            elif path.suffix.lower() == ".xlsx":
                return _file_error("not an .xlsx workbook (not a zip archive): the file is damaged or misnamed")
            else:
                parsed = parse_csv(f, order_headers, sub_order_headers, limits)
            f.seek(0)
            if hash_stream(f)[0] != file.sha256:
                return _file_error("file changed while it was read; it will be read again")
        except InboxLimitError as err:
            return _file_error(LIMIT_PREFIX + str(err))
        except OSError as err:
            return _file_error(f"cannot read the file: {err.strerror or err}")
    return parsed


def _file_error(message: str) -> ParsedInbox:
    return ParsedInbox(rows=[], errors=[], file_error=message)


# ---- finishing ---------------------------------------------------------------------------------------


def _moved_copy(inbox_dir: Path, file: InboxFile, first: str, max_bytes: int | None) -> Path | None:
    """Where an earlier call already moved this file (same content), newest first."""
    pattern = re.compile(_MOVED_PREFIX + re.escape(file.name))
    for sub in (first, REJECTED if first == PROCESSED else PROCESSED):
        folder = inbox_dir / sub
        if not folder.is_dir() or folder.is_symlink():
            continue
        names = sorted((n for n in os.listdir(folder) if pattern.fullmatch(n)), reverse=True)
        for name in [*names, file.name]:
            candidate = folder / name
            try:
                sha, size, _kind = identity(candidate, max_bytes)
            except OSError:
                continue
            if size == file.size and sha == file.sha256:
                return candidate
    return None


def _free_name(folder: Path, name: str, moved_at: datetime) -> Path:
    stamp = clock.ensure_utc(moved_at).strftime("%Y%m%dT%H%M%SZ")
    candidate = folder / f"{stamp}-{name}"
    n = 1
    while os.path.lexists(candidate):
        n += 1
        candidate = folder / f"{stamp}-{n}-{name}"
    return candidate


def write_errors_csv(path: Path, errors: Sequence[RowError], file_error: str | None, mode: int = FILE_MODE) -> None:
    """``行号, 原因`` then the original columns of each rejected row; UTF-8 with BOM for Excel."""
    columns: list[str] = []
    for error in errors:
        columns.extend(k for k in error.raw if k not in columns)
    table: list[list[str]] = [["行号", "原因", *columns]]
    if file_error:
        table.append(["", file_error])
    for error in errors:
        table.append([str(error.row_no), error.reason, *(error.raw.get(k, "") for k in columns)])

    def write(out: BinaryIO) -> None:
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        try:
            csv.writer(text).writerows([csv_safe(clean_text(v)) for v in row] for row in table)
            text.flush()
        finally:
            text.detach()

    atomic_write(path, write, mode)


def write_reason(path: Path, file_name: str, file_error: str, mode: int = FILE_MODE) -> None:
    """``<file>.reason.txt``: why a whole file was rejected, in one short text a person opens."""
    body = (f"文件 / file: {clean_text(repr(file_name))}\n"
            f"未导入 / not imported: {clean_text(file_error)}\n"
            "修改后请重新放入收件箱 / fix it and drop it into the inbox again.\n")
    def write(out: BinaryIO) -> None:
        out.write(body.encode("utf-8-sig"))

    atomic_write(path, write, mode)


def finish_inbox(
    inbox_dir: Path,
    file: InboxFile,
    errors: Sequence[RowError],
    file_error: str | None,
    moved_at: datetime | None = None,
    *,
    file_mode: int = FILE_MODE,
    dir_mode: int = DIR_MODE,
    max_bytes: int | None = None,
) -> str:
    """Move the file to ``processed/`` (``rejected/`` on a file error) and write ``<name>.errors.csv``
    (and ``<name>.reason.txt`` for a rejected file), created with ``file_mode``.

    A name already taken there gets a UTC timestamp prefix. Calling again after a crash finds the
    moved copy by its content and finishes the job. A file whose content changed since it was read
    is left in the inbox (it will be listed and read again) and its own path is returned.
    ``processed/`` and ``rejected/`` must be real folders: a link planted there is refused (OSError).
    ``max_bytes``: as given to :func:`list_inbox`, so the file is recognised by the same identity.
    """
    src = Path(file.path)
    sub = REJECTED if file_error else PROCESSED
    folder = inbox_dir / sub
    ensure_dir(folder, dir_mode, no_link=True)
    try:
        current_sha: str | None = identity(src, max_bytes)[0]
    except FileNotFoundError:
        current_sha = None
    if current_sha is not None and current_sha != file.sha256:
        log.warning("inbox file %r changed after it was read; left in the inbox to be read again", file.name)
        return str(src)
    dest: Path | None = None
    if current_sha is not None:
        dest = folder / file.name
        if os.path.lexists(dest):
            dest = _free_name(folder, file.name, moved_at or clock.now())
        try:
            os.replace(src, dest)
        except FileNotFoundError:
            dest = None  # another worker moved it in the meantime
        else:
            # It may hold names and phones too; its age for retention starts now.
            set_mode(dest, file_mode, clock.ensure_utc(moved_at or clock.now()).timestamp())
    if dest is None:
        dest = _moved_copy(inbox_dir, file, sub, max_bytes)
        if dest is None:
            log.warning("inbox file %r is gone and no moved copy was found; nothing to move", file.name)
            return str(folder / file.name)
    if errors or file_error:
        write_errors_csv(dest.with_name(dest.name + ".errors.csv"), errors, file_error, file_mode)
    if file_error:
        write_reason(dest.with_name(dest.name + ".reason.txt"), file.name, file_error, file_mode)
    # DEBUG: the collect stage logs the file once, with what was rejected and where the reasons are
    log.debug("inbox file %r moved to %s/%r (%d rejected rows%s)", file.name, dest.parent.name, dest.name,
             len(errors), ", file rejected" if file_error else "")
    return str(dest)


__all__ = [
    "LIMIT_PREFIX", "finish_inbox", "is_candidate", "list_inbox", "parse_inbox", "sha256_of",
    "write_errors_csv", "write_reason",
]
