"""Question cases: opening one, and finding the case a letter belongs to.

A letter joins a case by its thread first (In-Reply-To/References naming any Message-ID of the
case: the reader's letters, our answers, our mail to the department; RFC 5322 3.6.4), then by
the case token it carries (signed Message-ID, subject tag or body marker, see
:mod:`mailproc.tokens`). A token seen only in the subject carries no kind (orders and
registrations have tokens of the same shape), so such a hit is accepted only from the case's
reader or its department.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.questions.models import QuestionCase, QuestionMessage
from mailproc.store.counters import next_token

KIND = "q"


@dataclass
class Found:
    case: QuestionCase
    how: str  # "thread" | "message-id" | "subject" | "marker"
    replied_role: str = ""  # role of the thread message the letter answers ("" for tokens)


def thread_ids(letter) -> list[str]:
    return [m for m in [letter.in_reply_to, *reversed(letter.references)] if m]


def find_case(session: Session, letter, tokens, trusted: set[str] = frozenset()) -> Found | None:
    """The case ``letter`` belongs to, or None. ``trusted`` are the addresses allowed to use a
    bare subject tag besides the case's reader (the departments' addresses)."""
    ids = thread_ids(letter)
    if ids:
        rows = session.scalars(select(QuestionMessage).where(
            QuestionMessage.message_id.in_(ids)))
        by_id = {r.message_id: r for r in rows}
        for mid in ids:  # the nearest ancestor first
            if mid in by_id and by_id[mid].message_id != letter.message_id:
                return Found(by_id[mid].case, "thread", by_id[mid].role)
    sender = letter.sender.email
    for hit in (tokens.find_in_letter(letter) if tokens is not None else []):
        if hit.kind not in (KIND, ""):
            continue
        case = session.scalar(select(QuestionCase).where(QuestionCase.token == hit.token))
        if case is None:
            continue
        if hit.kind == "" and sender not in ({case.reader_addr} | set(trusted)):
            continue
        return Found(case, hit.how)
    return None


def open_case(session: Session, letter, message_pk: int | None, now: datetime,
              tz) -> QuestionCase:
    """A new case stamped with the decision's clock (``now``), not the wall clock, so the
    reports' timings agree with the reminders' and a simulated clock governs both."""
    year = now.astimezone(tz).year
    case = QuestionCase(token=next_token(session, KIND, year), reader_addr=letter.sender.email,
                        created_at=now,
                        reader_name=letter.sender.name or "",
                        subject=letter.subject or "", text=(letter.text or "")[:20000],
                        message_pk=message_pk, state="new")
    session.add(case)
    session.flush()
    remember(session, case, letter.message_id, "reader", letter.sender.email, message_pk)
    return case


def remember(session: Session, case: QuestionCase, message_id: str, role: str,
             sender: str = "", message_pk: int | None = None) -> None:
    """Add a Message-ID to the case's thread (once)."""
    if not message_id:
        return
    exists = session.scalar(select(QuestionMessage.id).where(
        QuestionMessage.case_id == case.id, QuestionMessage.message_id == message_id))
    if exists is None:
        session.add(QuestionMessage(case_id=case.id, message_id=message_id, role=role,
                                    sender=sender, message_pk=message_pk))
        session.flush()


def latest_reader_message_id(session: Session, case: QuestionCase) -> str:
    """The reader's newest letter in the thread: what a reply to the reader threads to."""
    return session.scalar(select(QuestionMessage.message_id).where(
        QuestionMessage.case_id == case.id, QuestionMessage.role.in_(("reader", "followup")))
        .order_by(QuestionMessage.id.desc()).limit(1)) or ""
