"""Readers' registration documents out of the shared mailbox.

Two mailbox steps, each recorded in the database BEFORE the mailbox is touched and carried
out after that commit, by the registrations tidy (after every intake pass, in the mailbox's
own worker, mailproc.jobs.after_outbox) and by ``mailproc registrations purge``:

**Redact** (recorded by ``take-registration-documents`` in the message's own transaction,
with the documents it sealed): the original letter is replaced in its folder by a stub
(mailproc.registrations.stub): fetch it (BODY.PEEK, its flags and INTERNALDATE), APPEND the
stub with the same flags and date (RFC 3501 6.3.11), then remove the original by UID EXPUNGE
of its UID alone (RFC 4315 2.1; never a bare EXPUNGE, which would take every message a
librarian marked \\Deleted). Exactly once under kills: before appending, the folder is
searched for the stub's marker (``X-Mailproc-Redacted``), so a kill between APPEND and UID
EXPUNGE leaves, after the next pass, one stub and no original; nothing is lost because the
vault has held the documents since the commit. Without UIDPLUS ``registrations.
without_uidplus`` decides: ``leave`` (the original stays, no stub; a warning once per process
and a count in ``mailproc status``) or ``move`` (the stub, and the original MOVEd, RFC 6851, to
``registrations.restricted_folder``).

**Remove** (recorded by ``destroy_documents``: consent withdrawal, a case closed as withdrawn,
the retention purge): every copy of each letter of the case, stubs included, in every folder
(a librarian may have dragged one anywhere) is found by Message-ID, by the stub's
``X-Mailproc-Original-Message-ID`` and by the stub markers, and deleted by UID EXPUNGE per
folder. A copy found by Message-ID must also come from the letter's sender (``sender_hash``):
a reader cannot make mailproc delete somebody else's letter by reusing its Message-ID.

Removal covers every letter linked to the case (``registration_messages``: the reader's
letters, ЦКО's answer with the card number, which names the reader and quotes the hand-off)
and the Sent copies of the case's outbox rows (found by their Message-ID and our From
address). The one exception is the letter that withdrew the consent: it waits in the review
folder for a librarian's answer, so it is **anonymised** instead (kind ``anonymise``, carried
out like a redaction but with ``stub.build_anonymised``: addresses and thread identifiers
only, no name, text or file).

A letter left in the intake folder by a rule without ``move-to-folder`` gets its stub there
too, and the stub is recorded as a processed message (linked to the case, so destroying the
case blanks its row too) so the intake does not take it for new mail.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import os
import re
import secrets
import time
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from mailproc.logs import about
from mailproc.registrations import cases
from mailproc.registrations.mailbox_models import OPEN_STEP_STATES, MailboxRedaction
from mailproc.registrations.models import (
    RegistrationCase,
    RegistrationDocument,
    RegistrationMessage,
)
from mailproc.registrations.stub import (
    MARKER_HEADER,
    ORIGINAL_ID_HEADER,
    build_anonymised,
    build_stub,
    document_line,
)
from mailproc.store.base import utcnow
from mailproc.store.models import Message

log = logging.getLogger("mailproc.registrations")

#: test-only: ``POINT:FILE`` makes a process that reaches POINT ("after-append",
#: "after-expunge") write FILE and wait there to be killed (the kill drill); never set in use
DRILL_PAUSE_ENV = "MAILPROC_DRILL_REDACTION_PAUSE"

REDACTED_REASON = ("оригинал письма заменён в общем ящике копией без документов; документы — "
                   "в защищённом хранилище")
ANONYMISED_REASON = ("письмо об отзыве согласия заменено в общем ящике копией без текста, "
                     "имени и вложений: данные читателя уничтожены")
REMOVED_REASON = "документы уничтожены: все копии письма удалены из общего ящика"
NO_UIDPLUS = ("IMAP server has no UIDPLUS (RFC 4315): originals with registration documents "
              "are left in the shared mailbox (registrations.without_uidplus = leave)")

_MSGID = re.compile(r"<[^<>\s]+>")
#: flags a copy does not inherit
_NOT_COPIED = {"\\recent", "\\deleted"}
#: sources already warned about UIDPLUS in this process
_warned: set[str] = set()


def sender_hash(address: str) -> str:
    return hashlib.sha256((address or "").strip().lower().encode("utf-8")).hexdigest() \
        if address else ""


def _marker() -> str:
    return secrets.token_hex(10)


def _own_id(message_id: str) -> str:
    """The letter's Message-ID as it stands in its header; "" for one it had not (the
    decoder then makes one up, which no copy in the mailbox carries)."""
    found = _MSGID.search(message_id or "")
    if not found or found.group(0).endswith("@mailproc.invalid>"):
        return ""
    return found.group(0)[:998]


# ---------------------------------------------------------------------------------------------
# Recording (inside a transaction; never touches the mailbox)


def record_redaction(session: Session, settings, case: RegistrationCase, message, letter,
                     now: datetime) -> MailboxRedaction | None:
    """Ask for ``message`` to be replaced by its stub once this transaction commits."""
    if not settings.registrations.remove_original or message is None:
        return None
    if message.id is None:
        session.flush()
    step = session.scalar(select(MailboxRedaction).where(
        MailboxRedaction.message_pk == message.id, MailboxRedaction.kind == "redact"))
    if step is not None:
        return step
    step = MailboxRedaction(
        kind="redact", case_id=case.id, message_pk=message.id, mailbox=message.mailbox or "",
        message_id=_own_id(letter.message_id), marker=_marker(),
        sender_hash=sender_hash(letter.sender.email), state="pending", folder="", stub_uid="",
        detail="", created_at=now, updated_at=now)
    session.add(step)
    return step


def record_removals(session: Session, case: RegistrationCase, now: datetime, *,
                    keep: int | None = None) -> int:
    """Ask for every letter of ``case`` (and its stub) and every Sent copy of its outbox rows
    to be deleted from every folder once this transaction commits; a redaction not finished
    yet is cancelled (nothing of the letter will stay). ``keep``: the message row of the
    letter that withdrew the consent, anonymised instead of deleted. Returns the steps
    recorded."""
    steps = list(session.scalars(select(MailboxRedaction).where(
        MailboxRedaction.case_id == case.id)))
    for step in steps:
        if step.kind == "redact" and step.state in OPEN_STEP_STATES:
            step.state, step.updated_at = "cancelled", now
            step.detail = "письмо удаляется из ящика целиком"
    redacted = {s.message_pk for s in steps if s.message_pk}
    letters = {d.message_pk for d in case.documents if d.message_pk} | redacted
    letters |= set(session.scalars(select(RegistrationMessage.message_pk).where(
        RegistrationMessage.case_id == case.id)))
    session.flush()
    asked = set(session.scalars(select(MailboxRedaction.message_pk).where(  # by any case
        MailboxRedaction.message_pk.in_(letters),
        MailboxRedaction.kind.in_(("remove", "anonymise")))))
    hashes = {s.message_pk: s.sender_hash for s in steps if s.sender_hash}
    added, mailboxes = 0, []
    for pk in sorted(letters - asked):
        row = session.get(Message, pk)
        if row is None:
            continue
        mailboxes.append(row.mailbox or "")
        if pk != keep and not _own_id(row.message_id) and pk not in redacted:
            continue  # a stub's own row: its stub is found by the marker of its letter
        session.add(MailboxRedaction(
            kind="anonymise" if pk == keep else "remove", case_id=case.id, message_pk=pk,
            mailbox=row.mailbox or "", message_id=_own_id(row.message_id), marker=_marker(),
            sender_hash=hashes.get(pk) or sender_hash(row.from_addr), state="pending",
            folder="", stub_uid="", detail="", created_at=now, updated_at=now))
        added += 1
    if mailboxes:
        added += _record_sent_removals(session, case, mailboxes[0], now)
    return added


def _record_sent_removals(session: Session, case: RegistrationCase, mailbox: str,
                          now: datetime) -> int:
    """A removal for the Sent copy of each outbox row of the case sent or being sent (answers
    to the reader name her; the hand-off made none, a removal finding nothing costs one
    search per folder)."""
    from mailproc.outbound.models import OutboxMessage

    known = set(session.scalars(select(MailboxRedaction.message_id).where(
        MailboxRedaction.case_id == case.id, MailboxRedaction.message_pk.is_(None))))
    added = 0
    for message_id, sender in session.execute(select(
            OutboxMessage.message_id, OutboxMessage.sender).where(
            OutboxMessage.related_type == "registration", OutboxMessage.related_id == case.id,
            # rows still waiting are cancelled with the case and never copied
            OutboxMessage.state.in_(("sent", "sending"))).order_by(OutboxMessage.id)).all():
        own = _own_id(message_id)
        if not own or own in known:
            continue
        known.add(own)
        session.add(MailboxRedaction(
            kind="remove", case_id=case.id, message_pk=None, mailbox=mailbox,
            message_id=own, marker=_marker(), sender_hash=sender_hash(sender),
            state="pending", folder="", stub_uid="", detail="", created_at=now,
            updated_at=now))
        added += 1
    return added


def backfill(app, now: datetime) -> int:
    """Letters with documents from before redaction existed: a redaction for a case still
    held, a removal for a destroyed one."""
    with app.db.transaction() as s:
        todo = s.execute(
            select(RegistrationDocument.message_pk, RegistrationDocument.case_id)
            .where(RegistrationDocument.message_pk.is_not(None),
                   ~exists().where(MailboxRedaction.message_pk
                                   == RegistrationDocument.message_pk))
            .distinct()).all()
        added = 0
        for pk, case_id in todo:
            case, row = s.get(RegistrationCase, case_id), s.get(Message, pk)
            if case is None or row is None:
                continue
            if case.destroyed_at is not None:
                added += record_removals(s, case, now)
            elif app.settings.registrations.remove_original:
                letter = _Sender(row.message_id or "", row.from_addr or "")
                added += record_redaction(s, app.settings, case, row, letter, now) is not None
            s.flush()
        return added


class _Sender:
    """What ``record_redaction`` reads of a letter, from a message row."""

    def __init__(self, message_id: str, address: str):
        self.message_id = message_id
        self.sender = type("S", (), {"email": address})()


# ---------------------------------------------------------------------------------------------
# Carrying out (after the commit, with the mailbox)


def run_steps(app, source, now: datetime | None = None) -> dict:
    """The redactions and removals waiting for ``source``'s mailbox (the worker that holds
    the mailbox: a redaction must not run in two processes at once)."""
    now = now or utcnow()
    backfill(app, now)
    return {"redacted": redact_pending(app, source, now),
            "removed": remove_pending(app, source, now),
            "anonymised": redact_pending(app, source, now, kind="anonymise")}


def run_removals(app, source, now: datetime | None = None) -> dict:
    """Only the removals (``mailproc registrations purge``, which may run beside the daemon:
    deleting a copy twice is harmless, appending a stub twice would not be)."""
    return {"removed": remove_pending(app, source, now or utcnow())}


def _open_steps(app, source, kind: str, states: tuple[str, ...]) -> list[int]:
    with app.db.session() as s:
        return list(s.scalars(select(MailboxRedaction.id).where(
            MailboxRedaction.kind == kind, MailboxRedaction.state.in_(states),
            MailboxRedaction.mailbox == source.name).order_by(MailboxRedaction.id)))


def _can_delete(app, source) -> bool:
    """Whether one message can be deleted alone; warns once per process when not."""
    if source.can_expunge_one:
        return True
    if source.name not in _warned:
        _warned.add(source.name)
        log.warning(NO_UIDPLUS)
    return False


def _set(app, step_id: int, **values) -> None:
    with app.db.transaction() as s:
        step = s.get(MailboxRedaction, step_id)
        for name, value in values.items():
            setattr(step, name, value)
        step.updated_at = utcnow()


def redact_pending(app, source, now: datetime, kind: str = "redact") -> int:
    """Replace each original waiting in this mailbox by its stub (``kind`` "anonymise": by
    its anonymised copy); returns how many."""
    done = 0
    for step_id in _open_steps(app, source, kind, OPEN_STEP_STATES):
        plan = _redaction_plan(app, step_id, source)
        if plan is None:
            continue
        if _redact(app, source, plan, now):
            done += 1
    return done


def _redaction_plan(app, step_id: int, source) -> dict | None:
    with app.db.session() as s:
        step = s.get(MailboxRedaction, step_id)
        row = s.get(Message, step.message_pk) if step.message_pk else None
        case = s.get(RegistrationCase, step.case_id)
        anonymise = step.kind == "anonymise"
        if row is None or case is None or (case.destroyed_at is not None and not anonymise):
            cancel = True
        else:
            cancel = False
            if row.state not in ("done", "review"):
                return None  # not filed yet: the pass after the filing takes it
        if not cancel:
            intake = getattr(source, "folder", "INBOX")
            return {
                "id": step.id, "marker": step.marker, "token": case.token,
                "case_id": case.id, "anonymise": anonymise,
                "message_id": step.message_id, "sender_hash": step.sender_hash,
                "state": step.state, "row_id": row.id,
                "folder": step.folder or row.folder or intake,
                "uid": row.folder_uid if row.folder else row.uid, "intake": intake,
                "lines": {d.sha256: document_line(case.token, d.kind, d.pages)
                          for d in case.documents},
                "expected": {d.sha256 for d in case.documents if d.message_pk == row.id},
            }
    _set(app, step_id, state="cancelled", detail="письмо или дело больше не хранится")
    return None


def _redact(app, source, plan: dict, now: datetime) -> bool:
    policy = app.settings.registrations.without_uidplus
    if not _can_delete(app, source) and (policy == "leave" or not source.can_move):
        if plan["state"] != "left":
            _set(app, plan["id"], state="left", detail=NO_UIDPLUS)
        return False
    found = _locate_original(source, plan)
    folder = found[0] if found else plan["folder"]
    stubs = source.find_header(folder, MARKER_HEADER, plan["marker"])
    if found is None:
        # gone: expunged by an interrupted run after its APPEND (a stub is there), or
        # deleted by a librarian; either way nothing of it is left to redact
        _finish(app, plan, folder, stubs[0] if stubs else "", now,
                "" if stubs else "оригинал уже удалён из ящика")
        return bool(stubs)
    _folder, uid, (raw, flags, when) = found
    if stubs:
        stub_uid = stubs[0]
    else:
        stub = build_anonymised(raw, token=plan["token"], marker=plan["marker"]) \
            if plan["anonymise"] else build_stub(raw, token=plan["token"], marker=plan["marker"],
                                                 lines=plan["lines"], expected=plan["expected"])
        keep = [f for f in flags if f.lower() not in _NOT_COPIED]
        stub_uid = source.append(folder, stub, keep, when=when)
        if not stub_uid:  # no APPENDUID (a server without UIDPLUS): find it by its marker
            stub_uid = next(iter(source.find_header(folder, MARKER_HEADER, plan["marker"])), "")
        _set(app, plan["id"], state="appended", folder=folder, stub_uid=stub_uid or "")
        if folder == plan["intake"] and stub_uid:
            _record_stub_as_processed(app, source, plan, stub_uid)
    _drill_pause("after-append")
    if source.can_expunge_one:
        source.expunge_one(folder, [uid])
        how = ""
    else:
        restricted = app.settings.registrations.restricted_folder
        source.move(uid, restricted, from_folder=folder)
        how = f"оригинал перенесён в «{restricted}» (сервер без UIDPLUS)"
    _drill_pause("after-expunge")
    _finish(app, plan, folder, stub_uid, now, how)
    return True


def _locate_original(source, plan: dict):
    """(folder, uid, (raw, flags, date)) of the original: at its UID, else by Message-ID in
    its folder, then in every folder (a librarian may have moved it); None when gone."""
    if plan["uid"]:
        got = source.fetch_message(plan["uid"], plan["folder"])
        if got is not None and _is_original(got[0], plan):
            return plan["folder"], plan["uid"], got
    if not plan["message_id"]:
        return None
    folders = [plan["folder"]] + [f for f in source.folder_names() if f != plan["folder"]]
    for folder in folders:
        for uid in source.find_header(folder, "Message-ID", plan["message_id"]):
            got = source.fetch_message(uid, folder)
            if got is not None and _is_original(got[0], plan):
                return folder, uid, got
    return None


def _header(raw: bytes):
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    block = raw if end < 0 else raw[:end + 2]
    return email.message_from_bytes(block, policy=email.policy.compat32)


def _from_hash(header) -> str:
    pairs = getaddresses([str(v) for v in header.get_all("From", [])])
    return sender_hash(pairs[0][1]) if pairs and pairs[0][1] else ""


def _is_original(raw: bytes, plan: dict) -> bool:
    """The letter itself (not a stub, same Message-ID, same sender)."""
    header = _header(raw)
    if header.get(MARKER_HEADER):
        return False
    if plan["message_id"] and _own_id(header.get("Message-ID") or "") != plan["message_id"]:
        return False
    return not plan["sender_hash"] or _from_hash(header) == plan["sender_hash"]


def _record_stub_as_processed(app, source, plan: dict, stub_uid: str) -> None:
    """A stub appended to the intake folder is not new mail: a row says it was handled. The
    row copies the letter's sender and (sealed) subject, so it belongs to the case: destroying
    the case blanks it with the letter's own row (mailproc.registrations.forget)."""
    with app.db.transaction() as s:
        _stub_row(s, s.get(Message, plan["row_id"]), plan["marker"], source.uidvalidity,
                  stub_uid, plan["case_id"])


