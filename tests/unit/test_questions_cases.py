"""Question cases in the database: tokens, ready answers (sent or drafted), routing, replies
from the department, librarians and the reader, reminders, information needs. Real SQLite,
real outbox rows and templates; nothing is sent (the sender is tested with real servers in
tests/integration/test_questions_e2e.py)."""

from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from mailproc.mailbox.maildir import MaildirSource
from mailproc.outbound.models import OutboxMessage
from mailproc.questions import actions
from mailproc.questions.drafts import append_pending
from mailproc.questions.models import InformationNeed, PendingDraft, QuestionCase
from mailproc.questions.watch import is_overdue, remind_due
from mailproc.store.counters import next_token
from tests.unit.questions_helpers import NOW, World, mail

READER = "reader@reader.example"
TEMPORARY = "Книга закрыта для просмотра, как получить временный доступ?"
LOCAL = "Помогите найти краеведческую литературу о селе Чурапча."


@pytest.fixture
def world(tmp_path):
    return World(tmp_path, answer_modes="temporary-access=send")


def outbox(world) -> list[OutboxMessage]:
    with world.db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def case(world, token) -> QuestionCase:
    with world.db.session() as s:
        return s.scalar(select(QuestionCase).where(QuestionCase.token == token))


def test_tokens_are_one_sequence_across_kinds_per_year(world):
    """A bare subject tag must name one case whatever its kind."""
    with world.db.transaction() as s:
        got = [next_token(s, "q", 2026), next_token(s, "q", 2026), next_token(s, "o", 2026),
               next_token(s, "q", 2027)]
    assert got == ["2026-00001", "2026-00002", "2026-00003", "2027-00001"]


def test_ready_answer_sent_at_once_threaded_and_tagged(world):
    raw = mail(READER, TEMPORARY, "Доступ к книге", name="Анна")
    out = world.act(raw, actions.answer_question)
    assert out["state"] == "answered" and out["key"] == "temporary-access"
    [row] = outbox(world)
    assert row.headers["to"] == [["", READER]] or row.headers["to"] == [("", READER)]
    extra = row.headers["extra"]
    assert extra["Auto-Submitted"] == "auto-replied"
    assert extra["In-Reply-To"] == message_from_bytes(raw, policy=default)["Message-ID"]
    assert row.subject == f"Re: Доступ к книге [НБ {out['case']}]"
    assert "Запросить временный доступ" in row.text and "Здравствуйте, Анна!" in row.text
    c = case(world, out["case"])
    assert c.answered_by == "ready:temporary-access" and c.answered_at == NOW


def test_ready_answer_as_draft_is_appended_after_commit_once(world, tmp_path):
    out = world.act(mail(READER, "Как зарегистрироваться в электронной библиотеке?"),
                    actions.answer_question)
    assert out["state"] == "drafted" and not outbox(world)
    source = MaildirSource(str(tmp_path / "Maildir"))
    source.open()
    assert append_pending(world.db, source, world.settings) == 1
    assert append_pending(world.db, source, world.settings) == 0  # idempotent
    with world.db.session() as s:
        [draft] = s.scalars(select(PendingDraft))
    assert draft.state == "appended"
    msg = message_from_bytes(draft.raw, policy=default)
    assert msg["In-Reply-To"] and msg["Auto-Submitted"] is None
    assert "полная регистрация" in msg.get_content().lower()


def test_draft_goes_only_to_the_mailbox_the_reader_wrote_to(world, tmp_path):
    world.act(mail(READER, "Как зарегистрироваться в электронной библиотеке?"),
              actions.answer_question)
    other = MaildirSource(str(tmp_path / "Other"))
    other.open()
    assert append_pending(world.db, other, world.settings) == 0
    assert not list((tmp_path / "Other").glob(".Drafts/cur/*"))
    own = MaildirSource(str(tmp_path / "Maildir"))
    own.open()
    assert append_pending(world.db, own, world.settings) == 1


