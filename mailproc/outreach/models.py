"""Tables of the contact base and of mailings.

The per-recipient log (``mailing_deliveries``, unique on issue and contact) is the
exactly-once guarantee: a recipient row is moved from ``planned`` to ``queued`` in the same
transaction that hands the message to the outbox, so a crash or a second instance can never
queue the same issue for the same contact twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class Organisation(Base):
    """A row of the contracts registry: an institution the library has a contract with."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    segment: Mapped[str] = mapped_column(String(200), default="")
    contract: Mapped[str] = mapped_column(String(100), default="")
    head_name: Mapped[str] = mapped_column(String(300), default="")
    head_position: Mapped[str] = mapped_column(String(300), default="")
    head_phone: Mapped[str] = mapped_column(String(50), default="")
    head_email: Mapped[str] = mapped_column(String(320), default="")
    resp_name: Mapped[str] = mapped_column(String(300), default="")
    resp_position: Mapped[str] = mapped_column(String(300), default="")
    resp_phone: Mapped[str] = mapped_column(String(50), default="")
    resp_email: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Contact(Base):
    """A remote user the library may write to; consent and withdrawal are kept as evidence."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_segment", "segment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20), default="")  # "head", "responsible", ""
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True, index=True)
    phone: Mapped[str] = mapped_column(String(50), default="")
    segment: Mapped[str] = mapped_column(String(200), default="")
    interests: Mapped[list] = mapped_column(JSON, default=list)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consent_source: Mapped[str] = mapped_column(Text, default="")
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_how: Mapped[str] = mapped_column(Text, default="")
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    suppressed_reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class ConsentEvent(Base):
    """Every grant and withdrawal of consent, append-only: the proof listmonk lacks."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted: Mapped[bool] = mapped_column(Boolean)
    how: Mapped[str] = mapped_column(Text, default="")


class Group(Base):
    """A named group: level 1-3, a segment and/or interests, an optional filter."""

    __tablename__ = "contact_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    level: Mapped[int] = mapped_column(Integer, default=2)
    segment: Mapped[str] = mapped_column(String(200), default="")
    interests: Mapped[list] = mapped_column(JSON, default=list)
    where: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupMember(Base):
    """An explicit member of a group, or an explicit exclusion (``excluded``) from its filter."""

    __tablename__ = "contact_group_members"
    __table_args__ = (UniqueConstraint("group_name", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # by name, so that groups declared in rules files can have explicit members too
    group_name: Mapped[str] = mapped_column(String(200), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingImport(Base):
    """Contacts proposed from the mailbox (a staff list), waiting for a librarian's yes."""

    __tablename__ = "pending_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    origin: Mapped[str] = mapped_column(Text, default="")  # "attachment list.xlsx", "body"
    rows: Mapped[list] = mapped_column(JSON, default=list)  # canonical field dicts
    skipped: Mapped[list] = mapped_column(JSON, default=list)  # [[row, reason], ...]
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailingIssue(Base):
    """One occurrence of a planned mailing; created once per (mailing, scheduled time)."""

    __tablename__ = "mailing_issues"
    __table_args__ = (UniqueConstraint("mailing", "scheduled_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailing: Mapped[str] = mapped_column(String(200), index=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # planned -> sending -> done; or missed (found later than the grace period), cancelled
    state: Mapped[str] = mapped_column(String(20), default="sending")
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    #: the outbox row whose Sent copy stands for the whole issue (``outreach.sentcopy``)
    copy_outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailingDelivery(Base):
    """The per-recipient log: one row per issue and contact, never two."""

    __tablename__ = "mailing_deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "contact_id"),
        Index("ix_mailing_deliveries_status", "issue_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("mailing_issues.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    email: Mapped[str] = mapped_column(String(320))
    # planned -> queued -> sent | failed | bounced; or skipped (reason says why)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    message_id: Mapped[str] = mapped_column(String(998), default="", index=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
