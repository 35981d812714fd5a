"""Case-token allocation: one counter row per (kind, year), incremented in the caller's
transaction.

Why a row and not ``MAX(token) + 1``: two processes (the daemon and a command, or two
instances on PostgreSQL) would both read the same maximum and hand out one token twice. An
``UPDATE ... RETURNING`` on the counter row takes the row lock (PostgreSQL) or the database
write lock (SQLite, whose transactions here start with ``BEGIN IMMEDIATE``), so the increment
and the read of the new value are one step; a second writer waits and gets the next number.
Because the increment is part of the caller's transaction, a rolled-back message gives its
number back instead of leaving a gap.

Case tokens share ONE sequence across kinds ("o" order, "r" registration, "q" question), so
a bare subject tag ``[НБ 2026-00042]`` names exactly one case whatever its kind; the kind is
still carried in signed Message-IDs and markers. Other counters may use their own ``kind``.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailproc.store.base import Base


class Counter(Base):
    __tablename__ = "counters"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def next_number(session: Session, kind: str, year: int) -> int:
    """The next number for (kind, year), starting at 1; race-free on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Counter).values(kind=kind, year=year, value=0)
                    .on_conflict_do_nothing(index_elements=["kind", "year"]))
    return session.execute(
        update(Counter).where(Counter.kind == kind, Counter.year == year)
        .values(value=Counter.value + 1).returning(Counter.value)
        .execution_options(synchronize_session=False)
    ).scalar_one()


CASE_SEQUENCE = "case"


def next_token(session: Session, kind: str, year: int) -> str:
    """A human case token ``YYYY-NNNNN`` (see :mod:`mailproc.tokens`), unique across kinds:
    ``kind`` is accepted for the callers' clarity but all cases draw from one sequence."""
    return f"{year}-{next_number(session, CASE_SEQUENCE, year):05d}"