def test_draft_is_dropped_when_a_librarian_answered_first(world, tmp_path):
    raw = mail(READER, "Как зарегистрироваться в электронной библиотеке?")
    out = world.act(raw, actions.answer_question)
    reader_id = message_from_bytes(raw, policy=default)["Message-ID"]
    reply = world.act(mail("personbibl@nlrs.example", "Вот как...", "Re: Вопрос",
                           in_reply_to=reader_id), actions.question_reply)
    assert reply["case"] == out["case"] and case(world, out["case"]).answered_by.startswith(
        "librarian:")
    source = MaildirSource(str(tmp_path / "Maildir"))
    source.open()
    assert append_pending(world.db, source, world.settings) == 0


def test_automatic_mail_is_never_answered_and_opens_no_case(world):
    out = world.act(mail("robot@reader.example", TEMPORARY, auto=True), actions.answer_question)
    assert "автоматическое" in out["result"] and not outbox(world)
    with world.db.session() as s:
        assert s.scalar(select(QuestionCase)) is None


def test_no_confident_answer_waits_for_a_librarian(world):
    out = world.act(mail(READER, "Есть ли у вас в фонде Евгений Онегин 1837 года?"),
                    actions.answer_question)
    assert out["state"] == "new" and not outbox(world)


def routed(world):
    raw = mail(READER, LOCAL, "Краеведение", name="Иван")
    out = world.act(raw, actions.answer_question)
    return out, raw


def test_local_history_goes_to_regional_bibliography_and_the_reader_is_told(world):
    out, _ = routed(world)
    assert out["department"] == "regional" and out["state"] == "routed"
    to_dept, to_reader = outbox(world)
    assert to_dept.headers["to"][0][1] == "regbib@nlrs.example"
    assert to_dept.token == out["case"] and LOCAL in to_dept.text
    assert READER not in to_dept.text  # personal data stays with the personal librarian
    assert to_reader.headers["to"][0][1] == READER
    assert "Отдел региональной библиографии" in to_reader.text


def test_department_answer_is_forwarded_with_attachments(world):
    out, raw = routed(world)
    to_dept = outbox(world)[0]
    answer = mail("regbib@nlrs.example", "Нашли три статьи, список во вложении.",
                  f"Re: {to_dept.subject}", in_reply_to=to_dept.message_id,
                  attachment=("Список.pdf", b"%PDF-1.4 list"))
    got = world.act(answer, actions.question_reply, now=NOW + timedelta(hours=3))
    assert got["state"] == "answered"
    fwd = outbox(world)[-1]
    assert fwd.headers["to"][0][1] == READER
    assert fwd.headers["extra"]["In-Reply-To"] == message_from_bytes(raw, policy=default)["Message-ID"]
    assert [a.name for a in fwd.attachments] == ["Список.pdf"]
    assert "Нашли три статьи" in fwd.text
    assert case(world, out["case"]).answered_by == "department:regional"


def test_answer_from_another_department_is_not_forwarded(world):
    out, _ = routed(world)
    to_dept = outbox(world)[0]
    world.act(mail("bo@nlrs.example", "Это не к нам", f"Re: {to_dept.subject}",
                   in_reply_to=to_dept.message_id), actions.question_reply)
    assert len(outbox(world)) == 2 and case(world, out["case"]).state == "routed"


def test_reader_follow_up_joins_the_case_by_thread_or_token(world):
    out = world.act(mail(READER, TEMPORARY), actions.answer_question)
    answer = outbox(world)[0]
    by_thread = world.act(mail(READER, "Спасибо, а сколько дней длится доступ?",
                               f"Re: {answer.subject}", in_reply_to=answer.message_id),
                          actions.answer_question)
    by_subject = world.act(mail(READER, "И ещё вопрос по временному доступу",
                                f"Вопрос [НБ {out['case']}]"), actions.answer_question)
    stranger = world.act(mail("other@x.example", "Вопрос", f"Вопрос [НБ {out['case']}]"),
                         actions.answer_question)
    assert by_thread["case"] == by_subject["case"] == out["case"]
    assert stranger["case"] != out["case"]  # a bare subject tag from someone else
    c = case(world, out["case"])
    assert c.followups == 2 and c.state == "new"  # a person reads follow-ups
    assert len(outbox(world)) == 1  # follow-ups never get a ready answer


