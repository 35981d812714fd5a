"""Kill drill: SIGKILL ``mailproc run`` at random moments while it processes a full INBOX,
restart it each time, and check that every message was processed exactly once.

    .venv/bin/python -m tests.drills.kill_drill [--messages 1000] [--kills 20] [--seed 1]

Each kill lands while messages are being processed: the drill waits until the database holds
a randomly chosen number of rows, then kills. At the end one clean run drains the rest and
is stopped with SIGTERM (which must exit 0). Checked: no message lost (every Message-ID has a
row and sits in some folder), none recorded twice (one row per Message-ID), none in two
folders, and INBOX is empty.
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, message_ids_by_folder, wait_for


def drill_message(i: int) -> bytes:
    return (f"From: Reader {i} <reader{i}@example.org>\r\n"
            f"To: personbibl@nlrs.example\r\n"
            f"Subject: drill message {i}\r\n"
            f"Message-ID: <drill-{i}@example.org>\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0900\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Message number {i}.\r\n").encode()


@dataclass
class DrillResult:
    messages: int
    kills: int = 0
    rows: int = 0
    lost: list[str] = field(default_factory=list)
    recorded_twice: list[str] = field(default_factory=list)
    in_two_folders: list[str] = field(default_factory=list)
    left_in_inbox: int = 0
    not_done: int = 0
    clean_exit: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.recorded_twice and not self.in_two_folders
                and not self.left_in_inbox and not self.not_done and self.clean_exit
                and self.rows == self.messages)

    def summary(self) -> str:
        return (f"messages {self.messages}, kills {self.kills}, rows {self.rows}, "
                f"lost {len(self.lost)}, recorded twice {len(self.recorded_twice)}, "
                f"in two folders {len(self.in_two_folders)}, left in INBOX "
                f"{self.left_in_inbox}, rows not done {self.not_done}, clean SIGTERM exit "
                f"{self.clean_exit}, {self.seconds:.1f} s -> {'OK' if self.ok else 'FAILED'}")


def run_drill(messages: int = 1000, kills: int = 20, seed: int = 1,
              workdir: Path | None = None) -> DrillResult:
    rng = random.Random(seed)
    started = time.monotonic()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mailproc-drill-"))
    result = DrillResult(messages)
    with DovecotServer() as server:
        server.deliver_many(drill_message(i) for i in range(messages))
        setup = MailprocSetup(workdir, server)

        def rows() -> int:
            got = setup.sql("SELECT count(*) FROM messages")
            return got[0][0] if got else 0

        targets = sorted(rng.sample(range(1, messages), min(kills, messages - 1)))
        for target in targets:
            proc = setup.spawn("run")
            try:
                wait_for(lambda: rows() >= target or proc.poll() is not None, timeout=120,
                         interval=0.005)
                # land somewhere inside the next message's steps, not always right at a commit
                time.sleep(rng.uniform(0, 0.01))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            result.kills += 1
        proc = setup.spawn("run")
        try:
            # the last run has started (its state file names it: its SIGTERM handler is in
            # place) and everything is filed; the killed runs may have finished the work, and
            # a SIGTERM during Python's start-up would end it before it could exit cleanly
            wait_for(lambda: setup.daemon_state().get("pid") == proc.pid
                     and server.count("INBOX") == 0 and setup.sql(
                         "SELECT count(*) FROM messages WHERE state != 'done'")[0][0] == 0
                     and rows() >= messages, timeout=300, interval=0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                result.clean_exit = proc.wait(timeout=10) == 0
            except Exception:  # noqa: BLE001
                proc.kill()
        count_exactly_once(result, setup, server, messages)
    result.seconds = time.monotonic() - started
    return result


def count_exactly_once(result, setup: MailprocSetup, server: DovecotServer,
                       messages: int) -> dict[str, list[str]]:
    """Fill ``result``'s rows, lost, recorded_twice, in_two_folders, left_in_inbox and
    not_done for ``drill_message(0 .. messages-1)``; returns the Message-IDs by folder."""
    folders = message_ids_by_folder(server)
    per_row = Counter(mid for (mid,) in setup.sql("SELECT message_id FROM messages"))
    placed = Counter(mid for ids in folders.values() for mid in ids)
    expected = [f"<drill-{i}@example.org>" for i in range(messages)]
    result.rows = sum(per_row.values())
    result.lost = [m for m in expected if per_row[m] == 0 or placed[m] == 0]
    result.recorded_twice = [m for m, n in per_row.items() if n > 1]
    result.in_two_folders = [m for m, n in placed.items() if n > 1]
    result.left_in_inbox = len(folders.get("INBOX", []))
    result.not_done = setup.sql("SELECT count(*) FROM messages WHERE state != 'done'")[0][0]
    return folders


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result = run_drill(args.messages, args.kills, args.seed)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
