"""Deciding: run the rules over one letter and its facts -> Decision. Pure, no I/O.

Rules are tried in order. A rule whose conditions hold contributes its actions; filing actions
shape the decision at once (a later matching rule overrides an earlier one's folder or
category). The first matching rule with ``stop`` (the default) ends the search. The trace keeps,
for every rule tried, the conditions that hit and missed: "why did this go there?".

Deciding must stay cheap next to decoding (issue 4: under 10% of it), so the condition trees are
compiled once per rule set into plain closures, and a condition written the same way in several
rules («not: automatic», «sender-department», «sender-address: сотрудники» open most of the
shipped rules) is computed once per letter, and so is a group written the same way in several
rules («not: any: [sender-department, sender-address: сотрудники]»), whose hits and misses are
then copied into the trace. Conditions are pure functions of (letter, facts), so a per-letter
memo cannot change an answer, only skip repeating it. The trace is the same as ``Node.test``
writes (rules.py), hit for hit.
"""

from __future__ import annotations

import operator
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
    """[(rule, compiled test or None)], built on first use and kept on the rule set; built
    again when its rules are replaced (a rule's conditions are read when it is compiled)."""
    cached = ruleset.__dict__.get("_compiled")
    rules = ruleset.rules
    if (cached is not None and len(cached[0]) == len(rules)
            and all(map(operator.is_, cached[0], rules))):
        return cached[1]
    shared = _shared_keys(rule.when for rule in rules)
    plan = [(rule, None if rule.when is None else compile_node(rule.when, shared))
            for rule in rules]
    ruleset.__dict__["_compiled"] = (tuple(rules), plan)
    return plan


def _nodes(node: Node):
    yield node
    if type(node) is All or type(node) is Any_:
        for item in node.items:
            yield from _nodes(item)
    elif type(node) is Not:
        yield from _nodes(node.item)


def _shared_keys(trees) -> frozenset:
    """Keys of the conditions and groups written more than once (``_key``): only those are
    worth memoising."""
    seen: set = set()
    shared: set = set()
    for tree in trees:
        for node in _nodes(tree) if tree is not None else ():
            key = _key(node)
            (shared if key in seen else seen).add(key)
    return frozenset(shared)


def _key(node: Node) -> tuple:
    """Equal for nodes that compute the same thing: a leaf by its function and arguments (its
    answer before negation), a group by its kind, items and labels (its answer and trace)."""
    kind = type(node)
    if kind is Leaf:
        return _memo_key(node)
    if kind is All or kind is Any_:
        return (kind.__name__, tuple(_trace_key(item) for item in node.items))
    if kind is Not:
        return ("Not", _trace_key(node.item))
    return ("node", id(node))


def _trace_key(node: Node) -> tuple:
    if type(node) is Leaf:
        return ("Leaf", _memo_key(node), node.label, bool(node.negate))
    return _key(node)


def compile_node(node: Node, shared: frozenset = frozenset()) -> Test:
    """One condition tree as nested closures that append to hits/misses like ``Node.test``;
    conditions and groups whose key is in ``shared`` are computed once per letter."""
    if type(node) is Leaf:
        return _leaf(node, shared)
    test = _group(node, shared)
    key = _key(node)
    if key not in shared or (type(node) is Not and type(node.item) is Leaf):
        return test  # once, or a turned leaf whose answer is memoised already

    def memoised_group(letter, facts, memo, hits, misses) -> bool:
        got = memo.get(key)
        if got is None:
            own_hits: list[str] = []
            own_misses: list[str] = []
            got = memo[key] = (test(letter, facts, memo, own_hits, own_misses), own_hits,
                               own_misses)
        hits.extend(got[1])
        misses.extend(got[2])
        return got[0]

    return memoised_group


def _group(node: Node, shared: frozenset) -> Test:
    kind = type(node)
    if kind is All or kind is Any_:
        items = tuple(compile_node(item, shared) for item in node.items)
        want = kind is Any_  # All stops at the first miss, Any at the first hit

        def group(letter, facts, memo, hits, misses) -> bool:
            for item in items:
                if item(letter, facts, memo, hits, misses) is want:
                    return want
            return not want

        return group
    if kind is Not and type(node.item) is Leaf:  # «not: automatic»: the leaf turned round
        return _leaf(node.item, shared, shown=f"не ({node.item.label})", turned=True)
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
    return lambda letter, facts, memo, hits, misses: bool(node.test(letter, facts, hits, misses))


def _leaf(node: Leaf, shared: frozenset, shown: str | None = None, turned: bool = False) -> Test:
    """A condition; ``turned``: under «not», which then shows as ``shown`` («не (...)»)."""
    func, args, label = node.func, node.args, node.label if shown is None else shown
    negate = bool(node.negate) is not turned
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
    return (node.func, tuple(sorted((k, _frozen(v)) for k, v in node.args.items())))


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
