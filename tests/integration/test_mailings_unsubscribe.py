"""Unsubscribing end to end: a mailing goes out over SMTP, the recipients answer into a real
Dovecot (the List-Unsubscribe mailto, a reply "отписаться"), ``mailproc run --once`` sorts
them, and the next issue reaches only those still subscribed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote

import pytest

from tests.servers.dovecot import dovecot  # noqa: F401 - fixture
from tests.servers.smtp import smtp_server  # noqa: F401 - fixture
from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration

PLAN = """
groups:
  - name: учителя
    level: 2
    where: {position: учитель}
mailings:
  - name: новости
    template: mailing/el_services
    groups: [учителя]
    cron: "0 10 * * *"
    context:
      event_title: Вебинар
      event_date: 2026-12-10 15:00:00+09:00
"""


def _cli(inst: Install, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mailproc", "--config", str(inst.config),
                           *args], env=env, cwd=inst.root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _mail(frm: str, subject: str, body: str, **headers) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, "personbibl@nlrs.ru", subject
    m["Message-ID"] = make_msgid(domain="teachers.example")
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return bytes(m)


def test_unsubscribe_by_mailto_and_by_reply(tmp_path, dovecot, smtp_server):  # noqa: F811
    inst = Install(tmp_path, smtp_url=smtp_server.url, mailbox_url=dovecot.url)
    for f in (ROOT / "rules").glob("*.yaml"):
        shutil.copy(f, inst.rules / f.name)
    inst.write_plan(PLAN)
    env = {**os.environ, "MAILPROC_MAILBOX_PASSWORD": dovecot.password,
           "MAILPROC_DIGEST_ENABLED": "false"}  # the counts below are the mailings' mail only
    emails = staff_list(tmp_path / "staff.csv", 3)
    _cli(inst, env, "contacts", "import", str(tmp_path / "staff.csv"))
    _cli(inst, env, "mailings", "send", "новости", "--yes")
    _cli(inst, env, "run", "--once")
    got = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert set(got) == set(emails)

    # 1: the mail client's unsubscribe button (RFC 2369 mailto)
    header = got[emails[0]]["List-Unsubscribe"]
    subject = unquote(re.search(r"mailto:[^?]+\?subject=([^>]+)>", header).group(1))
    dovecot.deliver(_mail(emails[0], subject, "This is an unsubscribe request."))
    # 2: a reply "отписаться" above the quoted mailing
    mailing = got[emails[1]]
    dovecot.deliver(_mail(emails[1], "Re: " + mailing["Subject"],
                          "Отписаться, пожалуйста.\n\n1 дек. 2026 г., personbibl@nlrs.ru пишет:\n"
                          "> Чтобы отписаться, ответьте на это письмо словом «отписаться».\n",
                          In_Reply_To=mailing["Message-ID"], References=mailing["Message-ID"]))
    # 3: a reply whose only "отписаться" is in the quote: not a request
    third = got[emails[2]]
    dovecot.deliver(_mail(emails[2], "Re: " + third["Subject"],
                          "Спасибо, придём!\n\n> Чтобы отписаться, ответьте на это письмо словом "
                          "«отписаться».\n", In_Reply_To=third["Message-ID"]))
    smtp_server.clear()
    _cli(inst, env, "run", "--once")

    shown = [json.loads(_cli(inst, env, "contacts", "show", e, "--json")) for e in emails]
    assert [s["unsubscribed"] for s in shown] == [True, True, False]
    assert "List-Unsubscribe" in shown[0]["unsubscribed_how"]
    assert "ответ «отписаться»" in shown[1]["unsubscribed_how"]
    assert [e["granted"] for e in shown[0]["consent_history"]] == [True, False]
    assert len(dovecot.messages("Отписки")) == 2
    confirmations = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert set(confirmations) == {emails[0], emails[1]}
    assert all(m["Subject"].startswith("Вы отписаны") for m in confirmations.values())

    # the next issue reaches only the one still subscribed; a second request changes nothing
    smtp_server.clear()
    dovecot.deliver(_mail(emails[0], subject, "unsubscribe again"))
    _cli(inst, env, "mailings", "send", "новости", "--yes")
    _cli(inst, env, "run", "--once")
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == [emails[2]]
    results = json.loads(_cli(inst, env, "mailings", "show", "новости", "--json"))
    assert [(r["sent"], r["unsubscribed"]) for r in results] == [(3, 2), (1, 0)]
