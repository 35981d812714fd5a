"""Finding, opening and moving registration cases; the audit trail every change leaves.

A case belongs to a reader: mail is matched to it by a case token it carries (a reply to our
"documents missing" answer), else by the sender's address, else by the full name the mail
gives (readers often send the consent from a relative's or a work address). The name is kept
sealed with the vault key (``sealed``): matching by name opens the open cases' names in memory.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.logs import about
from mailproc.registrations import texts
from mailproc.registrations.sealed import seal, unseal
from mailproc.registrations.documents import KIND_NAMES_RU, KIND_ORDER_INDEX, kinds_of
from mailproc.registrations.models import (
    OPEN_STATES,
    ConsentRecord,
    RegistrationAudit,
    RegistrationCase,
    RegistrationDocument,
    RegistrationMessage,
)
from mailproc.store.counters import next_token

log = logging.getLogger("mailproc.registrations")

#: which state may follow which; anything else is a bug or a librarian's mistake
TRANSITIONS = {
    "incomplete": {"complete", "rejected", "withdrawn"},
    "complete": {"incomplete", "handed", "rejected", "withdrawn"},
    "handed": {"card_issued", "rejected", "withdrawn"},
    "card_issued": {"withdrawn"},
    "rejected": {"withdrawn"},
    "withdrawn": set(),
}


def audit(session: Session, case: RegistrationCase, action: str, *, at: datetime,
          detail: str = "", reason: str = "", actor: str = "mailproc",
          document: RegistrationDocument | None = None) -> RegistrationAudit:
    row = RegistrationAudit(case_id=case.id, document_id=document.id if document else None,
                            at=at, actor=actor, action=action, detail=detail, reason=reason)
    session.add(row)
    return row


def set_state(session: Session, case: RegistrationCase, state: str, *, at: datetime,
              actor: str = "mailproc", reason: str = "") -> None:
    if state == case.state:
        return
    if state not in TRANSITIONS[case.state]:
        raise ValueError(f"case {case.token}: cannot go from {case.state} to {state}")
    audit(session, case, "state", at=at, detail=f"{case.state} -> {state}", reason=reason,
          actor=actor)
    log.info("registration case %s: %s -> %s", case.token, case.state, state,
             extra=about(case=case.token))
    case.state = state
    case.updated_at = at
    stamp = {"complete": "completed_at", "handed": "handed_at", "card_issued": "card_issued_at",
             "rejected": "closed_at", "withdrawn": "closed_at"}.get(state)
    if stamp:
        setattr(case, stamp, at)


def find_case_by_token(session: Session, tokens, letter, states) -> RegistrationCase | None:
    """A case named by a token the letter carries. A token without a kind (the subject tag)
    could be an order's with the same number, so it counts only from the case's reader or
    with the case's state confirming it."""
    for hit in tokens.find_in_letter(letter) if tokens is not None else []:
        if hit.kind not in ("r", ""):
            continue
        case = session.scalar(select(RegistrationCase).where(
            RegistrationCase.token == hit.token, RegistrationCase.state.in_(states)))
        if case is not None:
            return case
    return None


def name_of(case: RegistrationCase, box) -> str:
    """The reader's full name, opened with the vault key ``box``; "" once destroyed."""
    return unseal(box, case.reader_name)


def link_message(session: Session, case: RegistrationCase, message) -> None:
    """Record that ``message`` (a Message row, or None outside the intake) belongs to the
    case, so destroying the case's data finds its row."""
    if message is None:
        return
    session.flush()
    if session.scalar(select(RegistrationMessage.id).where(
            RegistrationMessage.case_id == case.id,
            RegistrationMessage.message_pk == message.id)) is None:
        session.add(RegistrationMessage(case_id=case.id, message_pk=message.id))


def find_case(session: Session, tokens, letter, *, box, states=OPEN_STATES
              ) -> RegistrationCase | None:
    """The reader's case in one of ``states``: by token, by address, then by name (the
    names opened with the vault key ``box``)."""
    case = find_case_by_token(session, tokens, letter, states)
    if case is not None:
        return case
    case = session.scalar(select(RegistrationCase).where(
        RegistrationCase.reader_email == letter.sender.email,
        RegistrationCase.state.in_(states)).order_by(RegistrationCase.id.desc()))
    if case is not None:
        return case
    name = texts.reader_name(letter.text)
    if name:
        for candidate in session.scalars(select(RegistrationCase).where(
                RegistrationCase.state.in_(states)).order_by(RegistrationCase.id.desc())):
            if texts.names_match(name, name_of(candidate, box)):
                return candidate
    return None


def open_case(session: Session, letter, now: datetime, tz, box) -> RegistrationCase:
    year = now.astimezone(tz).year
    case = RegistrationCase(
        token=next_token(session, "r", year), reader_email=letter.sender.email,
        reader_name=seal(box, texts.reader_name(letter.text) or letter.sender.name),
        state="incomplete", created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    audit(session, case, "opened", at=now, reason="документы на регистрацию пришли по почте")
    log.info("registration case %s opened", case.token, extra=about(case=case.token))
    return case


def record_consent(session: Session, settings, case: RegistrationCase,
                   doc: RegistrationDocument) -> None:
    """An entry in the consent register for a readable consent document (once per document):
    the proof of consent 152-FZ art. 9 p. 3 puts on the library."""
    if session.scalar(select(ConsentRecord).where(ConsentRecord.document_id == doc.id)):
        return
    session.add(ConsentRecord(
        case_id=case.id, document_id=doc.id, reader_email=case.reader_email,
        received_at=doc.received_at, purpose=settings.registrations.consent_purpose,
        valid_until=doc.received_at + timedelta(seconds=settings.registrations.consent_term)))


def required_kinds(settings) -> tuple[str, ...]:
    return tuple(k for k in settings.registrations.required_documents.split(",") if k)


def present_kinds(case: RegistrationCase) -> set[str]:
    return {k for d in case.documents if d.readable and d.destroyed_at is None
            for k in kinds_of(d.kind)} - {"other"}


def missing_kinds(case: RegistrationCase, required: tuple[str, ...]) -> list[str]:
    have = present_kinds(case)
    return [k for k in required if k not in have]


def ru(kinds) -> list[str]:
    return [KIND_NAMES_RU[k] for k in kinds]


def ordered(kinds) -> list[str]:
    return sorted(kinds, key=KIND_ORDER_INDEX.get)


def address_form(full_name: str) -> str:
    """How a letter greets the reader: имя отчество of a three-word name, else the name."""
    words = full_name.split()
    if len(words) == 3:
        return " ".join(words[1:])
    return full_name or "читатель"


def by_token(session: Session, token: str) -> RegistrationCase | None:
    return session.scalar(select(RegistrationCase).where(RegistrationCase.token == token))
