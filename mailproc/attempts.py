"""The intake's attempts ledger: what gives up on a poison message.

A poison message is one whose processing never finishes: it kills the process (memory under
systemd ``MemoryMax``, the OOM killer, a crash in a C library) or makes the pass fail every
time. Nothing in the message's own transaction survives that (mailproc.intake, rule 1), so
its attempts are counted here, in rows committed BEFORE its work starts, keyed like the
message (mailbox, UIDVALIDITY, UID), with the last error when one was seen.

The cost stays per fetched chunk, not per message (mailproc.intake, "Throughput"):

* A chunk none of whose UIDs carries an attempt is recorded with ONE committed INSERT
  (attempts = 1 for each UID) before its first message starts, and cleared in the
  transaction that writes the chunk's merely-filed messages (or alone when there are none).
* A chunk with a UID that already carries an attempt was being processed when the process
  died (or the pass failed). It is processed carefully: one message at a time, each with its
  own committed ``attempts + 1`` before it starts, its own commit, and its row cleared after.
  So only the message that really stops the process gains attempts; the others of its
  first chunk keep the one they got there.
* A message whose attempts have reached ``mailbox.max_attempts`` is not started again: it is
  filed in the review folder untouched, with a Russian reason (:func:`poison_reason`).

Rows of UIDs that no longer wait (processed, expunged, an old UIDVALIDITY) are deleted when
the next pass lists the folder.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Text, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from mailproc.store.base import Base, UTCDateTime, utcnow


class IntakeAttempt(Base):
    """A message whose processing has started and not (yet) been recorded as finished."""

    __tablename__ = "intake_attempts"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


@dataclass(frozen=True)
class Tried:
    attempts: int
    last_error: str = ""


class AttemptLedger:
    """The attempt rows of one mailbox (see the module docstring for when each call runs)."""

    def __init__(self, db, mailbox: str):
        self.db = db
        self.mailbox = mailbox

    def _key(self, uidvalidity: int):
        t = IntakeAttempt.__table__.c
        return (t.mailbox == self.mailbox) & (t.uidvalidity == uidvalidity)

    def pending(self, uidvalidity: int, waiting: Collection[str]) -> dict[str, Tried]:
        """The attempts of the UIDs still waiting; rows of any other UID of this mailbox
        (processed, gone, another UIDVALIDITY) are deleted."""
        t = IntakeAttempt.__table__
        with self.db.session() as s:
            rows = s.execute(select(t.c.uidvalidity, t.c.uid, t.c.attempts, t.c.last_error)
                             .where(t.c.mailbox == self.mailbox)).all()
        waiting = set(waiting)
        found = {r.uid: Tried(r.attempts, r.last_error) for r in rows
                 if r.uidvalidity == uidvalidity and r.uid in waiting}
        stale = [(r.uidvalidity, r.uid) for r in rows
                 if r.uidvalidity != uidvalidity or r.uid not in waiting]
        if stale:
            with self.db.transaction() as s:
                for validity, uid in stale:
                    s.execute(delete(t).where((t.c.mailbox == self.mailbox)
                                              & (t.c.uidvalidity == validity)
                                              & (t.c.uid == uid)))
        return found

    def start_chunk(self, uidvalidity: int, uids: Iterable[str]) -> None:
        """One committed INSERT: a first attempt for each UID (none of them has a row)."""
        now = utcnow()
        rows = [{"mailbox": self.mailbox, "uidvalidity": uidvalidity, "uid": uid,
                 "attempts": 1, "last_error": "", "updated_at": now} for uid in uids]
        if rows:
            with self.db.engine.begin() as conn:
                conn.execute(insert(IntakeAttempt.__table__), rows)

    def start_one(self, uidvalidity: int, uid: str, before: int) -> None:
        """Commit one more attempt of ``uid``, which had ``before`` attempts."""
        t = IntakeAttempt.__table__
        with self.db.engine.begin() as conn:
            if before:
                conn.execute(update(t).where(self._key(uidvalidity) & (t.c.uid == uid))
                             .values(attempts=t.c.attempts + 1, updated_at=utcnow()))
            else:
                conn.execute(insert(t), {"mailbox": self.mailbox, "uidvalidity": uidvalidity,
                                         "uid": uid, "attempts": 1, "last_error": "",
                                         "updated_at": utcnow()})

    def clear(self, uidvalidity: int, uids: Collection[str], conn=None) -> None:
        """Forget the attempts of ``uids`` (their processing ended), in ``conn``'s
        transaction when given, else in one of its own."""
        if not uids:
            return
        t = IntakeAttempt.__table__
        stmt = delete(t).where(self._key(uidvalidity) & t.c.uid.in_(list(uids)))
        if conn is not None:
            conn.execute(stmt)
            return
        with self.db.engine.begin() as own:
            own.execute(stmt)

    def take_back(self, uidvalidity: int, uid: str) -> None:
        """Undo :meth:`start_one`: the attempt ended by an outage, not by the message."""
        t = IntakeAttempt.__table__
        with self.db.engine.begin() as conn:
            conn.execute(update(t).where(self._key(uidvalidity) & (t.c.uid == uid))
                         .values(attempts=t.c.attempts - 1, updated_at=utcnow()))
            # a first attempt taken back leaves no row (start_one INSERTs when before is 0)
            conn.execute(delete(t).where(self._key(uidvalidity) & (t.c.uid == uid)
                                         & (t.c.attempts <= 0)))

    def note_error(self, uidvalidity: int, uid: str, error: str) -> None:
        """Keep the error that ended an attempt (shown in the review reason if it repeats)."""
        t = IntakeAttempt.__table__
        with self.db.engine.begin() as conn:
            conn.execute(update(t).where(self._key(uidvalidity) & (t.c.uid == uid))
                         .values(last_error=error[:2000], updated_at=utcnow()))


_TIMES = {1: "", 2: "дважды ", 3: "трижды ", 4: "четырежды "}


def poison_reason(tried: Tried) -> str:
    """The review reason of a message given up after ``tried.attempts`` attempts."""
    n = tried.attempts
    if n in _TIMES:
        head = f"обработка письма {_TIMES[n]}прервалась"
    else:
        times = "раза" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "раз"
        head = f"обработка письма прервалась {n} {times}"
    if tried.last_error:
        why = f"последняя ошибка — {tried.last_error}"
    else:
        why = ("процесс mailproc завершился, не закончив её (например, ему не хватило "
               "памяти)")
    return f"{head}: {why}; письмо перенесено на разбор без обработки"
