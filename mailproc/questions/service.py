"""What happens to a letter in the questions workflow, inside the message's transaction.

* A new question opens a case, then gets a ready answer (sent at once, or proposed as a draft),
  goes to a department, or waits for a librarian: :func:`take_question`.
* A letter in a case's thread is a reader's follow-up (joins the case, never auto-answered),
  the department's answer (sent on to the reader with its attachments), or a librarian's own
  answer (closes the case): :func:`take_reply`.

mailproc never answers a case a person already answered, and never answers automatic mail
(RFC 3834 section 2).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.letter.marks import is_automatic
from mailproc.logs import about
from mailproc.questions import cases as C
from mailproc.questions.book import AnswerBook, load_book
from mailproc.questions.drafts import build_draft, thread_anchor
from mailproc.questions.matcher import classify, own_text
from mailproc.questions.models import InformationNeed, PendingDraft, QuestionCase
from mailproc.questions.needs import extract_needs
from mailproc.questions.routing import department_for, mode_for

log = logging.getLogger("mailproc.questions")

ROUTED_TO_DEPARTMENT = "department/question_routed"
ROUTED_TO_READER = "reader/question_routed"
DEPARTMENT_ANSWER = "reader/question_answer"
REMINDER = "department/question_reminder"

_books: dict[str, tuple[float, AnswerBook]] = {}


def answer_book(settings) -> AnswerBook:
    """rules/answers.yaml, read again when it changed; an empty book when there is none."""
    path = Path(settings.paths.rules) / "answers.yaml"
    if not settings.paths.rules or not path.exists():  # "": no rules folder configured
        return AnswerBook(answers=(), routes=())
    mtime = path.stat().st_mtime
    cached = _books.get(str(path))
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_book(path))
        _books[str(path)] = cached
    return cached[1]


def staff_addresses(ctx) -> set[str]:
    from mailproc.sorting.limits import library_addresses  # noqa: PLC0415

    return library_addresses(ctx.settings, ctx.directory)


def _department_addresses(ctx, key: str) -> set[str]:
    d = ctx.directory
    dept = d.department(key) if d is not None and key else None
    return dept.all_addresses() if dept is not None else set()


def case_json(case: QuestionCase) -> dict:
    return {"token": case.token, "subject": case.subject, "text": own_text(case.text)[:3000],
            "topic": case.topic, "department": case.department}


# -- new questions -----------------------------------------------------------------------------


def take_question(ctx, *, route: bool = True, needs: bool = True, answer: bool = True) -> dict:
    letter = ctx.letter
    if is_automatic(letter):
        return {"result": "автоматическое письмо: вопрос не заводится"}
    found = C.find_case(ctx.session, letter, ctx.tokens, department_addresses(ctx))
    if found is not None:
        return take_reply(ctx, found)
    if letter.sender.email in staff_addresses(ctx):
        return {"result": "письмо сотрудника, не вопрос читателя"}
    done = ctx.session.scalar(select(QuestionCase).where(
        QuestionCase.message_pk == ctx.message.id))
    if done is not None:  # the same message again (review retry): one case, one answer
        return {"case": done.token, "state": done.state, "result": "вопрос уже заведён"}
    case = C.open_case(ctx.session, letter, ctx.message.id, ctx.now, ctx.settings.tz)
    book = answer_book(ctx.settings)
    verdict = classify(book, letter.subject, letter.text)
    out = {"case": case.token, "verdict": verdict.outcome, "key": verdict.key}
    if needs:
        out["needs"] = record_needs(ctx, case, book)
    if verdict.outcome == "answer" and answer:
        out.update(_ready_answer(ctx, case, book, verdict.key))
    elif verdict.outcome == "route" and route:
        out.update(route_case(ctx, case, department_for(book, verdict), verdict.reason))
    else:
        case.reason = verdict.reason
        out["result"] = f"ждёт библиотекаря: {verdict.reason}"
    out["state"] = case.state
    log.info("question case %s opened: %s %s -> %s", case.token, verdict.outcome, verdict.key,
             case.state, extra=about(case=case.token))
    return out


def department_addresses(ctx) -> set[str]:
    """Every department's addresses: they may use a bare subject tag to reach a case."""
    d = ctx.directory
    if d is None:
        return set()
    return set().union(*(dep.all_addresses() for dep in d.departments.values())) \
        if d.departments else set()


