"""The last good rule sets: every set of rule files that loaded cleanly, kept in the database.

Why: the promise "the last good rules keep working" must survive a restart. A daemon that
starts while a rule file is broken runs the newest stored set of its mailbox instead of
falling back to built-in sorting (see mailproc.sorting.runtime). A set is stored once per
distinct content (``digest``, SHA-256 of every file's name and bytes); loading the same set
again only moves its ``loaded_at``, so "newest" means the set loaded last.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class StoredRuleSet(Base):
    __tablename__ = "rule_sets"
    __table_args__ = (
        UniqueConstraint("mailbox", "digest"),
        Index("ix_rule_sets_mailbox_loaded_at", "mailbox", "loaded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the mailbox whose rules these were (mailproc.mailboxes.name_of)
    mailbox: Mapped[str] = mapped_column(String(40))
    #: SHA-256 (hex) of every file's name and bytes, in name order: the set's identity
    digest: Mapped[str] = mapped_column(String(64))
    #: the version decisions record (mailproc.sorting.rules.RuleSet.version)
    version: Mapped[str] = mapped_column(String(16))
    rules: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    files: Mapped[list["StoredRuleFile"]] = relationship(
        back_populates="rule_set", order_by="StoredRuleFile.name", cascade="all, delete-orphan")


class StoredRuleFile(Base):
    __tablename__ = "rule_set_files"

    rule_set_id: Mapped[int] = mapped_column(
        ForeignKey("rule_sets.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    rule_set: Mapped[StoredRuleSet] = relationship(back_populates="files")
