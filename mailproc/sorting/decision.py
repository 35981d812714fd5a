"""The Decision: the pure result of sorting, carried from deciding to doing.

Deciding never touches the database, the mailbox or the network (Mailman 3's rules and chains
decide, pipelines act), so a dry run is just "decide without doing", and replaying new rules
over old mail is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ActionCall:
    """One action to run, by its registry name, with the arguments the rule gave."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


@dataclass
class Decision:
    category: str
    rule: str  # the rule that decided; "" for the built-in fallback
    folder: str = ""  # where the message is filed after the commit; "" leaves it in place
    keywords: list[str] = field(default_factory=list)
    actions: list[ActionCall] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)  # every rule: hits and misses
    rules_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rule": self.rule,
            "folder": self.folder,
            "keywords": list(self.keywords),
            "actions": [a.to_json() for a in self.actions],
            "trace": list(self.trace),
            "rules_version": self.rules_version,
        }
