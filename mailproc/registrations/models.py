"""Tables of the registration workflow.

A case's personal data lives in three places only: the reader's address and name here (needed
to find the case again and to match ЦКО's answer by name; the name and the documents' file
names sealed with the vault key, ``registrations.sealed``), the card number (encrypted with the
vault key, ``card_number_enc``), and the documents (encrypted files under the vault folder;
rows here hold their kind, size and hash, never their bytes). ``registration_messages`` links a
case to every message row its mail left (sealed, blanked when the case's data is destroyed).
Audit rows outlive the documents: they are the proof of what was done with the data, by whom
and why, and name no reader (the actor of a reader's act is "reader").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow

#: states of a case; ``handed`` = handed to ЦКО
STATES = ("incomplete", "complete", "handed", "card_issued", "rejected", "withdrawn")
OPEN_STATES = ("incomplete", "complete")
#: document kinds; ``other`` counts for nothing
KINDS = ("form", "application", "consent", "other")


class RegistrationCase(Base):
    __tablename__ = "registration_cases"
    __table_args__ = (
        Index("ix_registration_cases_reader_email", "reader_email"),
        Index("ix_registration_cases_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(20), unique=True)
    reader_email: Mapped[str] = mapped_column(String(320), default="")
    #: sealed (``registrations.sealed``); "" once the case's data is destroyed
    reader_name: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="incomplete")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    card_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    card_number_enc: Mapped[str] = mapped_column(Text, default="")
    handoff_message_id: Mapped[str] = mapped_column(String(998), default="")

    documents: Mapped[list["RegistrationDocument"]] = relationship(
        back_populates="case", order_by="RegistrationDocument.id")


class RegistrationDocument(Base):
    __tablename__ = "registration_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("registration_cases.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order in its mail
    #: the kinds this file holds, comma-separated ("form" or "form,consent" for one scan)
    kind: Mapped[str] = mapped_column(String(60), default="other")
    kind_how: Mapped[str] = mapped_column(String(20), default="")  # name|words|order|librarian
    #: the file name as the reader sent it, sealed; "" once destroyed
    name: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")  # of the bytes as received
    pages: Mapped[int] = mapped_column(Integer, default=1)
    readable: Mapped[bool] = mapped_column(Boolean, default=True)
    problem: Mapped[str] = mapped_column(Text, default="")
    vault_path: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    original_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    case: Mapped[RegistrationCase] = relationship(back_populates="documents")


class ConsentRecord(Base):
    """The consent register (152-FZ art. 9): proof of consent, its purpose and term, its
    withdrawal and the destruction of the data it covered."""

    __tablename__ = "registration_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("registration_cases.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration_documents.id"), nullable=True)
    reader_email: Mapped[str] = mapped_column(String(320), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purpose: Mapped[str] = mapped_column(Text, default="")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal_message_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RegistrationAudit(Base):
    """Who or what did what to a case's data, when and why. Never deleted with the data."""

    __tablename__ = "registration_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("registration_cases.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), default="mailproc")
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class RegistrationMessage(Base):
    """A message row a case's mail left (the reader's letters, ЦКО's answer, a withdrawal):
    the rows whose sealed text is blanked when the case's data is destroyed."""

    __tablename__ = "registration_messages"
    __table_args__ = (UniqueConstraint("case_id", "message_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("registration_cases.id"), index=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