def record_stub(session: Session, marker_header: str, mailbox: str, uidvalidity: int,
                uid: str) -> bool:
    """The intake found a message with the stub marker (``TOKEN MARKER``) at an unknown UID
    of ``mailbox``: when the marker is one of our redaction steps, the process died between
    the stub's APPEND and its row (``_record_stub_as_processed``); record it as handled now
    and return True. A marker nobody recorded (a sender's own header) is not ours: False,
    the letter is processed like any other."""
    marker = (marker_header.split() or [""])[-1]
    step = session.scalar(select(MailboxRedaction).where(MailboxRedaction.marker == marker)) \
        if marker else None
    row = session.get(Message, step.message_pk) if step is not None and step.message_pk \
        else None
    if row is None or row.mailbox != mailbox:
        return False
    _stub_row(session, row, marker, uidvalidity, uid, step.case_id)
    return True


def _stub_row(session: Session, row: Message, marker: str, uidvalidity: int, uid: str,
              case_id: int) -> None:
    """The stub's own row, linked to the case so that forgetting the case blanks it too."""
    stub_row = Message(mailbox=row.mailbox, uidvalidity=uidvalidity, uid=uid,
                       content_hash=hashlib.sha256(marker.encode()).hexdigest(),
                       message_id="", from_addr=row.from_addr, subject=row.subject,
                       category=row.category, rule=row.rule, state="done",
                       reason="копия письма без документов (registrations.remove_original)",
                       keywords=list(row.keywords or []))
    session.add(stub_row)
    session.flush()
    session.add(RegistrationMessage(case_id=case_id, message_pk=stub_row.id))


