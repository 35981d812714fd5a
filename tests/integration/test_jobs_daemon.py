"""The periodic jobs and the daemon's contract with systemd, against a real Dovecot and a
real SMTP server: ``run --once`` fires what is due (a mailing, an order reminder) once per
period; the daemon says READY=1 and WATCHDOG=1 on $NOTIFY_SOCKET, and STOPPING=1 on exit."""

from __future__ import annotations

import email
import email.policy
import shutil
import signal
import socket
import sys

import pytest

from tests.integration.test_mailings_unsubscribe import PLAN  # a teachers' mailing at 10:00
from tests.servers.mailproc import MailprocSetup, sample_letter
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_orders_helpers import REPO, mail

sys.path.insert(0, str(REPO / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration

#: a Tuesday morning in Yakutsk: working hours, the mailing's 10:00 passed, every order
#: placed today is past its department's deadline
LATER = "2026-12-15T10:05+09:00"


@pytest.fixture
def setup(tmp_path, dovecot, smtp_server):  # noqa: F811
    s = MailprocSetup(tmp_path / "mp", dovecot)
    for f in (REPO / "rules").glob("*.yaml"):
        shutil.copy(f, s.rules / f.name)
    (s.rules / "mailings.yaml").write_text(PLAN, encoding="utf-8")
    s.env["MAILPROC_PATHS_TEMPLATES"] = str(REPO / "templates")
    s.env["MAILPROC_SMTP_URL"] = smtp_server.url
    s.env["MAILPROC_MAIL_TOKEN_SECRET"] = "jobs-secret"
    s.smtp = smtp_server
    return s


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def to(setup, addr: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(r.raw, policy=email.policy.default)
            for r in setup.smtp.messages if addr in [a.lower() for a in r.rcpt_tos]]


def test_run_once_fires_the_due_jobs_once(setup, tmp_path):
    setup.server.deliver(mail(
        sender="Анна Петрова <anna.petrova@example.org>", subject="Заказ фрагмента",
        text="Здравствуйте! Пришлите, пожалуйста, Иванов И.И. «Якутские сказки», 1985 г., "
             "шифр КХ2 84(2Рос=Як)-4, с. 15-17.", message_id="<req-1@example.org>"))
    ok(setup.command("run", "--once"))
    (request,) = to(setup, "storage@nlrs.example")
    teachers = staff_list(tmp_path / "staff.csv", 3)
    ok(setup.command("contacts", "import", str(tmp_path / "staff.csv")))
    setup.smtp.clear()

    out = ok(setup.command("run", "--once", "--at", LATER))
    assert "mailings" in out and "order-reminders" in out
    (reminder,) = to(setup, "storage@nlrs.example")
    assert reminder["In-Reply-To"] == request["Message-ID"]
    assert "[НБ 2026-00001]" in reminder["Subject"]
    assert sorted(a for r in setup.smtp.messages for a in r.rcpt_tos
                  if a.endswith("@teachers.example")) == sorted(teachers)
    runs = dict(setup.sql("SELECT job, outcome FROM job_runs"))
    assert runs["mailings"] == "ok" and runs["order-reminders"] == "ok"

    # the same period again: every job is taken, nothing is sent twice
    setup.smtp.clear()
    out = ok(setup.command("run", "--once", "--at", LATER))
    assert "jobs run" not in out
    assert setup.smtp.messages == []


def _datagrams(sock: socket.socket, want: set[str], timeout: float) -> set[str]:
    seen: set[str] = set()
    sock.settimeout(timeout)
    while not want <= seen:
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.update(line for line in data.splitlines() if line)
    return seen


def test_daemon_speaks_sd_notify(mailproc_setup, dovecot, tmp_path):
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    dovecot.deliver(sample_letter(1))
    mailproc_setup.env.update(NOTIFY_SOCKET=address, WATCHDOG_USEC="200000")
    proc = mailproc_setup.spawn("run")
    try:
        seen = _datagrams(sock, {"READY=1", "WATCHDOG=1"}, timeout=30)
        assert {"READY=1", "WATCHDOG=1"} <= seen, seen
        # READY means reading mail: the message that waited has been processed
        assert mailproc_setup.sql("SELECT count(*) FROM messages")[0][0] == 1
        proc.send_signal(signal.SIGHUP)  # rules and templates reloaded; the daemon goes on
        assert "WATCHDOG=1" in _datagrams(sock, {"WATCHDOG=1"}, timeout=5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "STOPPING=1" in _datagrams(sock, {"STOPPING=1"}, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
