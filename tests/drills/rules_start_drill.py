"""Broken rules at start drill (issue 18, part 5): restart ``mailproc run`` while a rule file
is broken, with 14 realistic letters waiting (the demo's samples), on a real Dovecot.

    .venv/bin/python -m tests.drills.rules_start_drill

Two runs, each a real ``mailproc run`` process on a rules folder copied from rules/:

``stored``  the daemon first runs on good rules (which stores them as the last good set)
            and is stopped; one file is broken, the 14 letters arrive, the daemon restarts.
            Every letter must be decided by the stored set (its rules_version), none by
            built-in sorting, each in the folder its row names.
``none``    a first start with the broken file and no stored set: for a while nothing is
            processed (all 14 wait in INBOX, no row, ``status --json`` says ``waiting``, the
            librarians' notice is queued once); then the file is fixed with the daemon
            running, and all 14 are processed by the rules without a restart.

Before this part, both restarts filed the letters by built-in sorting: most in «Обработанные»
as done, with no order, registration or answer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, message_ids_by_folder, wait_for

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "mailproc" / "demo" / "messages"
BROKEN_FILE = "10-automatic.yaml"
#: the break: an unknown condition (a librarian's typo)
GOOD, BAD = "when: automatic\n", "when: automatik\n"
#: how long the drill watches a waiting daemon do nothing (several reload checks)
WAIT_SECONDS = 6.0


@dataclass
class RunResult:
    """One restart: what happened to the 14 letters."""

    name: str
    messages: int = 0
    rows: int = 0
    processed_by: Counter = field(default_factory=Counter)  # rules_version -> decisions
    folders: Counter = field(default_factory=Counter)  # folder -> rows
    built_in: int = 0  # decisions with no rules version: built-in sorting
    unnamed: int = 0  # decisions with no rule name
    misfiled: list[str] = field(default_factory=list)  # rows whose folder does not hold it
    left_in_inbox: int = 0
    expected_version: str = ""
    # the "none" run only: while broken
    waited_in_inbox: int | None = None
    rows_while_broken: int | None = None
    status_while_broken: str = ""
    waiting_notices: int = 0
    waiting_logged: int = 0

    @property
    def ok(self) -> bool:
        ok = (self.rows == self.messages and self.built_in == 0 and not self.misfiled
              and self.left_in_inbox == 0
              and set(self.processed_by) == {self.expected_version})
        if self.name == "none":
            ok = ok and (self.waited_in_inbox == self.messages and self.rows_while_broken == 0
                         and self.status_while_broken == "waiting"
                         and self.waiting_notices == 1 and self.waiting_logged == 1)
        return ok

    def summary(self) -> str:
        extra = ""
        if self.name == "none":
            extra = (f"; while broken: {self.waited_in_inbox} waited in INBOX, "
                     f"{self.rows_while_broken} rows, status {self.status_while_broken!r}, "
                     f"notices {self.waiting_notices}, log lines {self.waiting_logged}")
        return (f"{self.name}: messages {self.messages}, rows {self.rows}, by rules "
                f"{dict(self.processed_by)} (expected {self.expected_version}), built-in "
                f"{self.built_in}, no rule name {self.unnamed}, folders {dict(self.folders)}, "
                f"misfiled {len(self.misfiled)}, left in INBOX "
                f"{self.left_in_inbox}{extra} -> {'OK' if self.ok else 'FAILED'}")


def samples() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]


def installation(root: Path, server: DovecotServer) -> MailprocSetup:
    """A mailproc on ``server`` with a copy of the shipped rules and templates."""
    from mailproc.registrations.vault import new_key

    setup = MailprocSetup(root, server)
    shutil.copytree(ROOT / "rules", setup.rules, dirs_exist_ok=True)
    shutil.copytree(ROOT / "templates", root / "templates")
    setup.env.update(MAILPROC_PATHS_TEMPLATES=str(root / "templates"),
                     MAILPROC_MAIL_TOKEN_SECRET="rules-start-drill",
                     MAILPROC_VAULT_KEY=new_key(), MAILPROC_DIGEST_ENABLED="false",
                     MAILPROC_RULES_RELOAD_INTERVAL="0.5s")
    return setup


def break_rules(setup: MailprocSetup) -> None:
    path = setup.rules / BROKEN_FILE
    text = path.read_text(encoding="utf-8")
    assert GOOD in text
    path.write_text(text.replace(GOOD, BAD, 1), encoding="utf-8")


def fix_rules(setup: MailprocSetup) -> None:
    path = setup.rules / BROKEN_FILE
    path.write_text(path.read_text(encoding="utf-8").replace(BAD, GOOD, 1), encoding="utf-8")


def rules_version(setup: MailprocSetup) -> str:
    """The version the current rule files load as (``mailproc rules check``)."""
    from mailproc.sorting.loader import load_rules

    return load_rules(setup.rules, templates_dir=setup.root / "templates").version


def start(setup: MailprocSetup, log_name: str):
    proc = setup.spawn("run", log_name=log_name)
    wait_for(lambda: setup.daemon_state().get("pid") == proc.pid
             and setup.daemon_state().get("mailbox") == "connected"
             or proc.poll() is not None, timeout=60)
    if proc.poll() is not None:
        raise RuntimeError((setup.root / log_name).read_text(errors="replace")[-3000:])
    return proc


def stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def settled(setup: MailprocSetup, n: int) -> bool:
    return setup.server.count("INBOX") == 0 and len(setup.sql(
        "SELECT id FROM messages WHERE state IN ('done', 'review')")) == n


def check(setup: MailprocSetup, result: RunResult) -> None:
    """Fill ``result`` from the rows, the decisions and the folders."""
    result.left_in_inbox = setup.server.count("INBOX")
    rows = setup.sql("SELECT m.message_id, m.folder, d.rule, d.rules_version FROM messages m "
                     "LEFT JOIN decisions d ON d.message_pk = m.id")
    result.rows = len(setup.sql("SELECT id FROM messages"))
    where = {mid: folder for folder, ids in message_ids_by_folder(setup.server, originals=True).items()
             for mid in ids}
    where.update(_redacted_originals(setup.server))
    for mid, folder, rule, version in rows:
        result.processed_by[version] += 1
        result.folders[folder] += 1
        result.built_in += version == ""  # None: no decision (review), counted by version
        result.unnamed += not rule
        if where.get(mid) != folder:
            result.misfiled.append(f"{mid}: row says {folder!r}, found in {where.get(mid)!r}")


def _redacted_originals(server) -> dict[str, str]:
    """Registration letters are replaced by stubs with a new Message-ID (issue 17 part 3):
    the original's Message-ID -> the folder its stub is in."""
    c = server.client()
    out: dict[str, str] = {}
    field = b"BODY[HEADER.FIELDS (X-MAILPROC-ORIGINAL-MESSAGE-ID)]"
    try:
        for _flags, _sep, name in c.list_folders():
            c.select_folder(name, readonly=True)
            uids = c.search(["HEADER", "X-Mailproc-Redacted", ""])
            for item in (c.fetch(uids, [field.replace(b"BODY[", b"BODY.PEEK[")]).values()
                         if uids else ()):
                mid = item.get(field, b"").decode("ascii", "replace").partition(":")[2].strip()
                if mid:
                    out[mid] = name
    finally:
        c.logout()
    return out