def test_reminder_once_then_overdue(world):
    out, _ = routed(world)
    app = SimpleNamespace(settings=world.settings, db=world.db)
    assert remind_due(app, NOW + timedelta(days=1)) == 0  # Friday: not due yet
    later = NOW + timedelta(days=5)  # Tuesday: two working days have passed
    assert remind_due(app, later) == 1
    assert remind_due(app, later + timedelta(days=1)) == 0
    reminder = outbox(world)[-1]
    assert reminder.headers["to"][0][1] == "regbib@nlrs.example"
    assert reminder.template == "department/question_reminder"
    assert is_overdue(world.settings, world.directory, case(world, out["case"]), later)


def test_information_needs_are_registered_with_fields(world):
    text = ("Предлагаю оцифровать книгу «Якутские народные сказки» 1947 года. "
            "Хорошо бы сделать раздел по истории якутского театра. "
            "И нужна подписка на IPRbooks.")
    out = world.act(mail(READER, text), actions.answer_question)
    with world.db.session() as s:
        needs = {n.kind: n for n in s.scalars(select(InformationNeed))}
    assert out["needs"] == 3
    assert needs["digitise"].title == "Якутские народные сказки"
    assert needs["section"].topic == "истории якутского театра"
    assert needs["subscription"].topic == "IPRbooks"
    assert out["department"] == "content"  # whole-book digitisation goes to ЦЭБ


def test_a_reply_to_the_readers_letter_from_another_person_closes_the_case(world):
    raw = mail(READER, "Есть ли у вас в фонде Евгений Онегин 1837 года?")
    out = world.act(raw, actions.answer_question)
    reader_id = message_from_bytes(raw, policy=default)["Message-ID"]
    got = world.act(mail("librarian.home@mail.example", "Да, есть, приходите.", "Re: Вопрос",
                         in_reply_to=reader_id), actions.answer_question)
    c = case(world, out["case"])
    assert got["case"] == out["case"] and c.state == "answered"
    assert c.answered_by == "librarian:librarian.home@mail.example"
    # and a later ready-answer topic from the reader in that thread is not auto-answered
    world.act(mail(READER, TEMPORARY, "Re: Вопрос", in_reply_to=reader_id),
              actions.answer_question)
    assert not outbox(world)


def test_department_answer_with_a_program_goes_to_review(world):
    from mailproc.errors import MessageError

    out, _ = routed(world)
    to_dept = outbox(world)[0]
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 2000
    answer = mail("regbib@nlrs.example", "Список во вложении.", f"Re: {to_dept.subject}",
                  in_reply_to=to_dept.message_id, attachment=("список.pdf.exe", exe))
    with pytest.raises(MessageError) as err:
        world.act(answer, actions.question_reply, now=NOW + timedelta(hours=3))
    assert "ответ отдела не переслан читателю, в нём программа или веб-страница: " \
           "«список.pdf.exe» (тип application/x-msdownload)" in str(err.value)
    assert len(outbox(world)) == 2 and case(world, out["case"]).state == "routed"


def test_department_answer_names_are_rebuilt(world):
    routed(world)
    to_dept = outbox(world)[0]
    answer = mail("regbib@nlrs.example", "Список во вложении.", f"Re: {to_dept.subject}",
                  in_reply_to=to_dept.message_id,
                  attachment=("../../Список\r\nX-Injected: 1.pdf", b"%PDF-1.4 list"))
    world.act(answer, actions.question_reply, now=NOW + timedelta(hours=3))
    assert [a.name for a in outbox(world)[-1].attachments] == ["Список X-Injected_ 1.pdf"]
