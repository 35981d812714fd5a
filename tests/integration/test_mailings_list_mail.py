"""A mailing as list software sends it (issue 22): 1,000 contacts through the real SMTP server
and Dovecot leave one copy of the issue in Sent, with the recipient count; every message
carries List-Id and List-Unsubscribe (https and mailto), and List-Unsubscribe-Post exactly
when the public one-click address is set."""

from __future__ import annotations

import email
import email.policy
import re
import sys
from urllib.parse import unquote

import pytest

from mailproc.letter import decode_letter
from mailproc.outreach.listheaders import list_label
from mailproc.outreach.listtoken import verify_token
from tests.servers.dovecot import dovecot  # noqa: F401 - fixture
from tests.servers.smtp import smtp_server  # noqa: F401 - fixture
from tests.unit.outreach_helpers import ROOT, Install

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

pytestmark = pytest.mark.integration
MAILING = "сервисы-эб-учителям"  # the shipped plan's, titled «Сервисы Электронной библиотеки»
BASE = "https://nlrs.example/mailproc"


def _install(tmp_path, smtp_server, dovecot, monkeypatch, url: str) -> Install:  # noqa: F811
    inst = Install(tmp_path, smtp_url=smtp_server.url, mailbox_url=dovecot.url)
    if url:
        with open(inst.config, "a", encoding="utf-8") as fh:
            fh.write(f'[outbox]\nunsubscribe_url = "{url}"\n')
    monkeypatch.setenv("MAILPROC_MAILBOX_PASSWORD", dovecot.password)
    monkeypatch.setenv("MAILPROC_DIGEST_ENABLED", "false")
    return inst


def _send_issue(inst: Install, capsys, contacts: int) -> list[str]:
    emails = staff_list(inst.root / "staff.csv", contacts, position="учитель")
    code, out = inst.run(capsys, "contacts", "import", str(inst.root / "staff.csv"))
    assert code == 0, out
    code, out = inst.run(capsys, "mailings", "send", MAILING, "--yes")
    assert code == 0 and f"в очереди на отправку {contacts}" in out, out
    code, out = inst.run(capsys, "outbox", "send")
    assert code == 0, out
    return emails


def _header(raw: bytes, name: str) -> str | None:
    return email.message_from_bytes(raw, policy=email.policy.default)[name]


def _contact_ids(inst: Install) -> dict[str, int]:
    from sqlalchemy import select

    from mailproc.outreach.models import Contact

    app = inst.app()
    with app.db.session() as s:
        return dict(s.execute(select(Contact.email, Contact.id)).all())


def test_a_1000_contact_issue_leaves_one_sent_copy_and_list_headers(
        tmp_path, capsys, smtp_server, dovecot, monkeypatch):  # noqa: F811
    inst = _install(tmp_path, smtp_server, dovecot, monkeypatch, BASE)
    emails = _send_issue(inst, capsys, 1000)
    got = smtp_server.messages
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(emails)

    settings, ids = inst.app().settings, _contact_ids(inst)
    list_id = ("Рассылка «Сервисы Электронной библиотеки» "
               f"<{list_label(MAILING)}.personbibl.nlrs.ru>")
    for m in got:
        msg, rcpt = m.message, m.rcpt_tos[0]
        assert msg["List-Id"] == list_id
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Precedence"] == "bulk" and msg["X-Mailproc-Recipients"] is None
        https, mailto = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
        assert https.startswith(BASE + "/u/") and mailto.startswith("mailto:personbibl@nlrs.ru?")
        token = https.rpartition("/u/")[2]
        assert unquote(mailto.partition("subject=")[2]) == f"unsubscribe {token}"
        found = verify_token(settings, token)  # the link names this recipient and this list
        assert (found.contact_id, found.mailing) == (ids[rcpt], MAILING)

    # Sent: one copy of the issue, the first message, with the count of recipients
    [(_, flags, raw)] = dovecot.messages(settings.mailbox.sent_folder)
    copy = decode_letter(raw)
    first = min(got, key=lambda m: ids[m.rcpt_tos[0]])
    assert copy.message_id == first.message["Message-ID"]
    assert _header(raw, "X-Mailproc-Recipients") == "1000" and b"\\Seen" in flags
    assert copy.subject == first.message["Subject"]

    # another pass copies nothing more
    smtp_server.clear()
    assert inst.run(capsys, "outbox", "send")[0] == 0
    assert smtp_server.messages == []
    assert len(dovecot.messages(settings.mailbox.sent_folder)) == 1


def test_without_a_public_address_mailto_only_and_no_post_header(
        tmp_path, capsys, smtp_server, dovecot, monkeypatch):  # noqa: F811
    inst = _install(tmp_path, smtp_server, dovecot, monkeypatch, "")
    emails = _send_issue(inst, capsys, 5)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(emails)
    for m in smtp_server.messages:
        msg = m.message
        assert msg["List-Id"].endswith(f"<{list_label(MAILING)}.personbibl.nlrs.ru>")
        assert re.fullmatch(r"<mailto:personbibl@nlrs\.ru\?subject=unsubscribe%20[^>]+>",
                            msg["List-Unsubscribe"])
        assert msg["List-Unsubscribe-Post"] is None
    [(_, _, raw)] = dovecot.messages(inst.app().settings.mailbox.sent_folder)
    assert _header(raw, "X-Mailproc-Recipients") == "5"


def test_the_copy_moves_on_when_the_first_message_is_refused_for_good(
        tmp_path, capsys, smtp_server, dovecot, monkeypatch):  # noqa: F811
    from mailproc.outreach.sentcopy import reassign_copies

    inst = _install(tmp_path, smtp_server, dovecot, monkeypatch, "")
    emails = staff_list(inst.root / "staff.csv", 3, position="учитель")
    smtp_server.refuse_rcpt(emails[0], "550 5.1.1 No such user")
    _send_issue(inst, capsys, 3)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == emails[1:]
    sent = inst.app().settings.mailbox.sent_folder
    assert dovecot.messages(sent) == []  # the carrier, emails[0], was refused

    app = inst.app()
    with app.db.transaction() as s:
        assert reassign_copies(s) == 1
    with app.db.transaction() as s:
        assert reassign_copies(s) == 0
    assert inst.run(capsys, "outbox", "send")[0] == 0
    [(_, _, raw)] = dovecot.messages(sent)
    assert decode_letter(raw).to[0].email == emails[1]
    assert _header(raw, "X-Mailproc-Recipients") == "3"
