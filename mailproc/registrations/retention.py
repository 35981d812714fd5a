"""Keeping the documents no longer than their purpose needs (152-FZ art. 5 p. 7, art. 21).

Documents are destroyed ``registrations.retention`` after the hand-off to ЦКО, or at once when
the reader withdraws the consent; the audit rows and the consent register stay as the record
of what was held and when it was destroyed. ``purge_due`` is the daily job's one call.
Destroying a case's documents also records that every copy of its letters (and their
redacted stubs) is to be deleted from the mailbox, done after the commit by the
registrations tidy (mailproc.registrations.redaction).
Destroying the documents also forgets the reader everywhere else in the database
(``forget``), and after the commit the database drops the old bytes (``forget_freed``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.localtime import local_time
from mailproc.logs import about
from mailproc.outbound.filenames import safe_name
from mailproc.registrations import cases
from mailproc.registrations.common import ServiceContext, outbox, vault
from mailproc.registrations.documents import kinds_of
from mailproc.registrations.forget import forget_reader, scrub_outbox, take_wal_dirty
from mailproc.registrations.models import ConsentRecord, RegistrationCase
from mailproc.registrations.redaction import record_removals
from mailproc.registrations.sealed import address_keys
from mailproc.registrations.vault import shred
from mailproc.private import private_dir, write_private
from mailproc.store.base import utcnow

log = logging.getLogger("mailproc.registrations")

RETENTION_REASON = "срок хранения истёк после передачи в ЦКО (настройка registrations.retention)"
STALE_REASON = ("документы не досланы в срок (настройка registrations.incomplete_retention); "
                "дело закрыто")
WITHDRAWAL_REASON = "читатель отозвал согласие на обработку персональных данных"


def destroy_documents(session: Session, settings, box, case: RegistrationCase, *,
                      at: datetime, reason: str, actor: str = "mailproc",
                      keep: int | None = None) -> int:
    """Destroy every document of the case still held; one audit row each. ``keep``: the
    message row of a withdrawal letter, anonymised in the mailbox instead of deleted."""
    count = 0
    for doc in case.documents:
        if doc.destroyed_at is not None:
            continue
        if doc.vault_path:
            box.destroy(doc.vault_path)
        doc.destroyed_at = at
        cases.audit(session, case, "destroyed", at=at, document=doc, actor=actor, reason=reason,
                    detail=f"{doc.kind}, {doc.size} bytes")
        count += 1
    shred_handoff_blobs(session, settings, at, case.id)
    # every copy of its letters and Sent copies of its answers leave the mailbox too
    record_removals(session, case, at, keep=keep)
    for consent in session.scalars(select(ConsentRecord).where(ConsentRecord.case_id == case.id)):
        consent.destroyed_at = consent.destroyed_at or at
    case.destroyed_at = at
    case.card_number_enc = ""
    forget_reader(session, settings, case)
    log.info("registration case %s: %d documents destroyed", case.token, count,
             extra=about(case=case.token))
    return count


def shred_handoff_blobs(session: Session, settings, now: datetime,
                        case_id: int | None = None) -> int:
    """Shred the attachment blobs of hand-offs the sender has finished with.

    The outbox keeps attachments as files named by their hash (``outbound.blobs``) so that a
    retry after a crash can send them again; for a hand-off that is the documents in clear, so
    they are overwritten and removed as soon as the message is sent (or has failed for good,
    and a librarian re-sends the case instead)."""
    from mailproc.outbound.blobs import BlobStore
    from mailproc.outbound.models import OutboxMessage
    from mailproc.registrations.handoff import HANDOFF_TEMPLATE

    store = BlobStore.from_settings(settings)
    query = select(OutboxMessage).where(
        OutboxMessage.template == HANDOFF_TEMPLATE, OutboxMessage.related_type == "registration",
        OutboxMessage.state.in_(("sent", "failed")))
    if case_id is not None:
        query = query.where(OutboxMessage.related_id == case_id)
    shredded = 0
    for row in session.scalars(query):
        paths = [p for p in (store.path(a.sha256) for a in row.attachments) if p.is_file()]
        for path in paths:
            shred(path)
        if paths:
            case = session.get(RegistrationCase, row.related_id)
            cases.audit(session, case, "outbox-copy-destroyed", at=now,
                        detail=f"outbox {row.id}: {len(paths)} files",
                        reason="передача в ЦКО завершена; копия документов в очереди не нужна")
            log.info("registration case %s: outbox %s's copy of %d documents shredded",
                     case.token, row.id, len(paths), extra=about(case=case.token, outbox=row.id))
            shredded += len(paths)
    return shredded


def purge_due(app, now: datetime | None = None) -> dict:
    """The daily job: destroy the documents of every case whose retention time has passed
    (after the hand-off, or since the last mail of a case never completed), and any outbox
    copy of a finished hand-off still on disk."""
    now = now or utcnow()
    done = 0
    # the key is opened only when there is something to destroy: an installation that has
    # no registration documents (and no key) has a retention job that succeeds
    box = None
    with app.db.transaction() as s:
        shred_handoff_blobs(s, app.settings, now)
        scrub_outbox(s, app.settings)
        due = s.scalars(select(RegistrationCase).where(
            RegistrationCase.purge_after.is_not(None), RegistrationCase.purge_after <= now,
            RegistrationCase.destroyed_at.is_(None)))
        for case in due:
            box = vault(app.settings) if box is None else box
            destroy_documents(s, app.settings, box, case, at=now, reason=RETENTION_REASON)
            done += 1
        stale = s.scalars(select(RegistrationCase).where(
            RegistrationCase.state.in_(("incomplete", "complete")),
            RegistrationCase.updated_at <= now - timedelta(
                seconds=app.settings.registrations.incomplete_retention)))
        for case in stale:
            box = vault(app.settings) if box is None else box
            cases.set_state(s, case, "rejected", at=now, reason=STALE_REASON)
            destroy_documents(s, app.settings, box, case, at=now, reason=STALE_REASON)
            done += 1
    take_wal_dirty()
    app.db.forget_freed()  # daily: whatever a withdrawal blanked since leaves the WAL too
    return {"cases": done}


def withdraw(ctx) -> dict:
    """A reader withdraws the consent: destroy the documents, record it, tell a librarian."""
    session, letter, now = ctx.session, ctx.letter, ctx.now
    found = list(session.scalars(select(RegistrationCase).where(
        RegistrationCase.reader_email.in_(address_keys(ctx.settings, letter.sender.email)),
        RegistrationCase.state != "withdrawn")))
    box = vault(ctx.settings) if found else None
    message = getattr(ctx, "message", None)
    if message is not None:
        session.flush()
    message_pk = message.id if message is not None else None
    for case in found:
        cases.link_message(session, case, message)  # the withdrawal letter is forgotten too
        for consent in session.scalars(select(ConsentRecord).where(
                ConsentRecord.case_id == case.id, ConsentRecord.withdrawn_at.is_(None))):
            consent.withdrawn_at = now
            consent.withdrawal_message_pk = message_pk
        cases.audit(session, case, "consent-withdrawn", at=now, actor="reader",
                    reason=WITHDRAWAL_REASON)  # the audit outlives the address: no name in it
        destroy_documents(session, ctx.settings, box, case, at=now, reason=WITHDRAWAL_REASON,
                          keep=message_pk)
        cases.set_state(session, case, "withdrawn", at=now, reason=WITHDRAWAL_REASON)
    outbox(ctx, to=ctx.settings.mail.librarians_address,
           template="librarians/registration_withdrawal",
           # not the letter's subject: it may name the reader, and this notice's Sent copy
           # stays in the mailbox
           context={"cases": [c.token for c in found], "reader_email": letter.sender.email},
           kind="notice", auto_submitted="auto-generated",
           related=("registration", found[0].id) if found else None,  # blanked once sent
           dedupe_key=f"registration-withdrawal-{letter.content_hash[:24]}")
    return {"registrations": [c.token for c in found], "state": "withdrawn"}


def export_case(app, token: str, to_dir: Path, *, actor: str, reason: str,
                now: datetime | None = None) -> list[Path] | str:
    """Decrypt a case's documents into ``to_dir`` for a librarian who must look (audited).
    Returns the files written, or a Russian sentence saying why there are none."""
    now = now or utcnow()
    with app.db.transaction() as s:
        case = cases.by_token(s, token)
        if case is None:
            return f"дело {token} не найдено"
        if case.destroyed_at is not None:
            cases.audit(s, case, "export-refused", at=now, actor=actor, reason=reason,
                        detail="documents destroyed")
            return f"документы дела {token} уничтожены " \
                   f"{local_time(case.destroyed_at, app.settings.tz)}"
        box = vault(app.settings)
        private_dir(to_dir)
        written = []
        for doc in case.documents:
            if doc.destroyed_at is not None or not doc.vault_path:
                continue
            # rebuilt like every name leaving mailproc: no path part, the type's extension
            path = to_dir / safe_name(f"{token}-{doc.id:06d}-{doc.kind.replace(',', '+')}",
                                      doc.content_type)
            write_private(path, box.get(doc.vault_path))  # 0600: clear documents
            cases.audit(s, case, "exported", at=now, document=doc, actor=actor, reason=reason,
                        detail=f"to {to_dir}")
            written.append(path)
        return written


def set_document_kind(app, token: str, doc_id: int, kind: str, *, actor: str,
                      now: datetime | None = None) -> dict:
    """The librarian corrects a recognised kind; the case's completeness follows."""
    now = now or utcnow()
    with app.db.transaction() as s:
        case = cases.by_token(s, token)
        doc = next((d for d in case.documents if d.id == doc_id), None) if case else None
        if doc is None:
            raise LookupError(f"в деле {token} нет документа {doc_id}")
        cases.audit(s, case, "kind-corrected", at=now, document=doc, actor=actor,
                    detail=f"{doc.kind} -> {kind}", reason="исправлено библиотекарем")
        doc.kind, doc.kind_how = kind, "librarian"
        if "consent" in kinds_of(kind) and doc.readable:
            cases.record_consent(s, app.settings, case, doc)
        if case.state in ("incomplete", "complete"):
            missing = cases.missing_kinds(case, cases.required_kinds(app.settings))
            cases.set_state(s, case, "incomplete" if missing else "complete", at=now,
                            actor=actor, reason="после исправления вида документа")
            if not missing:
                from mailproc.registrations.handoff import hand_off

                hand_off(ServiceContext(s, app.settings, now), case)
        return {"registration": token, "document": doc_id, "kind": kind, "state": case.state}


def close_case(app, token: str, state: str, *, actor: str, reason: str,
               now: datetime | None = None) -> dict:
    """A librarian closes a case: ``rejected`` (ЦКО or the librarian refused it; documents kept
    for the retention time, then destroyed) or ``withdrawn`` (destroyed now)."""
    now = now or utcnow()
    with app.db.transaction() as s:
        case = cases.by_token(s, token)
        if case is None:
            raise LookupError(f"дело {token} не найдено")
        cases.set_state(s, case, state, at=now, actor=actor, reason=reason)
        if state == "withdrawn":
            for consent in s.scalars(select(ConsentRecord).where(
                    ConsentRecord.case_id == case.id, ConsentRecord.withdrawn_at.is_(None))):
                consent.withdrawn_at = now
            destroy_documents(s, app.settings, vault(app.settings), case, at=now,
                              reason=reason or WITHDRAWAL_REASON, actor=actor)
        elif case.purge_after is None:
            case.purge_after = now + timedelta(seconds=app.settings.registrations.retention)
        result = {"registration": token, "state": case.state,
                  "purge_after": local_time(case.purge_after, app.settings.tz)}
    if state == "withdrawn":
        app.db.forget_freed()
    return result
