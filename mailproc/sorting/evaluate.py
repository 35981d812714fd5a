"""Deciding: run the rules over one letter and its facts -> Decision. Pure, no I/O.

Rules are tried in order. A rule whose conditions hold contributes its actions; filing actions
shape the decision at once (a later matching rule overrides an earlier one's folder or
category). The first matching rule with ``stop`` (the default) ends the search. The trace keeps,
for every rule tried, the conditions that hit and missed: "why did this go there?".
"""

from __future__ import annotations

from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.decision import ActionCall, Decision
from mailproc.sorting.rules import RuleSet


def decide(ruleset: RuleSet, letter, facts) -> Decision:
    facts.directory = ruleset.directory
    decision = Decision(category="", rule="", rules_version=ruleset.version)
    matched = False
    for rule in ruleset.rules:
        hits: list[str] = []
        misses: list[str] = []
        ok = rule.when is None or rule.when.test(letter, facts, hits, misses)
        decision.trace.append({"rule": rule.name, "matched": ok, "hit": hits, "miss": misses})
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
