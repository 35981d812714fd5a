"""Order tables: the order, every change it went through, and the Message-IDs we sent for it.

``order_refs`` exists so that a reply's In-Reply-To/References is matched by an indexed lookup
(RFC 5322 3.6.4: a reply names the message it answers), whatever the number of open orders.
``order_words`` does the same for replies without a token (title and author words).
``orders.work_key`` groups orders for one work of one reader for the 30% cap.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailproc.store.base import Base, UTCDateTime, utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_department_state", "department", "state"),
        Index("ix_orders_reader_work", "reader_email", "work_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(16), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="new", index=True)
    kind: Mapped[str] = mapped_column(String(10), default="book")  # "book" | "article"
    # the reader
    reader_email: Mapped[str] = mapped_column(String(320), default="")
    reader_name: Mapped[str] = mapped_column(String(200), default="")
    reader_card: Mapped[str] = mapped_column(String(40), default="")
    # the item
    author: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    year: Mapped[str] = mapped_column(String(10), default="")
    shelf_mark: Mapped[str] = mapped_column(String(200), default="")
    fund_code: Mapped[str] = mapped_column(String(20), default="")
    journal: Mapped[str] = mapped_column(String(300), default="")
    issue: Mapped[str] = mapped_column(String(60), default="")
    work_key: Mapped[str] = mapped_column(String(200), default="")
    # what is wanted
    pages: Mapped[str] = mapped_column(String(200), default="")  # as normalised: "15-27, 30"
    pages_count: Mapped[int] = mapped_column(Integer, default=0)
    book_pages: Mapped[int] = mapped_column(Integer, default=0)  # 0: unknown
    wants_scan: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    missing: Mapped[str] = mapped_column(String(200), default="")  # what needs_details asks
    # routing and the mail around it
    department: Mapped[str] = mapped_column(String(60), default="")
    department_address: Mapped[str] = mapped_column(String(320), default="")
    reader_message_id: Mapped[str] = mapped_column(String(998), default="")
    reader_subject: Mapped[str] = mapped_column(Text, default="")
    source_message_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pages_delivered: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    events: Mapped[list["OrderEvent"]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan")
    refs: Mapped[list["OrderRef"]] = relationship(
        back_populates="order", cascade="all, delete-orphan")


class OrderEvent(Base):
    """One change of an order: kept forever, in order, with who or what caused it."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(40))
    state_from: Mapped[str] = mapped_column(String(20), default="")
    state_to: Mapped[str] = mapped_column(String(20), default="")
    message_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(60), default="mailproc")
    note: Mapped[str] = mapped_column(Text, default="")

    order: Mapped[Order] = relationship(back_populates="events")


class OrderRef(Base):
    """A Message-ID we sent about an order (request, reminder): replies name it."""

    __tablename__ = "order_refs"

    message_id: Mapped[str] = mapped_column(String(998), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="request")
    to_addr: Mapped[str] = mapped_column(String(320), default="")

    order: Mapped[Order] = relationship(back_populates="refs")


class OrderWord(Base):
    """A word (stem) of an order's title, author, journal, shelf mark or pages: replies without
    a token are matched through this index, so the cost does not grow with the open orders."""

    __tablename__ = "order_words"
    __table_args__ = (Index("ix_order_words_word", "word"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          primary_key=True)
    word: Mapped[str] = mapped_column(String(120), primary_key=True)
