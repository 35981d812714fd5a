"""The registries of conditions and actions that rule files name.

Each condition and action is a small named unit (Mailman 3's rules/ and pipelines): a kebab-case
name, a one-line Russian description the librarians see in ``mailproc rules list``, and typed
parameters. Loading a rule file checks every name and argument against these specs, so a typo
is reported with its file, line and the closest known name instead of failing at 3 a.m.

Conditions are pure: ``func(letter, facts, **args) -> bool``. Actions run after deciding, in the
message's transaction: ``func(ctx, **args) -> dict``. Actions marked ``shapes`` also fill the
Decision while deciding (category, folder, keywords) so a dry run shows where mail would go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailproc.sorting.params import Param, parse_params


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    description: str
    params: dict[str, Param]
    func: Callable[..., bool]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str
    params: dict[str, Param]
    func: Callable[..., dict | None]
    #: fills the Decision while deciding: func(decision, **args)
    shape: Callable[..., None] | None = None
    #: an automatic answer or forward: refused for automatic mail, rate-limited per sender
    responds: bool = False
    #: handles mail that holds personal data (registration documents, passport numbers):
    #: the message row's subject and text are sealed with the vault key before it is written
    #: (mailproc.registrations.sealed), and such mail is never spooled in clear
    personal: bool = False


CONDITIONS: dict[str, ConditionSpec] = {}
ACTIONS: dict[str, ActionSpec] = {}


def condition(name: str, description: str, params: dict[str, str] | None = None):
    """Register a pure condition under ``name`` (params: name -> type, see params.py)."""

    def register(func: Callable[..., bool]) -> Callable[..., bool]:
        CONDITIONS[name] = ConditionSpec(name, description, parse_params(params or {}), func)
        return func

    return register


def action(name: str, description: str, params: dict[str, str] | None = None, *,
           shape: Callable[..., None] | None = None, responds: bool = False,
           personal: bool = False):
    """Register an action run after deciding, in the message's transaction."""

    def register(func: Callable[..., dict | None]) -> Callable[..., dict | None]:
        ACTIONS[name] = ActionSpec(name, description, parse_params(params or {}), func,
                                   shape=shape, responds=responds, personal=personal)
        return func

    return register


def is_personal(decision) -> bool:
    """The decision runs an action marked ``personal``: its mail may hold personal data."""
    return any(getattr(ACTIONS.get(call.name), "personal", False) for call in decision.actions)


@dataclass
class Catalogue:
    """The registries once every plugin module has been imported."""

    conditions: dict[str, ConditionSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)


def catalogue() -> Catalogue:
    from mailproc.sorting.plugins import load_plugins

    load_plugins()
    return Catalogue(dict(CONDITIONS), dict(ACTIONS))


def describe() -> list[dict[str, Any]]:
    """Every condition and action with its parameters, for ``mailproc rules list``."""
    cat = catalogue()
    out = []
    for kind, table in (("condition", cat.conditions), ("action", cat.actions)):
        for spec in sorted(table.values(), key=lambda s: s.name):
            out.append({"kind": kind, "name": spec.name, "description": spec.description,
                        "params": {k: p.show() for k, p in spec.params.items()}})
    return out
