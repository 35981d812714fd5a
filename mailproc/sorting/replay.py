"""Replay: what would these rules have done to the mail we already sorted?

Every stored message keeps its Letter (without the bytes) and its decision, so new or candidate
rules are re-decided over history without touching the mailbox or sending anything; the
difference in category, folder and actions is what a librarian checks before a change goes live.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mailproc.letter.model import Letter
from mailproc.registrations.sealed import is_sealed_letter, letter_of, shown
from mailproc.sorting.evaluate import decide
from mailproc.sorting.facts import FactsGatherer
from mailproc.sorting.rules import RuleSet
from mailproc.store.models import Message


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


def replay(db, ruleset: RuleSet, *, since: timedelta | None = None, tokens=None,
           box=None) -> ReplayReport:
    """Decide every kept message again by ``ruleset``. Registration mail's letters are sealed
    (``registrations.sealed``): opened with the vault key ``box``, skipped without one."""
    report = ReplayReport()
    gatherer = FactsGatherer(db, tokens)
    q = select(Message).where(Message.state.in_(("done", "decided"))).order_by(Message.id)
    if since is not None:
        q = q.where(Message.received_at >= datetime.now(timezone.utc) - since)
    with db.session() as s:
        for row in s.scalars(q):
            if not row.letter or (is_sealed_letter(row.letter) and box is None):
                continue  # nothing kept, or sealed registration mail and no key
            report.seen += 1
            letter = Letter.from_json(letter_of(row, box))
            new = decide(ruleset, letter, gatherer.gather(letter, session=s))
            last = row.decisions[-1] if row.decisions else None
            old_actions = _actions(last.actions if last else [])
            new_actions = [a.to_json() for a in new.actions]
            if new.category != row.category or new_actions != old_actions:
                report.changes.append(Change(row.id, shown(row.subject, box), row.category, new.category,
                                             row.rule, new.rule, old_actions, new_actions))
    return report
