"""The daemon's state file, ``run/daemon.json`` under the data folder, which ``mailproc
status`` (another process) reads: pid, each mailbox's connection, each loop's heartbeat
(mailproc.heartbeat) and the stall history the digest reports.

Written in place, never replaced: the file is allocated at its full size once, at start
(``posix_fallocate``; a disk too full for that stops the start with exit code 74), and every
write overwrites those same blocks with ``pwrite`` (the JSON padded with spaces, which JSON
allows after a value). Overwriting allocated blocks needs no free space, so the state is
still written while the disk is full: exactly when ``status`` must say that intake has
stalled. A reader may catch a write half-done; it reads again (``read``).

Write cost: the daemon writes when a mailbox's connection changes and otherwise at most
every ``FLUSH_EVERY`` seconds (one 64 KiB pwrite to the page cache, no fsync: the file says
how things are now, and a crash makes it stale anyway, which the pid check reveals).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("mailproc.runstate")

FILE = "run/daemon.json"
SIZE = 64 * 1024
FLUSH_EVERY = 2.0


def path_in(data_dir: Path) -> Path:
    return Path(data_dir) / FILE


def allocate(path: Path) -> int:
    """Open ``path`` for in-place writes with all its SIZE bytes allocated; raises OSError
    (ENOSPC, EROFS, EACCES ...) when that cannot be done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        if os.fstat(fd).st_size < SIZE:
            os.posix_fallocate(fd, 0, SIZE)
            os.pwrite(fd, b" " * SIZE, 0)  # tmpfs and ext4 alike: the pages exist now
    except BaseException:
        os.close(fd)
        raise
    return fd


class RunState:
    """This process's state and its file. Thread-safe."""

    def __init__(self):
        self.fields: dict = {}
        self.mailboxes: dict[str, str] = {}
        self.loops = None  # mailproc.heartbeat.Loops, set by the daemon
        self.path: Path | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._written = 0.0
        self._failing = False

    def open(self, data_dir: Path) -> None:
        """Allocate the file (raises OSError when it cannot be: see ``allocate``)."""
        path = path_in(data_dir)
        with self._lock:
            if self._fd is not None and self.path == path:
                return
            self.close_locked()
            self._fd, self.path = allocate(path), path

    def update(self, data_dir: Path, mailbox_name: str | None = None, **fields) -> None:
        """Record ``fields`` (``mailbox``: this mailbox's connection state) and write."""
        with self._lock:
            if mailbox_name is not None and "mailbox" in fields:
                self.mailboxes[mailbox_name] = fields["mailbox"]
            self.fields.update(fields)
            if self.mailboxes and fields.get("mailbox") != "stopped":
                values = set(self.mailboxes.values())
                self.fields["mailbox"] = values.pop() if len(values) == 1 else ", ".join(
                    f"{k}: {v}" for k, v in sorted(self.mailboxes.items()))
            self._write_locked(Path(data_dir))

    def flush(self, data_dir: Path, force: bool = False) -> None:
        """Write the loops' heartbeats, at most every FLUSH_EVERY seconds."""
        with self._lock:
            if force or time.monotonic() - self._written >= FLUSH_EVERY:
                self._write_locked(Path(data_dir))

    def _write_locked(self, data_dir: Path) -> None:
        data = {"pid": os.getpid(), "updated": time.time(), "mailboxes": dict(self.mailboxes),
                **self.fields}
        if self.loops is not None:
            data.update(self.loops.snapshot())
        raw = json.dumps(data, ensure_ascii=False).encode()
        while len(raw) >= SIZE and data.get("stalls"):
            data["stalls"] = data["stalls"][len(data["stalls"]) // 2 + 1:]  # oldest go first
            raw = json.dumps(data, ensure_ascii=False).encode()
        try:
            if self._fd is None or self.path != path_in(data_dir):
                self.close_locked()
                self._fd, self.path = allocate(path_in(data_dir)), path_in(data_dir)
            os.pwrite(self._fd, raw[:SIZE].ljust(SIZE, b" "), 0)
        except OSError as exc:
            if not self._failing:  # once per failing spell; status shows the last good write
                log.warning("state file %s not written: %s", path_in(data_dir),
                            exc.strerror or type(exc).__name__)
            self._failing = True
            return
        if self._failing:
            log.info("state file %s written again", self.path)
        self._failing = False
        self._written = time.monotonic()

    def close_locked(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def reset(self) -> None:
        """Forget everything (a new daemon in the same process: tests)."""
        with self._lock:
            self.close_locked()
            self.fields, self.mailboxes, self.loops, self.path = {}, {}, None, None


def read(path: Path, tries: int = 5) -> dict | None:
    """The file's JSON, or None when there is none; read again if caught mid-write."""
    for _ in range(tries):
        try:
            text = path.read_bytes().decode("utf-8", errors="replace").strip()
        except OSError:
            return None
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            time.sleep(0.01)
    return None


#: the one state of this process
STATE = RunState()
