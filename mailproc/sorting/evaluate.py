"""Deciding: run the rules over one letter and its facts -> Decision. Pure, no I/O.

Rules are tried in order. A rule whose conditions hold contributes its actions; filing actions
shape the decision at once (a later matching rule overrides an earlier one's folder or
category). The first matching rule with ``stop`` (the default) ends the search. The trace keeps,
for every rule tried, the conditions that hit and missed: "why did this go there?".

Deciding must stay cheap next to decoding (issue 4: under 10% of it), so the condition trees are
compiled once per rule set into plain closures, and a condition written the same way in several
rules («not: automatic», «sender-department», «sender-address: сотрудники» open most of the
shipped rules) is computed once per letter: conditions are pure functions of (letter, facts), so
a per-letter memo cannot change an answer, only skip repeating it. The trace is the same as
``Node.test`` writes (rules.py), hit for hit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.decision import ActionCall, Decision
from mailproc.sorting.params import AddressSet
from mailproc.sorting.rules import All, Any_, Leaf, Node, Not, RuleSet
from mailproc.sorting.text import KeywordMatcher

#: compiled test: (letter, facts, memo, hits, misses) -> bool
Test = Callable[[object, object, dict, list, list], bool]


def decide(ruleset: RuleSet, letter, facts) -> Decision:
    facts.directory = ruleset.directory
    decision = Decision(category="", rule="", rules_version=ruleset.version)
    trace = decision.trace
    memo: dict = {}
    matched = False
    for rule, test in _plan(ruleset):
        hits: list[str] = []
        misses: list[str] = []
        ok = test is None or test(letter, facts, memo, hits, misses)
        trace.append({"rule": rule.name, "matched": ok, "hit": hits, "miss": misses})
        if not ok:
            continue
        matched = True
        decision.rule = rule.name
        for act in rule.then:
            if act.spec.shape is not None:
                act.spec.shape(decision, **act.args)
            decision.actions.append(ActionCall(act.name, act.raw))
        if rule.stop:
            break
    if not matched:
        fallback = builtin_decide(letter)
        fallback.trace = decision.trace + fallback.trace
        fallback.rules_version = ruleset.version
        return fallback
    decision.category = decision.category or "other"
    return decision


def _plan(ruleset: RuleSet) -> list:
    """[(rule, compiled test or None)], built on first use and kept on the rule set (rebuilt
    when its list of rules is replaced)."""
    cached = ruleset.__dict__.get("_compiled")
    if cached is not None and cached[0] is ruleset.rules and len(cached[1]) == len(ruleset.rules):
        return cached[1]
    shared = _shared_keys(rule.when for rule in ruleset.rules)
    plan = [(rule, None if rule.when is None else compile_node(rule.when, shared))
            for rule in ruleset.rules]
    ruleset.__dict__["_compiled"] = (ruleset.rules, plan)
    return plan


def _leaves(node: Node):
    if type(node) is Leaf:
        yield node
    elif type(node) is All or type(node) is Any_:
        for item in node.items:
            yield from _leaves(item)
    elif type(node) is Not:
        yield from _leaves(node.item)


def _shared_keys(trees) -> frozenset:
    """Memo keys of the conditions written more than once: only those are worth memoising."""
    seen: set = set()
    shared: set = set()
    for tree in trees:
        for leaf in _leaves(tree) if tree is not None else ():
            key = _memo_key(leaf)
            (shared if key in seen else seen).add(key)
    return frozenset(shared)


def compile_node(node: Node, shared: frozenset = frozenset()) -> Test:
    """One condition tree as nested closures that append to hits/misses like ``Node.test``;
    leaves whose memo key is in ``shared`` are computed once per letter."""
    kind = type(node)
    if kind is Leaf:
        return _leaf(node, shared)
    if kind is All or kind is Any_:
        items = tuple(compile_node(item, shared) for item in node.items)
        want = kind is Any_  # All stops at the first miss, Any at the first hit

        def group(letter, facts, memo, hits, misses) -> bool:
            for item in items:
                if item(letter, facts, memo, hits, misses) is want:
                    return want
            return not want

        return group
    if kind is Not:
        inner = compile_node(node.item, shared)

        def negation(letter, facts, memo, hits, misses) -> bool:
            inner_hits: list[str] = []
            inner_misses: list[str] = []
            ok = not inner(letter, facts, memo, inner_hits, inner_misses)
            if ok:
                hits.append("не (" + ", ".join(inner_misses) + ")")
            else:
                misses.append("не (" + ", ".join(inner_hits) + ")")
            return ok

        return negation
    return lambda letter, facts, memo, hits, misses: node.test(letter, facts, hits, misses)


def _leaf(node: Leaf, shared: frozenset) -> Test:
    func, args, label, negate = node.func, node.args, node.label, bool(node.negate)
    key = _memo_key(node)
    if key in shared:
        def memoised(letter, facts, memo, hits, misses) -> bool:
            got = memo.get(key)
            if got is None:
                got = memo[key] = bool(func(letter, facts, **args))
            ok = got is not negate
            (hits if ok else misses).append(label)
            return ok

        return memoised
    if args:
        def leaf(letter, facts, memo, hits, misses) -> bool:
            ok = bool(func(letter, facts, **args)) is not negate
            (hits if ok else misses).append(label)
            return ok

        return leaf

    def bare(letter, facts, memo, hits, misses) -> bool:
        ok = bool(func(letter, facts)) is not negate
        (hits if ok else misses).append(label)
        return ok

    return bare


def _memo_key(node: Leaf) -> tuple:
    """Equal for leaves that compute the same thing (same function, equal arguments)."""
    try:
        return (node.func, tuple(sorted((k, _frozen(v)) for k, v in node.args.items())))
    except TypeError:  # an argument we cannot compare: this leaf is memoised on its own
        return (node.func, id(node))


def _frozen(value):
    if isinstance(value, KeywordMatcher):
        return ("keywords", tuple(value.phrases))
    if isinstance(value, re.Pattern):
        return ("regex", value.pattern, value.flags)
    if isinstance(value, AddressSet):
        return ("addresses", value.exact, value.globs)
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, str | int | float | bool | frozenset) or value is None:
        return value
    return ("object", id(value))  # the same object (a department): kept alive by the rule set
