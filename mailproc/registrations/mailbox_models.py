"""The mailbox steps that take readers' documents out of the shared mailbox, one row each.

A row is written in a database transaction BEFORE the mailbox is touched (the message's own
transaction for a redaction, the withdrawal's or purge's for a removal), and the mailbox work
it asks for runs after that commit (mailproc.registrations.redaction). So a kill at any point
leaves a row that says what is still to do; the marker written into the stub
(``X-Mailproc-Redacted``) tells on recovery whether the stub is already there.

``kind``:
- ``redact``: replace the original letter by a stub without its documents (same folder);
- ``remove``: delete every copy of the letter, stubs included, from every folder.

``state``: ``pending`` -> ``appended`` (redact: the stub is in, the original not yet gone) ->
``done``; ``left`` when the server cannot delete one message alone (no UIDPLUS) and the
settings say to leave it; ``cancelled`` when a removal made a pending redaction pointless.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailproc.store.base import Base, UTCDateTime, utcnow

OPEN_STEP_STATES = ("pending", "appended", "left")


class MailboxRedaction(Base):
    __tablename__ = "mailbox_redactions"
    __table_args__ = (Index("ix_mailbox_redactions_state", "state"),
                      UniqueConstraint("message_pk", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="redact")
    case_id: Mapped[int] = mapped_column(ForeignKey("registration_cases.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True)
    #: the source the letter sits in (``Message.mailbox``)
    mailbox: Mapped[str] = mapped_column(String(300), default="")
    #: the letter's own Message-ID (stubs keep it in X-Mailproc-Original-Message-ID)
    message_id: Mapped[str] = mapped_column(String(998), default="")
    #: the stub's marker, unique per letter: X-Mailproc-Redacted: <case token> <marker>
    marker: Mapped[str] = mapped_column(String(40), unique=True)
    #: SHA-256 of the letter's From address: a copy found by Message-ID must also match it
    #: (a reader's Message-ID cannot make mailproc delete somebody else's letter)
    sender_hash: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(20), default="pending")
    folder: Mapped[str] = mapped_column(String(300), default="")
    stub_uid: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
