"""Questions end to end: real Dovecot, real SMTP server, the real ``mailproc`` commands.

A question about temporary access gets the ready answer at once when so set, and a threaded
draft in Drafts (flag \\Draft) when not; a librarian's own answer in Sent closes that case; a
local-history query reaches regional bibliography, whose answer (with its file) reaches the
reader; the reader's follow-up joins the same case and gets no automatic answer. The mail is
sorted by the shipped rules (rules/18-question-replies.yaml, rules/40-questions.yaml).
"""

from __future__ import annotations

import email
import email.policy
import json

import pytest

from tests.servers.mailproc import shipped_setup
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.questions_helpers import mail

pytestmark = pytest.mark.integration

READER = "anna.petrova@example.org"
OTHER = "ivan.ivanov@example.org"


@pytest.fixture
def setup(tmp_path, dovecot, smtp_server):  # noqa: F811
    # the shipped rules (18-question-replies, 40-...); no digest: the counts below are the
    # questions' mail only
    return shipped_setup(tmp_path / "mp", dovecot, smtp_server)


def run(setup, *args: str) -> str:
    done = setup.command(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def case_of(setup, sender: str) -> dict:
    """The reader's one case, as ``mailproc questions show --json`` prints it."""
    [(token,)] = setup.sql("SELECT token FROM question_cases WHERE reader_addr = ?", sender)
    return json.loads(run(setup, "questions", "show", token, "--json"))


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_ready_answer_sent_at_once_or_drafted_then_closed_by_the_librarian(setup):
    question = mail(READER, "Книга закрыта для просмотра. Как получить временный доступ?",
                    "Доступ к книге", name="Анна Петрова")
    setup.server.deliver(question)
    setup.env["MAILPROC_QUESTIONS_ANSWER_MODES"] = "temporary-access=send"
    run(setup, "run", "--once")
    [got] = setup.smtp.wait_for(1)
    answer = parsed(got.raw)
    assert got.rcpt_tos == [READER]
    assert answer["In-Reply-To"] == parsed(question)["Message-ID"]
    assert answer["Auto-Submitted"] == "auto-replied"
    case = case_of(setup, READER)
    assert f"[НБ {case['token']}]" in answer["Subject"]
    assert "Запросить временный доступ" in answer.get_body(("plain",)).get_content()
    assert case["state"] == "answered" and case["answered_by"] == "ready:temporary-access"

    # the same question, answers proposed only: a threaded draft, nothing sent
    setup.env["MAILPROC_QUESTIONS_ANSWER_MODES"] = ""
    second = mail(OTHER, "Подскажите, как получить временный доступ к закрытой книге?")
    setup.server.deliver(second)
    run(setup, "run", "--once")
    print(run(setup, "questions", "sync"))
    [(_uid, flags, raw)] = setup.server.messages("Drafts")
    draft = parsed(raw)
    assert b"\\Draft" in flags
    assert draft["In-Reply-To"] == parsed(second)["Message-ID"]
    assert draft["To"] == OTHER and draft["Auto-Submitted"] is None
    assert len(setup.smtp.messages) == 1
    assert case_of(setup, OTHER)["state"] == "drafted"
    run(setup, "questions", "sync")
    assert len(setup.server.messages("Drafts")) == 1  # appended once

    # the librarian sends it from their own client: the copy in Sent closes the case
    sent = mail("personbibl@nlrs.example", "Ответ библиотекаря", f"Re: {draft['Subject']}",
                in_reply_to=parsed(second)["Message-ID"])
    setup.server.deliver(sent, folder="Sent")
    run(setup, "questions", "sync")
    closed = case_of(setup, OTHER)
    assert closed["state"] == "answered" and closed["answered_by"].startswith("librarian:")


def test_local_history_query_reaches_regional_bibliography_and_its_answer_the_reader(setup):
    question = mail(READER, "Помогите найти краеведческую литературу о селе Чурапча.",
                    "Краеведческий запрос", name="Анна Петрова")
    setup.server.deliver(question)
    run(setup, "run", "--once")
    received = setup.smtp.wait_for(2)
    by_rcpt = {r.rcpt_tos[0]: parsed(r.raw) for r in received}
    to_dept = by_rcpt["regbib@nlrs.example"]
    assert "Чурапча" in to_dept.get_body(("plain",)).get_content()
    assert READER not in to_dept.as_string()
    assert "Отдел региональной библиографии" in by_rcpt[READER].get_body(("plain",)).get_content()
    case = case_of(setup, READER)
    assert case["state"] == "routed" and case["department"] == "regional"

    # the department answers from its own client, with a file
    scan = b"%PDF-1.4\n% list of articles\n" + bytes(range(256))
    reply = mail("regbib@nlrs.example", "Нашли три статьи о Чурапче, список во вложении.",
                 f"Re: {to_dept['Subject']}", in_reply_to=to_dept["Message-ID"],
                 attachment=("Список статей.pdf", scan))
    setup.server.deliver(reply)
    run(setup, "run", "--once")
    received = setup.smtp.wait_for(3)
    forwarded = parsed(received[2].raw)
    assert received[2].rcpt_tos == [READER]
    assert forwarded["In-Reply-To"] == parsed(question)["Message-ID"]
    [att] = list(forwarded.iter_attachments())
    assert att.get_filename() == "Список статей.pdf" and att.get_content() == scan
    assert "Нашли три статьи" in forwarded.get_body(("plain",)).get_content()
    assert case_of(setup, READER)["answered_by"] == "department:regional"

    # the reader writes again in the same thread: it joins the case, a person answers
    follow = mail(READER, "Спасибо! А можно ещё про соседний наслег?",
                  f"Re: {forwarded['Subject']}", in_reply_to=forwarded["Message-ID"])
    setup.server.deliver(follow)
    run(setup, "run", "--once")
    joined = case_of(setup, READER)
    assert joined["token"] == case["token"] and joined["followups"] == 1
    assert [m["role"] for m in joined["thread"]][-1] == "followup"
    assert len(setup.smtp.messages) == 3  # no automatic answer to the follow-up