def _ready_answer(ctx, case: QuestionCase, book: AnswerBook, key: str) -> dict:
    topic = book.answer(key)
    why = ctx.refusal(f"готовый ответ «{topic.title}»")
    if why:
        case.reason = f"готовый ответ «{topic.title}» не отправлен: {why}"
        return {"result": case.reason}
    letter = ctx.letter
    to = (letter.reply_to[0] if letter.reply_to else letter.sender).email
    context = ctx.template_context(case=case_json(case), reader_name=case.reader_name,
                                   answer={"key": key, "title": topic.title})
    case.topic = key
    if mode_for(ctx.settings, topic) == "send":
        row = ctx.outbox(to=to, template=topic.template, context=context, kind="reply",
                         in_reply_to=letter, token=case.token, token_kind=C.KIND,
                         auto_submitted="auto-replied", related=("question", case.id),
                         dedupe_key=f"question-answer:{case.id}")
        if row is None:
            case.reason = "готовый ответ не отправлен: адрес читателя в списке подавленных"
            return {"result": case.reason}
        C.remember(ctx.session, case, row.message_id, "answer", ctx.settings.mail.from_address)
        case.state, case.answered_by, case.answered_at = "answered", f"ready:{key}", ctx.now
        case.reason = f"готовый ответ «{topic.title}» отправлен"
        return {"result": case.reason, "queued": True, "outbox": row.id, "to": to}
    message_id, raw = build_draft(ctx.settings, ctx.tokens, to=to, template=topic.template,
                                  context=context, in_reply_to=letter, token=case.token,
                                  now=ctx.now)
    ctx.session.add(PendingDraft(case_id=case.id, message_id=message_id, raw=raw))
    C.remember(ctx.session, case, message_id, "draft", ctx.settings.mail.from_address)
    case.state = "drafted"
    case.reason = f"черновик готового ответа «{topic.title}» в папке черновиков"
    return {"result": case.reason, "draft": message_id}


def route_case(ctx, case: QuestionCase, department: str, reason: str = "") -> dict:
    """Send the question to a department (templated, with the case token) and tell the
    reader; the case waits in state ``routed``."""
    dept = ctx.directory.department(department) if ctx.directory is not None else None
    if dept is None or not dept.address:
        case.reason = f"отдел «{department}» не найден в rules/departments.yaml: решает библиотекарь"
        return {"result": case.reason}
    letter = ctx.letter
    refusal = getattr(ctx, "refusal", None)  # commands route without a letter's limit
    why = refusal(f"передача вопроса в отдел «{dept.name}»") if refusal else ""
    if why:
        case.reason = f"вопрос не передан в отдел «{dept.name}»: {why}; ждёт библиотекаря"
        return {"result": case.reason, "limit": True}
    # The department gets the question, not the reader's address or files: personal data
    # stays with the personal librarian (the template says so to the department).
    context = {"case": case_json(case), "department": dept.name, "department_key": dept.key,
               "question": case_json(case)["text"], "deadline_days": dept.deadline_days,
               "reader_name": case.reader_name}
    row = ctx.outbox(to=dept.address, template=ROUTED_TO_DEPARTMENT, context=context,
                     kind="request", token=case.token, token_kind=C.KIND,
                     related=("question", case.id), dedupe_key=f"question-route:{case.id}")
    if row is None:
        case.reason = "письмо в отдел не отправлено (адрес в списке подавленных)"
        return {"result": case.reason}
    C.remember(ctx.session, case, row.message_id, "to-department", ctx.settings.mail.from_address)
    case.state, case.department, case.routed_at = "routed", dept.key, ctx.now
    case.reason = reason or f"передан в отдел: {dept.name}"
    out = {"result": f"передан в отдел «{dept.name}»", "department": dept.key,
           "queued": True, "outbox": row.id}
    if not ctx.refusal("уведомление читателю о передаче вопроса в отдел"):
        to = (letter.reply_to[0] if letter.reply_to else letter.sender).email
        note = ctx.outbox(to=to, template=ROUTED_TO_READER, context=context, kind="reply",
                          in_reply_to=letter, token=case.token, token_kind=C.KIND,
                          auto_submitted="auto-replied", related=("question", case.id),
                          dedupe_key=f"question-routed-reader:{case.id}")
        if note is not None:
            C.remember(ctx.session, case, note.message_id, "notice",
                       ctx.settings.mail.from_address)
    return out


def record_needs(ctx, case: QuestionCase | None, book: AnswerBook) -> int:
    """Information needs found in the letter, into the register (once per message)."""
    exists = ctx.session.scalar(select(InformationNeed.id).where(
        InformationNeed.message_pk == ctx.message.id).limit(1))
    if exists is not None:
        return 0
    found = extract_needs(book, ctx.letter.text or "")
    for need in found:
        ctx.session.add(InformationNeed(kind=need.kind, text=need.text, author=need.author,
                                        title=need.title, topic=need.topic,
                                        case_id=case.id if case else None,
                                        message_pk=ctx.message.id))
    return len(found)


