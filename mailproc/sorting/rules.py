"""Loaded rules: condition trees and action lists, compiled once, evaluated many times."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Where:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Node:
    """A condition tree node: ``test`` appends what it checked to ``hits`` or ``misses``."""

    def test(self, letter, facts, hits: list[str], misses: list[str]) -> bool:
        raise NotImplementedError


@dataclass
class Leaf(Node):
    name: str
    func: Any
    args: dict[str, Any]
    label: str
    negate: bool = False

    def test(self, letter, facts, hits, misses) -> bool:
        ok = bool(self.func(letter, facts, **self.args)) != self.negate
        (hits if ok else misses).append(self.label)
        return ok


@dataclass
class All(Node):
    items: list[Node]

    def test(self, letter, facts, hits, misses) -> bool:
        return all(item.test(letter, facts, hits, misses) for item in self.items)


@dataclass
class Any_(Node):
    items: list[Node]

    def test(self, letter, facts, hits, misses) -> bool:
        return any(item.test(letter, facts, hits, misses) for item in self.items)


@dataclass
class Not(Node):
    item: Node

    def test(self, letter, facts, hits, misses) -> bool:
        inner_hits: list[str] = []
        inner_misses: list[str] = []
        ok = not self.item.test(letter, facts, inner_hits, inner_misses)
        if ok:
            hits.append("не (" + ", ".join(inner_misses) + ")")
        else:
            misses.append("не (" + ", ".join(inner_hits) + ")")
        return ok


@dataclass
class RuleAction:
    name: str
    raw: dict[str, Any]  # the arguments as written: kept in the decision row, JSON-safe
    args: dict[str, Any]  # converted (compiled) arguments
    spec: Any  # ActionSpec


@dataclass
class Rule:
    name: str
    description: str
    when: Node | None  # None: every letter
    then: list[RuleAction]
    stop: bool
    where: Where


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    directory: Any = None
    version: str = ""
    files: list[str] = field(default_factory=list)
    #: file name -> the bytes loaded (rule files and DATA_FILES): what the set is made of
    sources: dict[str, bytes] = field(default_factory=dict)
