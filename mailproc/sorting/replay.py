"""Replay: what would these rules have done to the mail we already sorted?

Every stored message keeps its Letter (without the bytes) and its decision, so new or candidate
rules are re-decided over history without touching the mailbox or sending anything; the
difference in category, folder and actions is what a librarian checks before a change goes live.

Messages are read in batches of ``BATCH`` by id, each batch in one short read transaction on
one connection, its facts gathered through that same session (on SQLite a transaction holds
the write lock: a second connection would wait the busy timeout, and the daemon would wait
for the whole replay). A fact that cannot be read stops the replay with the error instead of
deciding without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from mailproc.letter.model import Letter
from mailproc.registrations.sealed import is_sealed_letter, letter_of, shown
from mailproc.sorting.evaluate import decide
from mailproc.sorting.facts import FactsGatherer
from mailproc.sorting.rules import RuleSet
from mailproc.store.models import Message
from mailproc.trust import authenticate


@dataclass
class Change:
    id: int
    subject: str
    old_category: str
    new_category: str
    old_rule: str
    new_rule: str
    old_actions: list
    new_actions: list

    @property
    def key(self) -> str:
        if self.old_category != self.new_category:
            return f"{self.old_category or '—'} → {self.new_category}"
        return f"{self.new_category}: другие действия"


@dataclass
class ReplayReport:
    seen: int = 0
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(c.key for c in self.changes)


def _actions(items) -> list:
    return [{"name": a["name"], "args": a.get("args", {})} for a in items or ()]


#: messages read in one transaction
BATCH = 200


def replay(db, ruleset: RuleSet, *, since: timedelta | None = None, tokens=None,
           box=None, trust=None,
           progress: Callable[[int, int], None] | None = None) -> ReplayReport:
    """Decide every kept message again by ``ruleset``. Registration mail's letters are sealed
    (``registrations.sealed``): opened with the vault key ``box``, skipped without one.
    ``trust`` (TrustSettings) judges the sender's authentication as the running service does
    (``sender-authenticated``). ``progress(done, total)`` is called after every batch (see
    the module docstring)."""
    report = ReplayReport()
    gatherer = FactsGatherer(db, tokens)
    where = [Message.state.in_(("done", "decided"))]
    if since is not None:
        where.append(Message.received_at >= datetime.now(timezone.utc) - since)
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(Message).where(*where)) or 0
    done, last_id = 0, 0
    while True:
        with db.session() as s:
            rows = list(s.scalars(select(Message).where(*where, Message.id > last_id)
                                  .order_by(Message.id).limit(BATCH)))
            for row in rows:
                _replay_one(s, row, ruleset, gatherer, box, trust, report)
        if not rows:
            return report
        last_id = rows[-1].id
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))


def _replay_one(s, row, ruleset: RuleSet, gatherer: FactsGatherer, box, trust,
                report: ReplayReport) -> None:
    if not row.letter or (is_sealed_letter(row.letter) and box is None):
        return  # nothing kept, or sealed registration mail and no key
    report.seen += 1
    letter = Letter.from_json(letter_of(row, box))
    facts = gatherer.gather(letter, session=s, strict=True)
    if trust is not None:
        facts.auth = authenticate(letter, trust)
    new = decide(ruleset, letter, facts)
    last = row.decisions[-1] if row.decisions else None
    old_actions = _actions(last.actions if last else [])
    new_actions = [a.to_json() for a in new.actions]
    if new.category != row.category or new_actions != old_actions:
        report.changes.append(Change(row.id, shown(row.subject, box), row.category,
                                     new.category, row.rule, new.rule, old_actions,
                                     new_actions))