def _finish(app, plan: dict, folder: str, stub_uid: str, now: datetime, note: str) -> None:
    with app.db.transaction() as s:
        step = s.get(MailboxRedaction, plan["id"])
        step.state, step.folder, step.stub_uid = "done", folder, stub_uid or ""
        step.detail, step.updated_at = note, now
        row = s.get(Message, plan["row_id"])
        if row is not None and stub_uid:
            if row.folder:
                row.folder = folder
            row.folder_uid = stub_uid
        for doc in s.scalars(select(RegistrationDocument).where(
                RegistrationDocument.message_pk == plan["row_id"])):
            doc.original_removed_at = doc.original_removed_at or now
        case = s.get(RegistrationCase, s.get(MailboxRedaction, plan["id"]).case_id)
        cases.audit(s, case, "original-anonymised" if plan["anonymise"] else
                    "original-redacted", at=now,
                    detail=f"message {plan['row_id']}: stub {stub_uid or '-'} in {folder}"
                           + (f"; {note}" if note else ""),
                    reason=ANONYMISED_REASON if plan["anonymise"] else REDACTED_REASON)
    log.info("registration case %s: message %s replaced by a copy %s", plan["token"],
             plan["row_id"], "without the reader's text" if plan["anonymise"]
             else "without documents",
             extra=about(case=plan["token"], message_pk=plan["row_id"]))


