"""What destroying a case's data leaves of the reader: ids, dates, kinds and the audit trail.

Called with the documents' destruction (retention, withdrawal, a librarian closing the case),
in the same transaction:

* the case's sealed name and the documents' sealed file names are blanked; the reader's
  address becomes its keyed fingerprint (``sealed.fingerprint``), here and in the consent
  register, so a later withdrawal from that address still finds the case;
* every message row the case's mail left (``registration_messages``, the documents' and the
  withdrawal's rows) loses its subject and letter, its sender's address if it was the
  reader's, and its spool copy (shredded);
* the case's outbox rows (answers to the reader, the hand-off to ЦКО, the withdrawal notice)
  lose subject, texts, template context, thread subject and the reader's address (also as
  the ``cause`` the response limit counts by) once the
  sender is done with them; rows still waiting are cancelled first (the data they carry is
  being destroyed). A row being sent right now is blanked by the next ``scrub_outbox``.

Rows of a living case lose their texts (not their addresses) as soon as they are sent and
copied to Sent: the Sent copy in the mailbox is the librarians' record of what was said.

Blanked values are rewritten in place; SQLite's ``secure_delete`` zeroes the old bytes and
``Database.forget_freed`` (run by the callers after the commit) clears the WAL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailproc.logs import redact
from mailproc.registrations.models import (
    ConsentRecord,
    RegistrationCase,
    RegistrationDocument,
    RegistrationMessage,
)
from mailproc.registrations.sealed import FINGERPRINT, fingerprint
from mailproc.registrations.vault import shred
from mailproc.store.models import Message

log = logging.getLogger("mailproc.registrations")

#: set when a case was forgotten inside another transaction (a withdrawal letter in the
#: intake): the next ``tidy`` clears the WAL (``Database.forget_freed``) even if nothing is
#: left to blank; the daily purge does it anyway
_wal_dirty = False

#: outbox states the sender is done with (``sending`` is not: it may be on the wire now)
FINISHED = ("sent", "failed", "suppressed")
WAITING = ("queued", "error")
CANCELLED = "отменено: данные читателя уничтожены (срок хранения или отзыв согласия)"


def forget_reader(session: Session, settings, case: RegistrationCase) -> None:
    """Blank everything of the reader the case and its mail left in the database."""
    address = case.reader_email or ""
    hashed = address if address.startswith(FINGERPRINT) or not address \
        else fingerprint(settings, address)
    case.reader_name = ""
    case.reader_email = hashed
    for doc in case.documents:
        doc.name = ""
    for consent in session.scalars(select(ConsentRecord).where(
            ConsentRecord.case_id == case.id)):
        consent.reader_email = hashed if consent.reader_email else ""
    for row in session.scalars(select(Message).where(Message.id.in_(
            _message_pks(session, case.id)))):
        blank_message(row, address, hashed)
    scrub_outbox(session, settings, case_id=case.id, cancel=True)
    global _wal_dirty
    _wal_dirty = True


def take_wal_dirty() -> bool:
    """Whether a case was forgotten since the last call (and reset)."""
    global _wal_dirty
    dirty, _wal_dirty = _wal_dirty, False
    return dirty


def _message_pks(session: Session, case_id: int) -> set[int]:
    pks = set(session.scalars(select(RegistrationMessage.message_pk).where(
        RegistrationMessage.case_id == case_id)))
    pks |= set(session.scalars(select(RegistrationDocument.message_pk).where(
        RegistrationDocument.case_id == case_id, RegistrationDocument.message_pk.is_not(None))))
    pks |= set(session.scalars(select(ConsentRecord.withdrawal_message_pk).where(
        ConsentRecord.case_id == case_id, ConsentRecord.withdrawal_message_pk.is_not(None))))
    return pks


def blank_message(row: Message, address: str, hashed: str) -> None:
    row.subject = ""
    row.letter = {}
    if address and row.from_addr.lower() == address.lower():
        row.from_addr = hashed
    if row.spool_path:
        path = Path(row.spool_path)
        if path.is_file():
            shred(path)
        row.spool_path = ""


def scrub_outbox(session: Session, settings, *, case_id: int | None = None,
                 cancel: bool = False) -> int:
    """Blank the texts of registration outbox rows the sender is done with; returns the rows
    blanked. A row of a living case counts as done once sent and copied to Sent (its
    addresses stay: a bounce is matched by them); a row of a case whose data was destroyed
    once finished in any way, and it also loses the addresses (a Sent copy not yet made is
    given up: it would carry the data). ``cancel`` (with ``case_id``, at destruction): the
    case's rows still waiting to be sent are cancelled first, and rows blanked before
    lose their addresses too."""
    from mailproc.outbound.models import OutboxMessage

    query = (select(OutboxMessage, RegistrationCase.destroyed_at)
             .join(RegistrationCase, RegistrationCase.id == OutboxMessage.related_id)
             .where(OutboxMessage.related_type == "registration"))
    if case_id is not None:
        query = query.where(OutboxMessage.related_id == case_id)
    else:
        query = query.where(or_(OutboxMessage.text != "", OutboxMessage.subject != "",
                                OutboxMessage.html != ""))
    blanked = 0
    for row, destroyed in session.execute(query).all():
        if destroyed is None:
            if row.state == "sent" and row.copied and (row.text or row.subject or row.html):
                _blank_outbox_row(settings, row, addresses=False)
                blanked += 1
            continue
        if cancel and row.state in WAITING:
            row.state, row.error = "failed", CANCELLED
            row.recipients = {a: {**r, "state": "failed"} if r.get("state") == "queued" else r
                              for a, r in row.recipients.items()}
        if row.state in FINISHED:
            row.copied = True
            _blank_outbox_row(settings, row, addresses=True)
            blanked += 1
    if blanked:
        log.info("registration outbox: %d rows blanked", blanked)
    return blanked


def _blank_outbox_row(settings, row, *, addresses: bool) -> None:
    def hashed(address: str) -> str:
        return address if address.startswith(FINGERPRINT) else fingerprint(settings, address)

    row.subject = row.text = row.html = ""
    row.context = {}
    headers = dict(row.headers or {})
    headers["thread_subject"] = ""
    if addresses:
        row.error = redact(row.error or "")
        row.recipients = {hashed(a): r for a, r in row.recipients.items()}
        # the reader whose letter caused it (responses_per_sender): a day's window, long past
        # by the purge; after a withdrawal the next letter counts afresh
        row.cause = hashed(row.cause) if row.cause else ""
        headers["to"] = [["", hashed(a)] for _n, a in headers.get("to", [])]
    row.headers = headers