# -- letters in a case's thread ------------------------------------------------------------------


def take_reply(ctx, found: C.Found) -> dict:
    case, letter = found.case, ctx.letter
    sender = letter.sender.email
    out = {"case": case.token, "joined_by": found.how}
    if is_automatic(letter):
        C.remember(ctx.session, case, letter.message_id, "automatic", sender, ctx.message.id)
        return {**out, "result": "автоматическое письмо в переписке по вопросу: без ответа"}
    if case.state == "routed" and sender in _department_addresses(ctx, case.department):
        return {**out, **_department_answer(ctx, case)}
    staff = sender in staff_addresses(ctx)
    if staff and found.replied_role in ("to-department", "reminder"):
        C.remember(ctx.session, case, letter.message_id, "staff-note", sender, ctx.message.id)
        return {**out, "result": "письмо сотрудника в переписке с отделом: ждёт библиотекаря"}
    # A staff address, or anyone but the reader replying to the reader's own letter (a
    # librarian answering from a personal address with the mailbox in copy): a person answered.
    if staff or (sender != case.reader_addr and found.replied_role in ("reader", "followup")):
        return {**out, **librarian_answered(ctx.session, case, sender, ctx.now,
                                            letter.message_id, ctx.message.id)}
    C.remember(ctx.session, case, letter.message_id, "followup", sender, ctx.message.id)
    case.followups = (case.followups or 0) + 1
    if case.state in ("answered", "drafted"):
        case.state = "new"
    case.reason = "новое письмо читателя по вопросу: ждёт библиотекаря"
    return {**out, "result": case.reason, "state": case.state}


def _department_answer(ctx, case: QuestionCase) -> dict:
    letter = ctx.letter
    C.remember(ctx.session, case, letter.message_id, "department", letter.sender.email,
               ctx.message.id)
    if case.answered_by.startswith("librarian:"):
        return {"result": "ответ отдела не переслан: библиотекарь уже ответил читателю сам"}
    from mailproc.outbound.filenames import never_forwarded, safe_name  # noqa: PLC0415
    from mailproc.outbound.outbox import OutAttachment  # noqa: PLC0415

    kept = [a for a in letter.all_attachments() if a.data is not None]
    bad = [f"«{safe_name(a.name, a.type)}» (тип {a.type})" for a in kept
           if never_forwarded(a.type)]
    if bad:  # a program or a web page in the library's name: a person looks first
        raise MessageError(f"вопрос {case.token}: ответ отдела не переслан читателю, в нём "
                           f"программа или веб-страница: {', '.join(bad)}; посмотрите письмо")
    # names rebuilt and typed by the bytes (OutAttachment), never as the department wrote them
    files = [OutAttachment(a.name, a.type, a.data, fallback="attachment") for a in kept]
    dept = ctx.directory.department(case.department)
    context = {"case": case_json(case), "department": dept.name if dept else case.department,
               "reader_name": case.reader_name, "answer_text": _department_text(letter)}
    anchor = thread_anchor(C.latest_reader_message_id(ctx.session, case), case.subject)
    row = ctx.outbox(to=case.reader_addr, template=DEPARTMENT_ANSWER, context=context,
                     kind="forward", in_reply_to=anchor, attachments=files, token=case.token,
                     token_kind=C.KIND, related=("question", case.id),
                     dedupe_key=f"question-answer-forward:{case.id}:{ctx.message.id}")
    if row is None:
        return {"result": "ответ отдела не переслан: адрес читателя в списке подавленных"}
    C.remember(ctx.session, case, row.message_id, "forward", ctx.settings.mail.from_address)
    case.state, case.answered_at = "answered", ctx.now
    case.answered_by = f"department:{case.department}"
    case.reason = "ответ отдела переслан читателю"
    return {"result": case.reason, "queued": True, "outbox": row.id, "state": case.state}


def _department_text(letter) -> str:
    return own_text(letter.text or "").replace("\r", "").strip()


def librarian_answered(session, case: QuestionCase, who: str, when, message_id: str = "",
                       message_pk: int | None = None) -> dict:
    """A person answered the reader: the case is closed and mailproc proposes nothing more."""
    C.remember(session, case, message_id, "staff", who, message_pk)
    if case.state == "answered" and case.answered_by.startswith("librarian:"):
        return {"result": "библиотекарь уже ответил", "state": case.state}
    case.state, case.answered_by, case.answered_at = "answered", f"librarian:{who}", when
    case.reason = "ответил библиотекарь"
    return {"result": "ответ библиотекаря: вопрос закрыт", "state": case.state}
