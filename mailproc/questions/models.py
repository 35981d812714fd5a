"""Tables of the questions workflow: cases, their thread, pending drafts, information needs.

A case's ``state``:

``new``       waiting for a person (no ready answer was confident, or a follow-up reopened it);
``drafted``   a ready answer waits in Drafts for a librarian to review and send;
``routed``    sent to a department, waiting for its answer (``department``, ``routed_at``);
``answered``  answered: ``answered_by`` says who ("ready:KEY", "department:KEY",
              "librarian:ADDRESS"), ``answered_at`` when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class QuestionCase(Base):
    __tablename__ = "question_cases"
    __table_args__ = (Index("ix_question_cases_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(20), unique=True)
    reader_addr: Mapped[str] = mapped_column(String(320), default="")
    reader_name: Mapped[str] = mapped_column(String(400), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="new")
    topic: Mapped[str] = mapped_column(String(100), default="")  # the ready answer's key
    department: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why it waits / was routed
    answered_by: Mapped[str] = mapped_column(String(400), default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    followups: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    thread: Mapped[list["QuestionMessage"]] = relationship(
        back_populates="case", order_by="QuestionMessage.id", cascade="all, delete-orphan")


class QuestionMessage(Base):
    """Every Message-ID of a case's thread, so replies find the case by In-Reply-To/References.

    ``role``: "reader" (the reader's mail), "answer" (our ready answer), "draft", "to-department",
    "department" (the department's answer), "forward" (that answer sent on), "staff" (a
    librarian's own answer), "reminder".
    """

    __tablename__ = "question_messages"
    __table_args__ = (Index("ix_question_messages_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("question_cases.id", ondelete="CASCADE"),
                                         index=True)
    message_id: Mapped[str] = mapped_column(String(998))
    role: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(320), default="")
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[QuestionCase] = relationship(back_populates="thread")


class PendingDraft(Base):
    """A proposed answer to APPEND to Drafts after the message's transaction commits.

    IMAP is outside the transaction: writing the draft first and appending later means a
    rollback leaves no orphan draft, and a crash after the commit is repaired on the next run
    (the row is still ``pending``). The Message-ID makes the append idempotent.
    """

    __tablename__ = "question_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("question_cases.id", ondelete="CASCADE"),
                                         index=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # appended | dropped
    folder: Mapped[str] = mapped_column(String(400), default="")
    uid: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    appended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InformationNeed(Base):
    """What readers want the library to have (instruction 2.9).

    ``kind``: "digitise" (an edition to digitise first), "section" (a section missing in the
    EL), "subscription" (a subscription resource wanted). ``text`` keeps the reader's words;
    ``author``/``title``/``topic`` are what could be found and what a librarian corrected.
    """

    __tablename__ = "information_needs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(400), default="")
    title: Mapped[str] = mapped_column(String(1000), default="")
    topic: Mapped[str] = mapped_column(String(400), default="")
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_cases.id", ondelete="SET NULL"), nullable=True)
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True)
    corrected_by: Mapped[str] = mapped_column(String(320), default="")
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
