"""The real daemon keeps its loops running: a mailbox loop that stops on an exception is
restarted in the process (one log line) and goes on reading mail; one that cannot be kept
running ends the process with exit code 70, so that systemd starts a fresh one.

The fault is injected into the mailbox loop's lease step (``MailboxRunner._try_take``) of a
real ``mailproc run`` against a real Dovecot and SQLite; nothing else is replaced."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from mailproc.startup import EX_SOFTWARE
from tests.servers.mailproc import sample_letter, wait_for

pytestmark = pytest.mark.integration

#: ``mailproc run`` whose mailbox loop raises on its first FAILS lease tries
RUN_WITH_FAULT = """
import sys
from mailproc import daemon
from mailproc.cli import main

fails, calls = int(sys.argv[1]), []
take = daemon.MailboxRunner._try_take

def faulty(self):
    calls.append(1)
    if fails < 0 or len(calls) <= fails:
        raise RuntimeError("injected")
    return take(self)

daemon.MailboxRunner._try_take = faulty
sys.exit(main(["run"]))
"""


def _spawn(setup, fails: int) -> subprocess.Popen:
    log = open(setup.root / "daemon.log", "ab")
    return subprocess.Popen([sys.executable, "-c", RUN_WITH_FAULT, str(fails)], env=setup.run_env(),
                            cwd=setup.root, stdout=log, stderr=subprocess.STDOUT)


def test_a_mailbox_loop_that_raises_is_restarted_and_reads_mail(mailproc_setup, dovecot):
    dovecot.deliver(sample_letter(1, tag="restart"))
    proc = _spawn(mailproc_setup, fails=1)
    try:
        wait_for(lambda: dovecot.count("INBOX") == 0 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None
        dovecot.deliver(sample_letter(2, tag="restart"))
        wait_for(lambda: dovecot.count("INBOX") == 0, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    log = (mailproc_setup.root / "daemon.log").read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert [r.message_id for r in mailproc_setup.rows()] == \
        ["<restart1@example.org>", "<restart2@example.org>"]
    stops = [line for line in log.splitlines() if "stopped (internal: RuntimeError)" in line]
    assert len(stops) == 1 and "intake default" in stops[0] and "restarting" in stops[0]
    assert "Traceback" not in log


def test_a_loop_that_cannot_be_kept_running_ends_the_process_non_zero(mailproc_setup, dovecot):
    with mailproc_setup.config.open("a", encoding="utf-8") as f:
        f.write("[daemon]\nrestart_limit = 3\n")
    dovecot.deliver(sample_letter(1, tag="giveup"))
    proc = _spawn(mailproc_setup, fails=-1)
    try:
        code = proc.wait(timeout=60)  # backoff 1 s + 2 s, then out
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (mailproc_setup.root / "daemon.log").read_text(errors="replace")
    assert code == EX_SOFTWARE, log[-3000:]
    assert "intake default stopped 3 times in a row without progress" in log
    assert dovecot.count("INBOX") == 1  # nothing was touched


#: ``mailproc run`` whose intake pass fails like SQLite on a full disk while FLAG exists
RUN_WITH_FULL_DATABASE = """
import os, sqlite3, sys
from sqlalchemy.exc import OperationalError
from mailproc import intake
from mailproc.cli import main

flag, run_once = sys.argv[1], intake.Intake.run_once

def faulty(self):
    if os.path.exists(flag):
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    return run_once(self)

intake.Intake.run_once = faulty
sys.exit(main(["run"]))
"""


def test_watchdog_stops_while_intake_stalls_on_the_database_and_resumes(
        mailproc_setup, dovecot, tmp_path):
    """systemd's side, through a real NOTIFY_SOCKET: WATCHDOG=1 while healthy, none while
    the intake has been failing on its database for daemon.stall_after, again once it
    works; the log blames the database, never the mailbox; status says it is stalled."""
    import json
    import socket
    import time

    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    flag = tmp_path / "database-full"
    with mailproc_setup.config.open("a", encoding="utf-8") as f:
        f.write('[daemon]\nstall_after = "2s"\n')
    env = {**mailproc_setup.run_env(), "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}

    def received(seconds: float, until: str | None = None) -> list[str]:
        got, end = [], time.monotonic() + seconds
        while time.monotonic() < end and until not in got:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        return got

    log = open(mailproc_setup.root / "daemon.log", "ab")
    proc = subprocess.Popen([sys.executable, "-c", RUN_WITH_FULL_DATABASE, str(flag)], env=env,
                            cwd=mailproc_setup.root, stdout=log, stderr=subprocess.STDOUT)
    try:
        healthy = received(8)
        assert "READY=1" in healthy and "WATCHDOG=1" in healthy
        flag.touch()
        dovecot.deliver(sample_letter(1, tag="wd"))  # IDLE wakes the intake: it fails
        received(5)  # failing, then stalled after 2 s
        stalled = received(3)
        status = json.loads(mailproc_setup.command("status", "--json").stdout)
        flag.unlink()
        wait_for(lambda: dovecot.count("INBOX") == 0, timeout=60)
        again = received(60, until="WATCHDOG=1")  # the first pass after the fix
    finally:
        sock.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    text = (mailproc_setup.root / "daemon.log").read_text(errors="replace")
    assert "WATCHDOG=1" not in stalled, text[-3000:]
    assert "WATCHDOG=1" in again, text[-4000:]
    assert status["stalled"] == ["intake default"]
    assert status["loops"]["intake default"]["error"] == "database: OperationalError (disk full)"
    assert "intake default failing (database: OperationalError (disk full))" in text
    assert "mailbox unreachable" not in text
    assert code == 0
