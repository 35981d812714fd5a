"""What ``mailproc run`` checks before it starts, and its exit codes (sysexits.h).

A start that cannot work stops with ONE line naming the path or the key and the fix, and an
exit code that tells systemd whether trying again can help:

* 78 ``EX_CONFIG``: a setting is wrong (a missing data folder that cannot be created, a
  folder the service user may not write, a database URL, user, password or name that does
  not work). The unit's ``RestartPreventExitStatus=78`` keeps systemd from restarting it every
  few seconds; an administrator must act.
* 74 ``EX_IOERR``: the storage fails (a read-only file system, a full disk, a database file
  that is not a database, a database server that does not answer). systemd restarts the
  service (``Restart=on-failure``), so it starts by itself once the disk has space again.
* 70 ``EX_SOFTWARE``: a loop of the running daemon stopped and could not be restarted
  (mailproc.daemon); systemd restarts the service.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from mailproc.errors import ConfigError, StorageError
from mailproc.faults import DISK

EX_SOFTWARE = 70
EX_IOERR = 74
EX_CONFIG = 78

#: free space the data folder must have at start (the probe file's size)
MIN_FREE = 4 * 1024 * 1024


def check_data_folder(path: Path) -> None:
    """The data folder exists (or can be made), the service can write it, and it has room:
    a probe file of MIN_FREE bytes is allocated and removed. Raises ConfigError or
    StorageError with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".start-probe-{os.getpid()}"
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, MIN_FREE)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise storage_problem(exc, "paths.data", path) from None


def storage_problem(exc: OSError, key: str, path: Path) -> ConfigError | StorageError:
    """One line for an OSError on ``path`` (the value of setting ``key``)."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"{key} {path}: {DISK[code]} ({_free(path)} free); free space on "
                            f"that disk, the service starts again by itself")
    if code == errno.EROFS:
        return StorageError(f"{key} {path}: the file system is read-only; check the disk "
                            f"(dmesg) and remount it read-write")
    if code in (errno.EACCES, errno.EPERM):
        return ConfigError(f"{key} {path}: not writable by user {_user()} "
                           f"({exc.strerror}); give the folder to that user (chown -R) or "
                           f"set {key} to a folder it may write")
    if code in (errno.ENOENT, errno.ENOTDIR):
        return ConfigError(f"{key} {path}: the folder does not exist and cannot be made "
                           f"({exc.strerror}); create it for user {_user()} or set {key} "
                           f"(systemd: StateDirectory=mailproc)")
    return StorageError(f"{key} {path}: {exc.strerror or type(exc).__name__}; check the disk "
                        f"and the folder")


def _free(path: Path) -> str:
    try:
        st = os.statvfs(path)
    except OSError:
        return "? bytes"
    free = st.f_bavail * st.f_frsize
    return f"{free // 1024} KiB"


def _user() -> str:
    from mailproc.runas import owner_name

    return owner_name(os.geteuid())
