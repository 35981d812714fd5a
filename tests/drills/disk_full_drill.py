"""Disk-full drill: the data folder fills up while ``mailproc run`` reads mail, and is freed;
the daemon must lose nothing, say that intake has stalled, and resume by itself.

    .venv/bin/python -m tests.drills.disk_full_drill [--messages 300] [--full-for 20]

The whole installation (settings, SQLite database, data folder) lives on a small tmpfs that
the drill mounts (``mount -t tmpfs -o size=...``; root only: otherwise the drill is skipped
and says why). A third of the messages wait in INBOX when the daemon starts; once it has
recorded some, the drill fills the tmpfs to the last byte, delivers the rest (Dovecot's own
storage is elsewhere), and while the disk is full checks that ``mailproc status --json``
reports the intake as stalled. After ``full_for`` seconds it frees the space and waits.
Checked: every message recorded exactly once and filed in exactly one folder (none in the
review folder, none left in INBOX), intake resumed within a minute of the space returning,
the same daemon process throughout (no restart), and SIGTERM exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.drills.kill_drill import DrillResult, count_exactly_once, drill_message
from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, wait_for

TMPFS_SIZE = "48m"


class Skip(Exception):
    """The drill cannot run here (not root, no tmpfs, no Dovecot); the text says why."""


@dataclass
class DiskFullResult(DrillResult):
    """The kill drill's exactly-once tally, and what this drill adds."""

    full_for: float = 0.0
    in_review: int = 0
    stall_seen: dict = field(default_factory=dict)  # the status loop entry that said so
    resumed_after: float | None = None  # seconds from freeing to the next recorded row
    same_process: bool = False
    log: str = ""  # the daemon's whole log

    @property
    def log_tail(self) -> str:
        return self.log[-4000:]

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.recorded_twice and not self.in_two_folders
                and not self.in_review and not self.left_in_inbox and not self.not_done
                and self.rows == self.messages and bool(self.stall_seen)
                and self.resumed_after is not None and self.resumed_after <= 60
                and self.same_process and self.clean_exit)

    def summary(self) -> str:
        return (f"messages {self.messages}, disk full for {self.full_for:.0f} s: rows "
                f"{self.rows}, lost {len(self.lost)}, recorded twice "
                f"{len(self.recorded_twice)}, in two folders {len(self.in_two_folders)}, in "
                f"review {self.in_review}, left in INBOX {self.left_in_inbox}, not done "
                f"{self.not_done}; status reported the stall: {bool(self.stall_seen)}; intake "
                f"resumed {self.resumed_after if self.resumed_after is None else round(self.resumed_after, 1)} s "
                f"after the space returned; same process {self.same_process}; clean SIGTERM "
                f"exit {self.clean_exit} -> {'OK' if self.ok else 'FAILED'}")


def mount_tmpfs(path: Path, size: str = TMPFS_SIZE) -> None:
    if os.geteuid() != 0:
        raise Skip("the disk-full drill mounts a tmpfs: run it as root")
    if shutil.which("dovecot") is None:
        raise Skip("Dovecot is not installed")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise Skip(f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}")


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until the disk has not a byte left."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            try:
                while True:
                    os.write(fd, block)
            except OSError:  # ENOSPC: on to smaller writes
                pass
    finally:
        os.close(fd)
    return filler


def status(setup: MailprocSetup) -> dict:
    done = setup.command("status", "--json", timeout=60)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {}


def _stalled_intake(data: dict) -> dict:
    for name, beat in data.get("loops", {}).items():
        if name.startswith("intake") and beat.get("stalled"):
            return {name: beat}
    return {}


def run_drill(messages: int = 300, full_for: float = 20.0,
              workdir: Path | None = None) -> DiskFullResult:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mailproc-diskfull-"))
    result = DiskFullResult(messages, full_for=full_for)
    mount = workdir / "tmpfs"
    mount_tmpfs(mount)
    try:
        with DovecotServer() as server:
            first = messages // 3
            server.deliver_many(drill_message(i) for i in range(first))
            # settings, SQLite database and data folder all on the tmpfs; a short stall
            # threshold so that the stall shows within the drill
            setup = MailprocSetup(mount / "install", server)
            with setup.config.open("a", encoding="utf-8") as f:
                f.write('[daemon]\nstall_after = "3s"\n')

            def rows() -> int:
                got = setup.sql("SELECT count(*) FROM messages")
                return got[0][0] if got else 0

            def not_done() -> int:
                got = setup.sql("SELECT count(*) FROM messages WHERE state != 'done'")
                return got[0][0] if got else 0

            log = workdir / "daemon.log"  # off the tmpfs: the log must survive the full disk
            with log.open("ab") as out:
                proc = subprocess.Popen([sys.executable, "-m", "mailproc", "run"],
                                        env=setup.run_env(), cwd=setup.root, stdout=out,
                                        stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: rows() >= min(20, first) or proc.poll() is not None,
                         timeout=120, interval=0.005)
                filler = fill(mount)
                server.deliver_many(drill_message(i) for i in range(first, messages))
                full_since = time.monotonic()
                while time.monotonic() - full_since < full_for:
                    if not result.stall_seen:
                        result.stall_seen = _stalled_intake(status(setup))
                    time.sleep(0.5)
                before = rows()
                filler.unlink()
                freed = time.monotonic()
                wait_for(lambda: rows() > before or proc.poll() is not None
                         or time.monotonic() - freed > 90, timeout=120, interval=0.1)
                if rows() > before:
                    result.resumed_after = time.monotonic() - freed
                try:
                    wait_for(lambda: server.count("INBOX") == 0 and rows() >= messages
                             and not not_done(), timeout=180, interval=0.5)
                except TimeoutError:
                    pass
                result.same_process = proc.poll() is None
            finally:
                proc.send_signal(15)
                try:
                    result.clean_exit = proc.wait(timeout=15) == 0
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            folders = count_exactly_once(result, setup, server, messages)
            result.in_review = len(folders.get(setup.settings().mailbox.review_folder, []))
            result.log = log.read_text(errors="replace") if log.exists() else ""
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--full-for", type=float, default=20.0)
    args = ap.parse_args()
    try:
        result = run_drill(args.messages, args.full_for)
    except Skip as exc:
        print(f"skipped: {exc}")
        return 0
    print(result.summary())
    if not result.ok:
        print(result.log_tail)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