def run_stored(root: Path, server: DovecotServer) -> RunResult:
    """Good rules stored by a first run, then a restart with a broken file."""
    setup = installation(root, server)
    letters = samples()
    result = RunResult("stored", messages=len(letters), expected_version=rules_version(setup))
    proc = start(setup, "first.log")
    try:
        try:  # the good set stored at start (without part 5 there is no such table)
            wait_for(lambda: setup.sql("SELECT version FROM rule_sets"), timeout=15)
        except TimeoutError:
            pass
    finally:
        stop(proc)
    break_rules(setup)
    server.deliver_many(letters)
    proc = start(setup, "restart.log")
    try:
        wait_for(lambda: settled(setup, len(letters)), timeout=120)
    finally:
        stop(proc)
    check(setup, result)
    return result


def run_none(root: Path, server: DovecotServer) -> RunResult:
    """A first start with a broken file: nothing until the fix, then everything by the rules."""
    setup = installation(root, server)
    letters = samples()
    break_rules(setup)
    server.deliver_many(letters)
    result = RunResult("none", messages=len(letters))
    proc = start(setup, "daemon.log")
    try:
        time.sleep(WAIT_SECONDS)
        result.waited_in_inbox = server.count("INBOX")
        result.rows_while_broken = len(setup.sql("SELECT id FROM messages"))
        status = setup.command("status", "--json")
        result.status_while_broken = json.loads(status.stdout).get("rules", {}).get(
            "default", {}).get("state", "not shown") if status.returncode == 0 \
            else f"exit {status.returncode}: {status.stderr[-300:]}"
        result.waiting_notices = len(setup.sql(
            "SELECT id FROM outbox WHERE kind = 'notice' AND dedupe_key LIKE 'rules-waiting:%'"))
        log = (setup.root / "daemon.log").read_text(errors="replace")
        result.waiting_logged = log.count("nothing is processed, mail waits")
        fix_rules(setup)  # the running daemon's hot-reload check picks it up
        result.expected_version = rules_version(setup)
        wait_for(lambda: settled(setup, len(letters)), timeout=120)
    finally:
        stop(proc)
    check(setup, result)
    return result


def run_drill(workdir: Path | None = None) -> list[RunResult]:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mailproc-rules-drill-"))
    results = []
    for name, run in (("stored", run_stored), ("none", run_none)):
        server = DovecotServer().start()  # its own short path: socket paths are limited
        try:
            results.append(run(workdir / name / "mailproc", server))
        finally:
            server.stop()
            server.cleanup()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path)
    args = p.parse_args()
    results = run_drill(args.workdir)
    for r in results:
        print(r.summary())
        for line in r.misfiled:
            print("  " + line)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
