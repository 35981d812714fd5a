"""Unstorable-text drill on PostgreSQL: letters whose values PostgreSQL refuses, among ordinary
ones in a real Dovecot INBOX, processed by ``mailproc run --once`` with the shipped rules on a
throw-away PostgreSQL database (127.0.0.1:5432, as tests/integration/test_cluster.py).

    .venv/bin/python -m tests.drills.unstorable_drill [--messages 100]

The four bad letters:

* a subject ``=?x-evil?B?AAAA?=``, which decodes to NUL characters (issue 18: it stopped the
  mailbox for good);
* a Message-ID carrying a NUL in an encoded word;
* a sender's display name carrying NULs (it reaches the question case's ``reader_name``);
* a display name of 450 characters, which the question case's ``reader_name`` column
  (VARCHAR(400)) refuses: "value too long", a database error no replacement can fix.

Checked: every pass succeeds, one row per message, the four in the review folder with their
reasons, every other message processed, INBOX empty.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from email.header import Header
from pathlib import Path

from tests.drills.cluster_drill import create_database, drop_database
from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import ROOT, MailprocSetup, message_ids_by_folder

REVIEW_FOLDER = "На разбор"


def _letter(i: int, *, sender: str = "", subject: str = "", message_id: str = "") -> bytes:
    sender = sender or f"Читатель {i} <reader{i}@example.org>"
    subject = subject or f"Вопрос {i}: как зарегистрироваться в электронной библиотеке?"
    message_id = message_id or f"<unstorable-{i}@example.org>"
    return (f"From: {sender}\r\nTo: personbibl@nlrs.example\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Здравствуйте! Подскажите, пожалуйста, как зарегистрироваться ({i}).\r\n").encode()


def bad_letters() -> dict[str, bytes]:
    """The four letters, by what is wrong with them; their Message-ID header as written."""
    long_name = Header("Я" * 450, "utf-8").encode()
    return {
        "NUL in the subject": _letter(1001, subject="=?x-evil?B?AAAA?="),
        "NUL in the Message-ID": _letter(1002, message_id="<evil=?utf-8?q?=00?=@example.org>"),
        "NUL in the sender's name": _letter(
            1003, sender="=?x-evil?B?AAAA?= <nul-name@example.org>"),
        "a sender's name too long": _letter(1004, sender=f"{long_name} <long@example.org>"),
    }


def _message_id(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.partition(b":")[2].strip().decode()
    return ""


@dataclass
class UnstorableResult:
    messages: int
    passes: int = 0
    failed_passes: int = 0
    pass_failures_logged: int = 0
    rows: int = 0
    processed: int = 0
    bad_in_review: dict[str, str] = field(default_factory=dict)  # what -> reason
    bad_elsewhere: list[str] = field(default_factory=list)
    recorded_twice: list[str] = field(default_factory=list)
    in_two_folders: list[str] = field(default_factory=list)
    left_in_inbox: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.failed_passes and not self.pass_failures_logged
                and self.rows == self.messages and len(self.bad_in_review) == 4
                and all(self.bad_in_review.values()) and not self.bad_elsewhere
                and self.processed == self.messages - 4 and not self.recorded_twice
                and not self.in_two_folders and not self.left_in_inbox)

    def summary(self) -> str:
        reasons = "; ".join(f"{k}: {v!r}" for k, v in self.bad_in_review.items())
        return (f"messages {self.messages}, passes {self.passes} (failed {self.failed_passes}, "
                f"'pass failed' in the log {self.pass_failures_logged}), rows {self.rows}, "
                f"processed {self.processed}, in review {len(self.bad_in_review)} of 4 "
                f"[{reasons}], elsewhere {self.bad_elsewhere}, recorded twice "
                f"{len(self.recorded_twice)}, in two folders {len(self.in_two_folders)}, "
                f"left in INBOX {self.left_in_inbox}, {self.seconds:.1f} s "
                f"-> {'OK' if self.ok else 'FAILED'}")


def run_drill(messages: int = 100, workdir: Path | None = None) -> UnstorableResult:
    import psycopg

    started = time.monotonic()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mailproc-unstorable-"))
    result = UnstorableResult(messages)
    bad = bad_letters()
    ordinary = [_letter(i) for i in range(messages - len(bad))]
    raws = list(ordinary)
    step = max(1, len(raws) // (len(bad) + 1))
    for n, raw in enumerate(bad.values(), start=1):
        raws.insert(n * step + n - 1, raw)
    db_name, db_url = create_database()
    try:
        with DovecotServer() as server:
            for raw in raws:
                server.deliver(raw)
            setup = MailprocSetup(workdir, server)
            shutil.rmtree(setup.rules)
            shutil.copytree(ROOT / "rules", setup.rules)
            text = setup.config.read_text(encoding="utf-8")
            setup.config.write_text(text.replace(
                f'url = "sqlite:///{workdir}/mailproc.sqlite3"', f'url = "{db_url}"'),
                encoding="utf-8")
            setup.env["MAILPROC_MAIL_TOKEN_SECRET"] = "unstorable-drill"
            setup.env["MAILPROC_PATHS_TEMPLATES"] = str(ROOT / "templates")
            for _ in range(2):  # the second pass must find nothing left and fail nothing
                res = setup.command("run", "--once", timeout=600)
                result.passes += 1
                result.failed_passes += res.returncode != 0
                result.pass_failures_logged += res.stderr.count("pass failed")
            folders = message_ids_by_folder(server)
        with psycopg.connect(db_url.replace("+psycopg", "")) as con:
            rows = con.execute("SELECT uid, message_id, state, folder, reason "
                               "FROM messages").fetchall()
    finally:
        drop_database(db_name)
    placed = Counter(mid for ids in folders.values() for mid in ids)
    uid_of = {i + 1: _message_id(raw) for i, raw in enumerate(raws)}
    by_written_id = {uid_of[int(r[0])]: r for r in rows}
    result.rows = len(rows)
    result.recorded_twice = [m for m, n in Counter(uid_of[int(r[0])] for r in rows).items()
                             if n > 1]
    result.in_two_folders = [m for m, n in placed.items() if n > 1]
    result.left_in_inbox = len(folders.get("INBOX", []))
    review = set(folders.get(REVIEW_FOLDER, []))
    for what, raw in bad.items():
        mid = _message_id(raw)
        row = by_written_id.get(mid)
        if row is not None and row[2] == "review" and mid in review:
            result.bad_in_review[what] = row[4]
        else:
            result.bad_elsewhere.append(what)
    result.processed = sum(1 for raw in ordinary
                           if (row := by_written_id.get(_message_id(raw))) is not None
                           and row[2] == "done" and placed[_message_id(raw)] == 1
                           and _message_id(raw) not in review)
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100)
    args = ap.parse_args()
    result = run_drill(args.messages)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
