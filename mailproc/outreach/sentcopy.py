"""One copy of a mailing issue in the Sent folder, not one a recipient.

An issue to 1,440 contacts is 1,440 outbox rows; the librarians' Sent folder gets the first
of them only, with ``X-Mailproc-Recipients: 1440`` (the issue's recipients) added to the copy
(never to the message the reader gets). Every mailing row is queued with no copy wanted
(``enqueue(sent_copy=False)``: born ``copied``); ``claim_copy`` then makes one row of the
issue the carrier: ``mailing_issues.copy_outbox_id`` is set by a conditional UPDATE
(``WHERE copy_outbox_id IS NULL``) in the transaction that queues the row, so of two
instances queueing batches of one issue exactly one wins (PostgreSQL re-checks the condition
after the other's commit; SQLite serialises writers), and the carrier's ``copied`` goes back
to false in that same transaction. From there the sender's own protocol holds: the copy is
appended after ``sent`` is committed and flagged after the append (``outbound.sender``).

When the carrier is not delivered (its address refused for good), ``reassign_copies`` hands
the copy to the first delivered row of the issue, by the same conditional UPDATE.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailproc.outreach.models import MailingIssue

log = logging.getLogger("mailproc.outreach")

RECIPIENTS_HEADER = "X-Mailproc-Recipients"


def copy_headers(issue: MailingIssue) -> dict[str, str]:
    return {RECIPIENTS_HEADER: str(issue.recipients)}


def _move(s: Session, issue_id: int, old: int | None, new) -> bool:
    """Make outbox row ``new`` the issue's carrier if the carrier is still ``old``."""
    table = MailingIssue.__table__
    cond = table.c.copy_outbox_id.is_(None) if old is None else table.c.copy_outbox_id == old
    won = s.execute(update(table).where(table.c.id == issue_id, cond)
                    .values(copy_outbox_id=new.id)).rowcount == 1
    if won:
        new.copied = False
    return won


def claim_copy(s: Session, issue_id: int, rows) -> None:
    """After a batch of the issue was queued (``rows`` as ``enqueue_many`` returned them):
    the first row becomes the issue's Sent copy unless one already is."""
    first = next((r for r in rows if r is not None and r.state != "suppressed"), None)
    if first is not None and _move(s, issue_id, None, first):
        log.info("mailing issue %s: outbox %d carries the Sent copy", issue_id, first.id)


def reassign_copies(s: Session) -> int:
    """Issues whose carrier failed for good: the copy moves to their first sent row."""
    from mailproc.outbound.models import OutboxMessage

    stuck = s.execute(select(MailingIssue.id, MailingIssue.copy_outbox_id)
                      .join(OutboxMessage, OutboxMessage.id == MailingIssue.copy_outbox_id)
                      .where(OutboxMessage.state.in_(("failed", "suppressed")))).all()
    moved = 0
    for issue_id, old in stuck:
        new = s.scalar(select(OutboxMessage).where(
            OutboxMessage.related_type == "mailing_issue", OutboxMessage.related_id == issue_id,
            OutboxMessage.state == "sent").order_by(OutboxMessage.id).limit(1))
        if new is not None and _move(s, issue_id, old, new):
            log.info("mailing issue %s: outbox %d not delivered; outbox %d carries the Sent "
                     "copy", issue_id, old, new.id)
            moved += 1
    return moved
