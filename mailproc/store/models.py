"""Core tables: every message seen and the decision taken for it.

A message row is keyed by (mailbox, uidvalidity, uid) and carries a content hash, so a
UIDVALIDITY change is survived by re-matching on Message-ID and hash (RFC 3501 2.3.1.1).
Its ``state`` is the stage boundary that makes crash recovery exact:

``decided``  the transaction that recorded the decision and everything it caused committed;
             the mailbox has not been touched yet.
``done``     the message was moved or flagged as decided; ``folder``/``folder_uid`` say where.
``review``   processing failed; ``reason`` says why and the raw bytes stay reachable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid"),
        Index("ix_messages_message_id", "message_id"),
        Index("ix_messages_content_hash", "content_hash"),
        Index("ix_messages_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uid: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(998), default="")
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    category: Mapped[str] = mapped_column(String(100), default="")
    rule: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default="decided")
    reason: Mapped[str] = mapped_column(Text, default="")
    folder: Mapped[str] = mapped_column(String(400), default="")
    folder_uid: Mapped[str] = mapped_column(String(255), default="")
    keywords: Mapped[list] = mapped_column(JSON, default=list)
    spool_path: Mapped[str] = mapped_column(String(1000), default="")
    letter: Mapped[dict] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    decisions: Mapped[list["Decision"]] = relationship(
        back_populates="message", order_by="Decision.id", cascade="all, delete-orphan"
    )


class Decision(Base):
    """Why a message went where it went: the rule, every hit and miss, actions and results."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rules_version: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    rule: Mapped[str] = mapped_column(String(200), default="")
    trace: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[list] = mapped_column(JSON, default=list)
    results: Mapped[list] = mapped_column(JSON, default=list)

    message: Mapped[Message] = relationship(back_populates="decisions")
