"""``rules.responses_per_sender``: how much automatic mail one sender's letters may cause.

Every outbox row queued while a letter is processed records the letter's sender in
``outbox.cause`` (``ActionContext`` does it for every action: replies, forwards, ready answers,
a question routed to a department, an order's request, the hand-off to ЦКО, notices to the
reader). The count is of those rows (first parts only; split messages are one message, rows
that were suppressed sent nothing) in the 24 hours before now, this letter's own rows included;
mail to the librarians' own address is not counted. The library's own addresses (the mailbox,
the librarians, departments and their people, ЦКО, the ЛОД duty: ``rules/departments.yaml``)
cause no count: a department sending scans for ten orders a day is the service working, not a
loop.

When an action would exceed the limit it sends nothing, and a :class:`ResponseLimit` row says
who, which message and what was withheld; the morning digest lists them
(``reports.digest.limits``). What happens to the letter depends on the workflow: a reply is
simply not sent, a question waits for a librarian instead of going to a department, an order
goes to review (the reason says so) so that nothing is half done. The hand-off of
registration documents to ЦКО is counted but never held: it goes once per case (its dedupe
key), and holding it would strand sealed documents with no command to release them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from mailproc.store.base import Base, UTCDateTime, utcnow

WINDOW = timedelta(hours=24)


class ResponseLimit(Base):
    """Mail withheld because its sender reached ``rules.responses_per_sender``."""

    __tablename__ = "response_limits"
    __table_args__ = (Index("ix_response_limits_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(320))
    message_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    limit: Mapped[int] = mapped_column(Integer)
    #: Russian: what was not sent ("ответ читателю", "передача вопроса в отдел")
    withheld: Mapped[str] = mapped_column(String(200))


def library_addresses(settings, directory) -> set[str]:
    """The library's own addresses: their letters are never limited."""
    found = {settings.mail.from_address.lower(), settings.mail.librarians_address.lower()}
    if directory is not None:
        found |= directory.staff_addresses()
        found |= {a.lower() for a in directory.lists.get("сотрудники", [])}
    return found - {""}


def to_librarians(settings, to) -> bool:
    """Mail to the librarians' own address only (a notice, a withdrawal) is mailproc telling
    the staff, not answering or forwarding: it does not count."""
    items = [to] if isinstance(to, str) else list(to or ())
    addresses = {a.strip().lower() for a in items}
    return bool(addresses) and addresses <= {settings.mail.librarians_address.lower()}


def caused_in_window(session, sender: str, now: datetime) -> int:
    """Messages queued because of ``sender``'s letters in the window before ``now``."""
    from mailproc.outbound.models import OutboxMessage  # noqa: PLC0415 - models load order

    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.cause == sender, OutboxMessage.created_at >= now - WINDOW,
        OutboxMessage.part == 1, OutboxMessage.state != "suppressed")) or 0


def refusal_text(limit: int) -> str:
    return (f"лимит автоматических ответов и передач по письмам этого отправителя "
            f"({limit} за сутки)")


def record_hit(session, *, sender: str, message_pk: int | None, limit: int, withheld: str,
               now: datetime) -> None:
    session.add(ResponseLimit(sender=sender, message_pk=message_pk, limit=limit,
                              withheld=withheld[:200], at=now))
