"""Claimed outbox rows as the sender reads them, loaded without the ORM.

A send pass loads thousands of rows only to build their bytes and send them; building ORM
objects (identity map, attribute instrumentation, a second query for the attachments of each
batch) cost as much as the SMTP conversation itself. ``Due`` holds just the columns
``mime.build_message`` and the sender read; every change to a row still goes through the
database by id (``Sender._flush``), never through these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.outbound.models import OutboxAttachment, OutboxMessage


@dataclass(slots=True)
class Due:
    id: int
    message_id: str
    sender: str
    subject: str
    text: str
    html: str
    date: datetime
    headers: dict
    recipients: dict
    attachments: list = field(default_factory=list)  # rows with name, content_type, sha256

    def pending(self) -> list[str]:
        """Recipients still to be sent to (as ``OutboxMessage.pending``)."""
        return [a for a, r in self.recipients.items() if r.get("state") == "queued"]


_COLUMNS = [getattr(OutboxMessage.__table__.c, f) for f in Due.__dataclass_fields__
            if f != "attachments"]


def load_due(session: Session, ids: list[int]) -> list[Due]:
    """The rows ``ids`` in id order, with their attachments: two queries for the lot."""
    rows = {r[0]: Due(*r) for r in session.execute(
        select(*_COLUMNS).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))}
    a = OutboxAttachment.__table__.c
    for att in session.execute(select(a.outbox_pk, a.name, a.content_type, a.sha256)
                               .where(a.outbox_pk.in_(ids))
                               .order_by(a.outbox_pk, a.position)):
        rows[att.outbox_pk].attachments.append(att)
    return list(rows.values())
