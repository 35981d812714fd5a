"""Files and folders only mailproc's own user may read: 0600 files, 0700 folders, whatever
the umask.

Everything mailproc writes under the data folder (the SQLite database and its -wal/-shm,
the spool, the vault, the outbox's blobs and journal, backups, ``vault export`` folders) can
hold personal data, so nothing relies on the umask the service was started with (Debian's
default 022 would make them world-readable). ``protect_process`` narrows the umask once at
start-up (App, so every command and the daemon), and each writer here also names its mode
explicitly, so a library caller with another umask gets the same modes.

SQLite creates its -wal and -shm files with the permissions of the database file (its
``robust_open`` copies them), which is why ``private_file`` creates the database file itself,
empty and 0600, before SQLite first opens it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def protect_process() -> None:
    """Take group and other permissions out of the process umask (files made by libraries
    too: SQLite, tarfile, the logging module)."""
    os.umask(os.umask(0o077) | 0o077)


def private_dir(path: Path, narrow: bool = True) -> Path:
    """Create ``path`` (and its parents) as 0700; an existing folder we own is narrowed
    unless ``narrow`` is false (a folder that may be shared, such as the database's)."""
    path = Path(path)
    if not path.is_dir():
        parent = path.parent
        if not parent.is_dir():
            private_dir(parent, narrow=False)
        path.mkdir(exist_ok=True, mode=DIR_MODE)
        _narrow(path, DIR_MODE)
    elif narrow:
        _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a 0600 file (created empty when missing).

    An existing file is never opened, only narrowed (chmod): the SQLite database and its
    -wal/-shm may be open in this very process, and closing any descriptor of a file drops
    every POSIX lock the process holds on it, so another process could then write under
    SQLite's feet ("How To Corrupt An SQLite Database File", 2.2)."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    _narrow(path, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file, atomically (a temporary name, fsync,
    rename): a crash leaves the old file or the new one, never a half or a clear leftover
    readable by others."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _narrow(path: Path, mode: int) -> None:
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError:  # not ours to change (a shared mount): the writers' modes still hold
        pass