def remove_pending(app, source, now: datetime) -> int:
    """Delete every copy of each letter whose case was destroyed; returns copies deleted."""
    ids = _open_steps(app, source, "remove", ("pending", "left"))
    if not ids:
        return 0
    if not _can_delete(app, source):
        with app.db.transaction() as s:
            for step in s.scalars(select(MailboxRedaction).where(
                    MailboxRedaction.id.in_(ids), MailboxRedaction.state == "pending")):
                step.state, step.detail, step.updated_at = "left", NO_UIDPLUS, now
        return 0
    folders = source.folder_names()
    removed = 0
    for step_id in ids:
        with app.db.session() as s:
            step = s.get(MailboxRedaction, step_id)
            markers = set(s.scalars(select(MailboxRedaction.marker).where(
                MailboxRedaction.message_pk == step.message_pk,
                MailboxRedaction.kind == "redact"))) if step.message_pk else set()
            plan = {"message_id": step.message_id, "sender_hash": step.sender_hash,
                    "markers": markers, "case_id": step.case_id}
        count = sum(_remove_in(source, folder, plan) for folder in folders)
        with app.db.transaction() as s:
            step = s.get(MailboxRedaction, step_id)
            step.state, step.detail, step.updated_at = "done", f"{count} copies deleted", now
            case = s.get(RegistrationCase, plan["case_id"])
            cases.audit(s, case, "mailbox-copies-removed",
                        at=now, detail=f"message {step.message_pk}: {count} copies",
                        reason=REMOVED_REASON)
            token = case.token
        log.info("registration case %s: %d copies of message %s deleted from the mailbox",
                 token, count, step.message_pk, extra=about(case=token, message_pk=step.message_pk))
        removed += count
    return removed


