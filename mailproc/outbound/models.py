"""Outbox tables: one row a message to send, its attachments, and suppressed addresses.

Row states (``OutboxMessage.state``):

``queued``     waiting; ``next_attempt_at`` says when it is due.
``sending``    claimed by a sender (``claim``) that may be talking to the server right now.
               A row stuck here after a crash is sent again: see ``sender`` for the window.
``sent``       the server accepted it for every deliverable recipient (250 after DATA).
``failed``     permanent: 5xx, the retry deadline passed, or a hard bounce; ``error`` says why.
``error``      the template did not render; nothing was sent. ``outbox retry ID`` re-renders.
``suppressed`` every recipient was suppressed when it was queued; kept to record why.

Per-recipient results live in ``recipients`` ({address: {"state", "answer"}}) because a
server may accept one recipient and refuse another in the same transaction (RFC 5321 3.3).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_related", "related_type", "related_id"),
        Index("ix_outbox_cause", "cause", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(500), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(200))
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str] = mapped_column(Text, default="")
    recipients: Mapped[dict] = mapped_column(JSON, default=dict)
    sender: Mapped[str] = mapped_column(String(320))
    #: the installation's mailbox it was queued for (mailproc.mailboxes.name_of): its Sent
    #: copy goes there, ``--mailbox`` lists it there; "" before 0008 or from a scheduled job
    #: of several mailboxes (then the From address decides, see mailproc.cluster.SentRouter)
    mailbox: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: the sender whose letter caused this row (rules.responses_per_sender counts them,
    #: mailproc.sorting.limits); "" for mail of jobs, commands and the library's own letters
    cause: Mapped[str] = mapped_column(String(320), default="", server_default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    token: Mapped[str] = mapped_column(String(40), default="")
    token_kind: Mapped[str] = mapped_column(String(4), default="")
    part: Mapped[int] = mapped_column(Integer, default=1)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    related_type: Mapped[str] = mapped_column(String(40), default="")
    related_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str] = mapped_column(String(200), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: its Sent copy was appended, or none is wanted (born true: ``enqueue(sent_copy=False)``)
    copied: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    attachments: Mapped[list["OutboxAttachment"]] = relationship(
        order_by="OutboxAttachment.position", cascade="all, delete-orphan", lazy="selectin")

    def pending(self) -> list[str]:
        """Recipients still to be sent to."""
        return [a for a, r in self.recipients.items() if r.get("state") == "queued"]


class OutboxAttachment(Base):
    """An attachment's name and type; its bytes sit in the blob store under ``sha256``."""

    __tablename__ = "outbox_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_pk: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"),
                                           index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class Suppression(Base):
    """An address we no longer send to (hard bounce, repeated soft bounces, by hand)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    outbox_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
