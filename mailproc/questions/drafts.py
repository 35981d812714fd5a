"""Proposed answers as drafts in the mailbox's Drafts folder, for a librarian to review and send
from their own mail client.

The draft is rendered and stored in the message's transaction (a ``question_drafts`` row in
state ``pending``); the IMAP APPEND happens only after that transaction commits
(:func:`append_pending`), because IMAP cannot roll back: a draft appended for a message whose
transaction then failed would be an orphan that a librarian might send. The APPEND is
idempotent by Message-ID: a crash between APPEND and marking the row is repaired by finding
the draft with ``SEARCH HEADER Message-ID`` instead of appending it twice.

The draft carries ``\\Draft`` (RFC 3501 2.3.2) and threads to the reader's letter
(In-Reply-To/References, RFC 5322 3.6.4), so the librarian's client sends it as a reply. It
has no ``Auto-Submitted`` header: a person sends it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select

from mailproc.logs import about
from mailproc.questions.models import PendingDraft, QuestionCase
from mailproc.store.base import utcnow
from mailproc.store.models import Message

log = logging.getLogger("mailproc.questions")

DRAFT_FLAG = "\\Draft"


def build_draft(settings, tokens, *, to: str, template: str, context: dict, in_reply_to,
                token: str, now: datetime) -> tuple[str, bytes]:
    """(Message-ID, raw bytes) of a reply rendered from ``template``, threaded and tagged
    with the case token like everything the outbox sends."""
    from mailproc.outbound.mime import build_message  # noqa: PLC0415 - outbound's one builder
    from mailproc.outbound.outbox import _headers, compose, templates_for  # noqa: PLC0415

    rendered = templates_for(settings).render(template, context)
    subject, text, html = compose(rendered, in_reply_to.subject or "", token, "q")
    extra = _headers(settings, kind="reply", in_reply_to=in_reply_to, reply_to=None,
                     auto_submitted="", recipients=[("", to)], more={})
    extra.pop("Auto-Submitted", None)
    message_id = tokens.message_id(token, "q")
    row = SimpleNamespace(sender=settings.mail.from_address, headers={"to": [("", to)],
                          "extra": extra}, subject=subject, date=now, message_id=message_id,
                          text=text, html=html)
    return message_id, build_message(row, [], settings.mail.from_name)


def append_pending(db, source, settings) -> int:
    """APPEND every pending draft to the Drafts folder; returns how many were appended.

    Call after the transactions that created them committed (after intake, and on start to
    repair a crash). A draft whose case a person answered meanwhile is dropped: mailproc never
    proposes an answer to a case a person already answered.
    """
    folder = settings.mailbox.drafts_folder
    with db.session() as s:
        # Only drafts answering mail of this mailbox: with several mailboxes each proposal
        # belongs in the Drafts of the mailbox the reader wrote to.
        pending = [(d.id, d.message_id, d.case_id) for d in s.scalars(
            select(PendingDraft)
            .join(QuestionCase, PendingDraft.case_id == QuestionCase.id)
            .join(Message, QuestionCase.message_pk == Message.id)
            .where(PendingDraft.state == "pending", Message.mailbox == source.name)
            .order_by(PendingDraft.id))]
    appended = 0
    for draft_id, message_id, case_id in pending:
        with db.transaction() as s:
            draft = s.get(PendingDraft, draft_id)
            case = s.get(QuestionCase, case_id)
            if draft is None or draft.state != "pending":
                continue
            if case is not None and case.state == "answered":
                draft.state = "dropped"
                continue
            raw = draft.raw
            token = case.token if case is not None else f"#{case_id}"
        found = _already_there(source, folder, message_id)
        uid = found or source.append(folder, raw, [DRAFT_FLAG])
        with db.transaction() as s:
            draft = s.get(PendingDraft, draft_id)
            draft.state, draft.folder, draft.uid = "appended", folder, uid or ""
            draft.appended_at = utcnow()
        if not found:
            appended += 1
            log.info("question case %s: draft appended to %s", token, folder,
                     extra=about(case=token))
    return appended


def _already_there(source, folder: str, message_id: str) -> str:
    search = getattr(source, "search_header", None)
    if search is None:
        return ""
    uids = search(folder, "Message-ID", message_id)
    return uids[0] if uids else ""


def thread_anchor(message_id: str, subject: str, references: list[str] | None = None):
    """A stand-in for a Letter that outbound threads a reply to (In-Reply-To/References)."""
    return SimpleNamespace(message_id=message_id, subject=subject, references=references or [])