def _remove_in(source, folder: str, plan: dict) -> int:
    uids: set[str] = set()
    if plan["message_id"]:
        uids.update(source.find_header(folder, "Message-ID", plan["message_id"]))
        uids.update(source.find_header(folder, ORIGINAL_ID_HEADER, plan["message_id"]))
    for marker in plan["markers"]:
        uids.update(source.find_header(folder, MARKER_HEADER, marker))
    if not uids:
        return 0
    copies = [uid for uid, block in source.fetch_headers(folder, sorted(uids)).items()
              if _is_copy(_header(block), plan)]
    source.expunge_one(folder, copies)
    return len(copies)


def _is_copy(header, plan: dict) -> bool:
    """The letter or its stub: our marker, or its Message-ID from its sender."""
    marker = (header.get(MARKER_HEADER) or "").split()
    if marker and marker[-1] in plan["markers"]:
        return True
    ids = {_own_id(header.get("Message-ID") or ""),
           _own_id(header.get(ORIGINAL_ID_HEADER) or "")}
    return (bool(plan["message_id"]) and plan["message_id"] in ids
            and (not plan["sender_hash"] or _from_hash(header) == plan["sender_hash"]))


def left_in_clear(session: Session) -> int:
    """Letters with documents still in the mailbox because the server has no UIDPLUS."""
    return session.scalar(select(func.count()).select_from(MailboxRedaction).where(
        MailboxRedaction.state == "left")) or 0


def _drill_pause(point: str) -> None:
    value = os.environ.get(DRILL_PAUSE_ENV, "")
    want, _, path = value.partition(":")
    if not value or want != point:
        return
    Path(path).write_text(str(os.getpid()), encoding="ascii")
    while True:  # until the drill kills this process
        time.sleep(1)
