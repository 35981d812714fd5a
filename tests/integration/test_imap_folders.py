"""Folders as a real server names them: a Dovecot whose personal namespace is ``INBOX.`` with "."
between levels (RFC 2342) and whose Sent, Drafts, Junk and Trash are the special-use
«Отправленные», «Черновики», «Спам», «Корзина» (RFC 6154), as on many hosting servers.

mailproc must file into the rules' folders under ``INBOX.``, copy what it sends into
«Отправленные» and put drafts into «Черновики», never creating a second Sent or Drafts; an
explicit setting still names its own folder."""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import select

from mailproc.intake import Intake
from mailproc.mailbox.imap import ImapSource
from mailproc.sorting.decision import Decision
from mailproc.store import open_database
from mailproc.store.models import Message
from tests.servers.mailproc import sample_letter, shipped_setup
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.questions_helpers import mail

pytestmark = pytest.mark.integration

READER = "anna.petrova@example.org"
SPECIAL = {"sent": "Sent", "drafts": "Drafts", "junk": "Junk", "trash": "Trash"}


@pytest.fixture
def source(prefixed_dovecot):
    src = ImapSource(prefixed_dovecot.host, prefixed_dovecot.port, prefixed_dovecot.user,
                     prefixed_dovecot.password, special_folders=SPECIAL)
    src.open()
    yield src
    src.close()


def test_rules_folders_are_created_under_the_namespace_with_its_delimiter(
        prefixed_dovecot, source, tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    folders = iter(["Заказы", "Вопросы читателей/Срочные", "Junk"])

    def decide(_letter):
        return Decision(category="question", rule="test", folder=next(folders))

    for i in range(3):
        prefixed_dovecot.deliver(sample_letter(i, "ns"))
    intake = Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                    max_size=10_000_000, decide=decide)
    assert intake.run_once().processed == 3
    db.dispose()
    assert prefixed_dovecot.count("INBOX") == 0
    assert prefixed_dovecot.count("INBOX.Заказы") == 1
    assert prefixed_dovecot.count("INBOX.Вопросы читателей.Срочные") == 1
    assert prefixed_dovecot.count("INBOX.Спам") == 1  # the rules' "Junk" is the \Junk folder
    names = prefixed_dovecot.folders()
    assert not [n for n in names if "/" in n or not n.startswith("INBOX")]
    assert "INBOX.Junk" not in names
    # mailproc reads folder names back as the rules write them
    assert {"Заказы", "Вопросы читателей/Срочные", "Junk", "Sent"} <= set(source.folder_names())


def test_a_folder_the_servers_hierarchy_cannot_carry_sends_the_message_to_review(
        prefixed_dovecot, source, tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    prefixed_dovecot.deliver(sample_letter(1, "dot"))
    intake = Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                    max_size=10_000_000,
                    decide=lambda _l: Decision(category="order", rule="t", folder="Заказы т.д."))
    assert intake.run_once().review == 1
    with db.session() as s:
        [reason] = s.scalars(select(Message.reason)).all()
    db.dispose()
    assert "имя папки «Заказы т.д.» содержит «.»" in reason
    assert prefixed_dovecot.count("INBOX.На разбор") == 1
    assert not [n for n in prefixed_dovecot.folders() if "Заказы" in n]


def test_sent_and_drafts_are_the_special_use_folders(prefixed_dovecot, source):
    assert source.append("Sent", sample_letter(1, "s"), ["\\Seen"])
    assert source.append("Drafts", sample_letter(2, "d"), ["\\Draft"])
    assert prefixed_dovecot.count("INBOX.Отправленные") == 1
    assert prefixed_dovecot.count("INBOX.Черновики") == 1
    names = prefixed_dovecot.folders()
    assert not [n for n in names if n.lower().endswith(("sent", "drafts"))]
    # and it finds the copy there again (the librarians' answers are read from Sent)
    assert source.fetch_headers("Sent", ["1"])["1"].startswith(sample_letter(1, "s")[:20])


def test_an_explicit_setting_names_its_own_folder(prefixed_dovecot):
    src = ImapSource(prefixed_dovecot.host, prefixed_dovecot.port, prefixed_dovecot.user,
                     prefixed_dovecot.password,
                     special_folders={**SPECIAL, "sent": "Исходящие/Копии"},
                     explicit=frozenset({"sent"}))
    src.open()
    try:
        src.append("Исходящие/Копии", sample_letter(3, "x"), ["\\Seen"])
    finally:
        src.close()
    assert prefixed_dovecot.count("INBOX.Исходящие.Копии") == 1
    assert prefixed_dovecot.count("INBOX.Отправленные") == 0


@pytest.fixture
def setup(tmp_path, prefixed_dovecot, smtp_server):  # noqa: F811
    return shipped_setup(tmp_path / "mp", prefixed_dovecot, smtp_server)


def test_the_daemon_files_sends_and_drafts_in_the_servers_folders(setup):
    """The shipped rules and the real commands on the prefixed server: a question is filed in
    INBOX.Вопросы читателей, the ready answer's copy lands in «Отправленные», a proposed
    answer in «Черновики», and a librarian's answer in «Отправленные» closes its case."""
    server = setup.server
    server.deliver(mail(READER, "Книга закрыта для просмотра. Как получить временный доступ?",
                        "Доступ к книге", name="Анна Петрова"))
    setup.env["MAILPROC_QUESTIONS_ANSWER_MODES"] = "temporary-access=send"
    setup.ok("run", "--once")
    [got] = setup.smtp.wait_for(1)
    assert server.count("INBOX") == 0
    assert server.count("INBOX.Вопросы читателей") == 1
    sent = server.messages("INBOX.Отправленные")
    assert [raw.replace(b"\r\n", b"\n") for _u, _f, raw in sent] == \
        [got.raw.replace(b"\r\n", b"\n")]

    setup.env["MAILPROC_QUESTIONS_ANSWER_MODES"] = ""
    second = mail("ivan.ivanov@example.org",
                  "Подскажите, как получить временный доступ к закрытой книге?")
    server.deliver(second)
    setup.ok("run", "--once")
    setup.ok("questions", "sync")
    [(_uid, flags, raw)] = server.messages("INBOX.Черновики")
    draft = email.message_from_bytes(raw, policy=email.policy.default)
    assert b"\\Draft" in flags and draft["To"] == "ivan.ivanov@example.org"

    # the librarian sends the draft from their own client, which files it in «Отправленные»
    parent = email.message_from_bytes(second, policy=email.policy.default)["Message-ID"]
    server.deliver(mail("personbibl@nlrs.example", "Ответ библиотекаря", f"Re: {draft['Subject']}",
                        in_reply_to=parent), folder="INBOX.Отправленные")
    setup.ok("questions", "sync")
    [(state,)] = setup.sql("SELECT state FROM question_cases WHERE reader_addr = ?",
                           "ivan.ivanov@example.org")
    assert state == "answered"

    names = server.folders()
    assert not [n for n in names if n.lower().endswith(("sent", "drafts"))]
    assert not [n for n in names if not n.startswith("INBOX")]
