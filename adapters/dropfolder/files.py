"""Files under a supplier's folders: only regular files are read, no link is followed, modes are ours.

The supplier writes into these folders (often a shared or mounted folder), so any name there may be a
symbolic link, a fifo or a device planted to make syncd read, block on or overwrite something else.
Reading opens with ``O_NOFOLLOW | O_NONBLOCK`` and checks the opened file is regular; writing creates a
fresh temporary file with ``O_EXCL | O_NOFOLLOW`` at the configured mode and renames it into place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))


class NotRegularFile(OSError):
    """A name in a supplier folder that is not a regular file (a link, a fifo, a device, a folder)."""

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        super().__init__(errno.EPERM, f"not a regular file ({kind}); syncd does not read it")
        self.kind = kind
        self.filename = os.fspath(path)


def kind_of(mode: int) -> str:
    """What a file mode describes, in words for a person."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "regular file" if stat.S_ISREG(mode) else "special file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for reading, never through a symbolic link, never blocking on a fifo.

    Raises :class:`NotRegularFile` for anything else, OSError when it cannot be opened.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
            raise NotRegularFile(path, "symbolic link") from err
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, kind_of(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def hash_stream(f: BinaryIO) -> tuple[str, int]:
    """(hex sha256, size) of what is left to read in ``f``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def identity(path: str | os.PathLike[str], max_bytes: int | None = None) -> tuple[str, int, str | None]:
    """(sha256, size, kind) of a name in a supplier folder, without ever following or blocking on it.

    A regular file: the sha256 of its content and ``kind`` None. A regular file over ``max_bytes``: an id
    of its inode, size and time instead (it is rejected unread, so hashing terabytes is not worth it).
    Anything else: an id of the name itself and its kind (``symbolic link``…), so it can be recorded and
    moved aside without ever being opened.
    """
    try:
        with open_regular(path) as f:
            st = os.fstat(f.fileno())
            if max_bytes is not None and st.st_size > max_bytes:
                tag = f"oversized\0{st.st_dev}:{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}".encode()
                return hashlib.sha256(tag).hexdigest(), st.st_size, None
            sha, size = hash_stream(f)
            return sha, size, None
    except NotRegularFile as err:
        st = os.lstat(path)
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        tag = f"{err.kind}\0{st.st_dev}:{st.st_ino}\0{target}".encode("utf-8", "surrogateescape")
        return hashlib.sha256(tag).hexdigest(), 0, err.kind


def ensure_dir(path: Path, mode: int = DIR_MODE, *, no_link: bool = False) -> None:
    """Create ``path`` (and missing parents) with ``mode``; an existing folder is left as it is.

    ``no_link``: ``path`` must be a real folder, not a symbolic link to one (folders syncd creates inside a
    folder the supplier can write to). Raises OSError (NotRegularFile when it is something else).
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another worker
            os.mkdir(folder, mode)
            os.chmod(folder, mode)  # the umask may have narrowed it; a shared folder's group mode is wanted
    st = os.lstat(path) if no_link else os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotRegularFile(path, kind_of(st.st_mode))


def set_mode(path: str | os.PathLike[str], mode: int, touched_at: float | None = None) -> None:
    """Give a regular file ``mode`` and, when given, the modification time ``touched_at`` (through the
    opened file, so a link swapped in is never followed).

    Quietly does nothing when the file belongs to someone else (a supplier's upload on a shared mount).
    """
    try:
        with open_regular(path) as f:
            os.fchmod(f.fileno(), mode)
            if touched_at is not None:
                os.utime(f.fileno(), (touched_at, touched_at))
    except OSError:
        return


def atomic_write(path: Path, write: Callable[[BinaryIO], None], mode: int = FILE_MODE) -> None:
    """Write ``path`` through a fresh hidden temporary file in the same folder created with ``mode``, fsync
    it, then rename it over. A leftover or planted temporary name (even a link) is removed, never followed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)

    def create(name: str, _flags: int) -> int:
        fd = os.open(name, _CREATE_FLAGS, mode)
        os.fchmod(fd, mode)  # exactly the configured mode, whatever the umask
        return fd

    try:
        with open(tmp, "wb", opener=create) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; not every platform lets a folder be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = [
    "DIR_MODE", "FILE_MODE", "NotRegularFile", "atomic_write", "ensure_dir", "fsync_dir", "hash_stream",
    "identity", "kind_of", "open_regular", "set_mode",
]
