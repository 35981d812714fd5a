"""Work done on a schedule rather than per letter: reminders to departments that are late, and
noticing answers librarians sent from their own client (copies in the Sent folder)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from mailproc.questions import cases as C
from mailproc.questions.models import QuestionCase, QuestionMessage
from mailproc.questions.routing import due_at
from mailproc.questions.service import REMINDER, case_json, librarian_answered

log = logging.getLogger("mailproc.questions")

OPEN_STATES = ("new", "drafted", "routed")


def deadline_of(settings, directory, case: QuestionCase) -> datetime | None:
    if case.routed_at is None:
        return None
    dept = directory.department(case.department) if directory is not None else None
    days = dept.deadline_days if dept is not None else 2
    return due_at(case.routed_at, days, settings.tz, settings.questions.department_deadline)


def is_overdue(settings, directory, case: QuestionCase, now: datetime) -> bool:
    due = deadline_of(settings, directory, case)
    return case.state == "routed" and due is not None and now >= due


def _directory(app):
    sorter = getattr(app, "sorter", None)
    ruleset = getattr(sorter, "ruleset", None) if sorter is not None else None
    if ruleset is not None and getattr(ruleset, "directory", None) is not None:
        return ruleset.directory
    from pathlib import Path

    from mailproc.sorting.directory import load_directory  # noqa: PLC0415

    return load_directory(Path(app.settings.paths.rules) / "departments.yaml")


def remind_due(app, now: datetime) -> int:
    """One reminder to the department for each routed case past its deadline; returns how
    many were queued. A reminded case that stays unanswered shows as overdue."""
    from mailproc.outbound.outbox import enqueue  # noqa: PLC0415
    from mailproc.tokens import Tokens  # noqa: PLC0415

    settings, directory = app.settings, _directory(app)
    tokens = Tokens.from_settings(settings)
    queued = 0
    with app.db.transaction() as s:
        routed = s.scalars(select(QuestionCase).where(QuestionCase.state == "routed",
                                                      QuestionCase.reminded_at.is_(None)))
        for case in routed:
            if not is_overdue(settings, directory, case, now):
                continue
            dept = directory.department(case.department) if directory is not None else None
            if dept is None or not dept.address:
                continue
            anchor_id = s.scalar(select(QuestionMessage.message_id).where(
                QuestionMessage.case_id == case.id, QuestionMessage.role == "to-department")
                .order_by(QuestionMessage.id).limit(1)) or ""
            from mailproc.questions.drafts import thread_anchor  # noqa: PLC0415

            anchor = thread_anchor(anchor_id, f"Вопрос читателя {tokens.subject_tag(case.token)}")
            row = enqueue(s, settings, to=dept.address, template=REMINDER,
                          context={"case": case_json(case), "department": dept.name,
                                   "question": case_json(case)["text"],
                                   "routed_at": case.routed_at},
                          kind="request", in_reply_to=anchor if anchor_id else None,
                          token=case.token, token_kind=C.KIND, related=("question", case.id),
                          dedupe_key=f"question-reminder:{case.id}")
            case.reminded_at = now
            if row is not None:
                C.remember(s, case, row.message_id, "reminder", settings.mail.from_address)
                queued += 1
    if queued:
        log.info("question reminders queued: %d", queued)
    return queued


def scan_sent(app, source, now: datetime) -> int:
    """Close open cases a librarian answered from their own client: a message in the Sent
    folder that replies (In-Reply-To) to the reader's letter and is not one mailproc sent.
    Returns how many cases were closed. Needs a source that can SEARCH (IMAP)."""
    search = getattr(source, "search_header", None)
    if search is None:
        return 0
    folder = app.settings.mailbox.sent_folder
    closed = 0
    with app.db.session() as s:
        todo = [(c.id, [m.message_id for m in c.thread if m.role in ("reader", "followup")],
                 {m.message_id for m in c.thread})
                for c in s.scalars(select(QuestionCase).where(
                    QuestionCase.state.in_(OPEN_STATES)))]
    for case_id, reader_ids, ours in todo:
        for mid in reader_ids:
            uids = search(folder, "In-Reply-To", mid)
            if not uids:
                continue
            replies = [_message_id(raw) for _, raw in source.fetch(uids, folder=folder)]
            theirs = [r for r in replies if r and r not in ours and not _sent_by_us(app, r)]
            if not theirs:
                continue
            with app.db.transaction() as s:
                case = s.get(QuestionCase, case_id)
                if case.state in OPEN_STATES:
                    librarian_answered(s, case, app.settings.mail.from_address, now, theirs[0])
                    closed += 1
            break
    return closed


def _sent_by_us(app, message_id: str) -> bool:
    """Mail the outbox sent (its Sent copies are in the same folder) is not a person's answer."""
    from mailproc.outbound.models import OutboxMessage  # noqa: PLC0415

    with app.db.session() as s:
        return s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.message_id == message_id).limit(1)) is not None


def _message_id(raw: bytes) -> str:
    from email.parser import BytesHeaderParser

    return (BytesHeaderParser().parsebytes(raw).get("Message-ID") or "").strip()


def sync(app, source, now: datetime) -> dict:
    """The questions workflow's periodic step, after intake: notice librarians' own answers
    in Sent, append proposed answers to Drafts (dropping those a person made moot), remind
    late departments. ``mailproc questions sync`` runs it; the daemon calls it after each
    intake pass."""
    from mailproc.questions.drafts import append_pending  # noqa: PLC0415

    closed = scan_sent(app, source, now)
    return {"closed_by_librarians": closed,
            "drafts_appended": append_pending(app.db, source, app.settings),
            "reminders": remind_due(app, now)}
