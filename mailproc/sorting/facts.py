"""Facts: what deciding may know beyond the letter, gathered read-only before the pure step.

Conditions never query anything themselves; the Sorter gathers these once per letter (one or
two small SELECTs) and deciding stays a pure function of (letter, facts), which is what makes
dry runs and replays exact. Offline facts (no database) answer from the letter alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select, text

from mailproc.sorting.text import fold

log = logging.getLogger("mailproc.sorting.facts")


@dataclass
class Facts:
    tokens: list = field(default_factory=list)  # TokenHit list from Tokens.find_in_letter
    our_ids: frozenset[str] = frozenset()  # thread Message-IDs that are mail we sent
    reader: bool = False  # the sender wrote to us before as a person
    cases: dict[str, Any] = field(default_factory=dict)  # token -> open case, when known
    letter: Any = None
    directory: Any = None  # departments and named lists, set by the Sorter
    auth: Any = None  # mailproc.trust.Auth of the From domain, set by the Sorter; None: unknown
    _folded: dict[str, str] = field(default_factory=dict, repr=False)

    def known_reader(self, addr: str = "") -> bool:
        return self.reader

    def our_message(self, message_id: str) -> bool:
        return message_id in self.our_ids

    def open_case(self, token: str) -> Any:
        return self.cases.get(token)

    def folded(self, part: str) -> str:
        """The letter's subject, body or attachment names, folded once per letter."""
        got = self._folded.get(part)
        if got is None:
            letter = self.letter
            if part == "subject":
                got = fold(letter.subject)
            elif part == "body":
                got = fold(letter.text or "")
                for inner in letter.forwarded:
                    got += "\n" + fold(inner.subject) + "\n" + fold(inner.text or "")
            else:  # "names"
                got = "\n".join(fold(a.name) for a in letter.all_attachments())
            self._folded[part] = got
        return got


def thread_ids(letter) -> list[str]:
    return [m for m in [letter.in_reply_to, *letter.references] if m]


def offline_facts(letter, tokens=None) -> Facts:
    """Facts from the letter alone: our signed Message-IDs are still recognised by signature."""
    hits = tokens.find_in_letter(letter) if tokens is not None else []
    ours = frozenset(m for m in thread_ids(letter)
                     if tokens is not None and tokens.verify_message_id(m))
    return Facts(tokens=hits, our_ids=ours, letter=letter)


class FactsGatherer:
    """Gathers facts from the database, tolerant of tables other issues have not built yet.

    Everything, the look-up of which tables exist included, goes through the one session the
    caller holds or the one opened here: on SQLite every transaction takes the write lock
    (BEGIN IMMEDIATE), so a second connection next to a held session would wait the whole
    busy timeout and then fail (``rules replay`` waited 30 s and decided without the outbox
    facts)."""

    def __init__(self, db, tokens=None):
        self.db = db
        self.tokens = tokens
        self._tables: set[str] | None = None

    def tables(self, session) -> set[str]:
        """The tables of the database, read once through ``session``'s own connection."""
        if self._tables is None:
            self._tables = set(inspect(session.connection()).get_table_names())
        return self._tables

    def gather(self, letter, session=None, *, strict: bool = False) -> Facts:
        """Facts for one letter; pass ``session`` when the caller already holds one (on
        SQLite every transaction takes the write lock, so a second session would wait).
        When the database does not answer, the intake decides on offline facts (logged);
        ``strict`` (replay, whose answer would be wrong without them) raises instead."""
        facts = offline_facts(letter, self.tokens)
        if self.db is None:
            return facts
        try:
            if session is not None:
                self._fill(session, letter, facts)
            else:
                with self.db.session() as s:
                    self._fill(s, letter, facts)
        except Exception as exc:  # noqa: BLE001 - facts are hints; deciding goes on offline
            if strict:
                raise
            log.warning("facts not gathered (deciding on the letter alone): %s",
                        type(exc).__name__)
        return facts

    def _fill(self, s, letter, facts: Facts) -> None:
        facts.our_ids = facts.our_ids | self._outbox_ids(s, thread_ids(letter))
        facts.reader = self._wrote_before(s, letter.sender.email)

    def _outbox_ids(self, s, ids: Iterable[str]) -> frozenset[str]:
        ids = list(ids)
        if not ids or "outbox" not in self.tables(s):
            return frozenset()
        rows = s.execute(text("SELECT message_id FROM outbox WHERE message_id IN :ids")
                         .bindparams(_expanding("ids")), {"ids": ids})
        return frozenset(r[0] for r in rows)

    def _wrote_before(self, s, addr: str) -> bool:
        from mailproc.store.models import Message

        if not addr:
            return False
        count = s.scalar(select(func.count()).select_from(Message).where(
            Message.from_addr == addr,
            Message.category.notin_(("automatic", "bounce", "review", ""))))
        return bool(count)


def _expanding(name: str):
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)
