"""After the hand-off: the reader's originals out of the shared mailbox, and the outbox's
clear copy of the documents shredded once it has been sent.

Until the hand-off the librarians may need to look at the mail; after it the vault holds the
documents (encrypted) and ЦКО has them, so the originals, with the documents in clear, should
not sit in every librarian's mail client (``registrations.remove_original``).

A mailbox side effect, so it runs after the commit that handed the case over, never inside
it: ``remove_originals`` is called after an intake batch and by the daily job. A source with
``delete(uid, folder)`` (proposed for the IMAP source: UID STORE +FLAGS.SILENT (\\Deleted), then
UID EXPUNGE of that UID only, RFC 4315 2.1, never a plain EXPUNGE that would take other
people's deletions) deletes them; otherwise they are moved to ``registrations.
restricted_folder``, a folder the library restricts to the responsible librarian.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from mailproc.registrations import cases
from mailproc.registrations.models import RegistrationCase, RegistrationDocument
from mailproc.store.base import utcnow
from mailproc.store.models import Message

log = logging.getLogger("mailproc.registrations")

DONE_STATES = ("handed", "card_issued", "withdrawn")


def tidy(app, source=None, now: datetime | None = None) -> dict:
    """The one call after an intake batch and its outbox pass (and in the daily job)."""
    return {"originals": remove_originals(app, source, now) if source is not None else 0,
            "outbox_copies": shred_sent_handoffs(app, now)}


def shred_sent_handoffs(app, now: datetime | None = None) -> int:
    """Shred the outbox's clear copy of every hand-off the sender has finished with, and
    blank the sent rows of cases whose data was destroyed (``forget``), after which the
    database drops the old bytes."""
    from mailproc.registrations.forget import scrub_outbox, take_wal_dirty
    from mailproc.registrations.retention import shred_handoff_blobs

    with app.db.transaction() as s:
        shredded = shred_handoff_blobs(s, app.settings, now or utcnow())
        blanked = scrub_outbox(s, app.settings)
    if take_wal_dirty() | bool(blanked):  # both: the flag is reset either way
        app.db.forget_freed()
    return shredded


def remove_originals(app, source, now: datetime | None = None) -> int:
    """Delete (or move away) the originals of handed cases; returns the messages touched."""
    settings = app.settings
    if not settings.registrations.remove_original:
        return 0
    now = now or utcnow()
    with app.db.session() as s:
        pending = s.execute(
            select(RegistrationDocument.message_pk, RegistrationCase.id)
            .join(RegistrationCase, RegistrationDocument.case_id == RegistrationCase.id)
            .where(RegistrationCase.state.in_(DONE_STATES),
                   RegistrationDocument.original_removed_at.is_(None),
                   RegistrationDocument.message_pk.is_not(None))).all()
    by_message: dict[int, int] = {pk: case_id for pk, case_id in pending}
    touched = 0
    for message_pk, case_id in by_message.items():
        with app.db.session() as s:
            row = s.get(Message, message_pk)
            if row is None or row.state not in ("done", "review"):
                continue  # not filed yet: the next run takes it
            if row.mailbox != source.name:
                continue  # another mailbox's message: its own pass removes it
            uid, folder = row.folder_uid or row.uid, row.folder or "INBOX"
        how = _remove(source, uid, folder, settings.registrations.restricted_folder)
        with app.db.transaction() as s:
            case = s.get(RegistrationCase, case_id)
            docs = s.scalars(select(RegistrationDocument).where(
                RegistrationDocument.message_pk == message_pk))
            for doc in docs:
                doc.original_removed_at = now
            cases.audit(s, case, "original-removed", at=now, detail=f"message {message_pk}: {how}",
                        reason="документы переданы в ЦКО; оригинал убран из общего ящика")
            row = s.get(Message, message_pk)
            if how.startswith("moved"):
                row.folder = settings.registrations.restricted_folder
                row.folder_uid = how.partition(":")[2]
        log.info("registration case %s: original message %s %s", case_id, message_pk,
                 how.partition(":")[0])
        touched += 1
    return touched


def _remove(source, uid: str, folder: str, restricted: str) -> str:
    delete = getattr(source, "delete", None)
    if callable(delete):
        delete(uid, folder)
        return "deleted"
    new_uid = source.move(uid, restricted, from_folder=folder)
    return f"moved:{new_uid or ''}"
