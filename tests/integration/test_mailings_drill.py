"""The exactly-once drill: a recurring mailing to a level-2 group of 2,000 contacts, the first
run SIGKILLed in the middle, checked on the messages that arrived at a real SMTP server.

The kill is made deterministic: the test SMTP server kills the mailproc process from inside
its DATA handler, before it accepts that message (so that message was never delivered, by
SMTP's rules). What remains out of any test's reach is RFC 1047's window (the server accepted
DATA and the reply was lost); the outbox sender's docstring states it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.servers.smtp import SmtpServer, _Handler
from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration

ELIGIBLE = 2000
KILL_AT = 700

PLAN = """
groups:
  - name: учителя
    level: 2
    segment: школы
    where: {position: учитель}
mailings:
  - name: новости-эб
    template: mailing/el_services
    groups: [учителя]
    cron: "0 10 * * *"
    window: "09:00-18:00"
    days: ежедневно
    grace: 2h
    context:
      event_title: Вебинар
      event_date: 2026-12-10 15:00:00+09:00
"""


class KillingSmtp(SmtpServer):
    """Kills ``victim`` when message number ``kill_at`` arrives, before accepting it. Until
    ``revive()``, DATA still in flight on the dead client's other connections is refused too:
    its client never saw a 250, so by SMTP's rules it was never delivered."""

    victim: subprocess.Popen | None = None
    kill_at = 0
    dead = False

    def revive(self) -> None:
        self.dead = False

    def start(self):
        from aiosmtpd.controller import Controller

        server = self

        class Handler(_Handler):
            async def handle_DATA(self, srv, session, envelope):
                victim = server.victim
                if victim is not None and len(server.messages) >= server.kill_at:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    server.victim, server.dead = None, True
                if server.dead:
                    return "451 4.3.0 not accepted"  # the client is dead: never delivered
                return await super().handle_DATA(srv, session, envelope)

        self.controller = Controller(Handler(self), hostname=self.host, port=self.port,
                                     enable_SMTPUTF8=True, ready_timeout=10)
        self.controller.start()
        return self


def _mailproc(inst: Install, *args: str, **kw):
    env = {**os.environ, "MAILPROC_OUTREACH_BATCH": "100", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "mailproc", "--config", str(inst.config), *args]
    if kw.get("spawn"):
        log = open(inst.root / "killed-run.log", "ab")
        return subprocess.Popen(cmd, env=env, cwd=inst.root, stdout=log,
                                stderr=subprocess.STDOUT)
    done = subprocess.run(cmd, env=env, cwd=inst.root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _by_recipient(messages) -> Counter:
    return Counter(r.lower() for m in messages for r in m.rcpt_tos)


def test_recurring_mailing_survives_sigkill_exactly_once(tmp_path, capsys):
    with KillingSmtp() as smtp:
        inst = Install(tmp_path, smtp_url=smtp.url)
        inst.write_plan(PLAN)
        teachers = staff_list(tmp_path / "staff.csv", ELIGIBLE + 60)
        inst.run(capsys, "contacts", "import", str(tmp_path / "staff.csv"))
        unsubscribed, bounced = teachers[ELIGIBLE:ELIGIBLE + 30], teachers[ELIGIBLE + 30:]
        for email in unsubscribed:
            assert inst.run(capsys, "contacts", "unsubscribe", email)[0] == 0
        app = inst.app()
        with app.db.transaction() as s:
            from mailproc.outbound.bounces import suppress

            for email in bounced:  # an earlier hard bounce put them on the suppression list
                suppress(s, email, "5.1.1 user unknown", hard=True, limit=3)
        no_consent = staff_list(tmp_path / "more.csv", 20, seed=9, domain="noconsent.example")
        (tmp_path / "more.csv").write_text(
            (tmp_path / "more.csv").read_text(encoding="utf-8-sig").replace(";да\n", ";нет\n"),
            encoding="utf-8")
        inst.run(capsys, "contacts", "import", str(tmp_path / "more.csv"))
        assert inst.json(capsys, "contacts", "show", bounced[0])["suppressed"]
        group = inst.json(capsys, "groups", "show", "учителя")
        assert len(group["members"]) == ELIGIBLE + 80  # level-2 group with the ineligible

        # first issue: killed in the middle, then run again
        smtp.kill_at = KILL_AT
        smtp.victim = _mailproc(inst, "mailings", "run-due", "--at", "2026-12-01T10:05+09:00",
                                "--deliver", spawn=True)
        smtp.victim and smtp.victim.wait(timeout=300)
        assert len(smtp.messages) == KILL_AT  # it did die in the middle
        with app.db.session() as s:
            from sqlalchemy import func, select

            from mailproc.outreach.models import MailingDelivery
            planned = s.scalar(select(func.count()).select_from(MailingDelivery).where(
                MailingDelivery.status == "planned"))
        assert planned > 0  # some recipients were not even queued when it died
        smtp.revive()
        _mailproc(inst, "mailings", "run-due", "--at", "2026-12-01T10:20+09:00", "--deliver")
        first = _by_recipient(smtp.messages)
        assert set(first) == set(teachers[:ELIGIBLE])
        assert set(first.values()) == {1}

        # second issue, next day; a run again changes nothing
        _mailproc(inst, "mailings", "run-due", "--at", "2026-12-02T10:03+09:00", "--deliver")
        _mailproc(inst, "mailings", "run-due", "--at", "2026-12-02T10:30+09:00", "--deliver")
        both = _by_recipient(smtp.messages)
        assert set(both) == set(teachers[:ELIGIBLE])
        assert set(both.values()) == {2}
        assert not set(both) & {*unsubscribed, *bounced, *no_consent}
        assert len(smtp.messages) == 2 * ELIGIBLE
        sample = smtp.messages[-1].message
        assert sample["List-Unsubscribe"].startswith("<mailto:")
        assert sample["Precedence"] == "bulk"

        results = inst.json(capsys, "mailings", "show", "новости-эб")
        assert [(r["sent"], r["recipients"], r["state"]) for r in results] == [
            (ELIGIBLE, ELIGIBLE, "done"), (ELIGIBLE, ELIGIBLE, "done")]
        # one copy of each issue in Sent (the Maildir of the data folder), the kill notwithstanding
        sent = app.source().folder_path(app.settings.mailbox.sent_folder)
        copies = [p.read_bytes() for sub in ("cur", "new") for p in (sent / sub).iterdir()]
        assert len(copies) == 2
        assert all(f"X-Mailproc-Recipients: {ELIGIBLE}".encode() in c for c in copies)
