"""The Sorter the daemon uses: last good rules, facts, decide, act, reload without a restart.

A librarian saving a broken rule file must not stop sorting: the Sorter keeps the last rules
that loaded, logs why the new ones did not, and tells the librarians' address once per broken
state (an outbox notice with a dedupe key). With no good rules at all it sorts by the built-in
decision (automatic mail apart from people's), so nothing is answered wrongly meanwhile.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from mailproc.errors import MessageError, RuleFileError
from mailproc.sorting import conditions
from mailproc.sorting.builtin import builtin_decide
from mailproc.sorting.context import ActionContext
from mailproc.sorting.decision import Decision
from mailproc.sorting.evaluate import decide as evaluate
from mailproc.sorting.facts import FactsGatherer
from mailproc.sorting.loader import _named_args, fingerprint, load_rules
from mailproc.sorting.params import ArgError, Env
from mailproc.sorting.registry import ACTIONS, catalogue, is_personal
from mailproc.sorting.rules import RuleSet

log = logging.getLogger("mailproc.sorting")

BROKEN_RULES_TEMPLATE = "librarians/notice"


class Sorter:
    def __init__(self, settings, db=None, *, rules_dir=None, templates_dir=None, tokens=None,
                 enqueue=None, check_interval: float | None = None):
        self.settings = settings
        self.db = db
        self.rules_dir = Path(rules_dir or settings.paths.rules)
        self.templates_dir = Path(templates_dir or settings.paths.templates)
        if tokens is None:
            from mailproc.tokens import Tokens

            tokens = Tokens.from_settings(settings)
        self.tokens = tokens
        self.enqueue = enqueue
        self.check_interval = settings.rules.reload_interval if check_interval is None \
            else check_interval
        self.gatherer = FactsGatherer(db, tokens)
        self.ruleset: RuleSet | None = None
        self.problems: list[str] = []
        self._fingerprint = ""
        self._checked = 0.0
        conditions.TIMEZONE["tz"] = settings.tz
        catalogue()  # import every plugin so the registries are complete
        self.reload_if_changed()

    # -- rules ----------------------------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """Load the rules again when a rule or template file changed; True if new rules."""
        self._checked = time.monotonic()
        fp = fingerprint(self.rules_dir, self.templates_dir)
        if fp == self._fingerprint:
            return False
        self._fingerprint = fp
        try:
            ruleset = load_rules(self.rules_dir, templates_dir=self.templates_dir)
        except RuleFileError as exc:
            self.problems = exc.problems
            kept = self.ruleset.version if self.ruleset else "built-in"
            first = exc.problems[0].split(": ", 1)[0] if exc.problems else ""
            log.error("rules not loaded: %d problems (first at %s); still using %s",
                      len(exc.problems), first, kept)  # the lines may quote addresses
            self._tell_librarians(fp, exc.problems)
            return False
        self.ruleset, self.problems = ruleset, []
        log.info("rules loaded: version %s, %d rules", ruleset.version, len(ruleset.rules))
        return True

    def _tell_librarians(self, fp: str, problems: list[str]) -> None:
        kept = f"версия {self.ruleset.version}" if self.ruleset else "встроенные"
        if self.db is None:
            return
        from mailproc.outbound.outbox import enqueue  # noqa: PLC0415

        enqueue = self.enqueue or enqueue
        try:
            with self.db.transaction() as s:
                enqueue(s, self.settings, to=self.settings.mail.librarians_address,
                        template=BROKEN_RULES_TEMPLATE,
                        context={"title": "правила сортировки не загружены",
                                 "lines": problems,
                                 "what_to_do": "Исправьте файлы правил и проверьте командой "
                                               "«mailproc rules check». Пока ошибки не "
                                               "исправлены, письма сортируются прежними "
                                               f"правилами ({kept})."},
                        kind="notice", dedupe_key=f"rules-broken:{fp}")
        except Exception as exc:  # noqa: BLE001 - telling is best effort; the log has it
            log.warning("rules broken; notice not queued: %s", type(exc).__name__)

    # -- deciding -------------------------------------------------------------------------

    def decide(self, letter) -> Decision:
        if time.monotonic() - self._checked >= self.check_interval:
            self.reload_if_changed()
        if self.ruleset is None:
            return builtin_decide(letter)
        return evaluate(self.ruleset, letter, self.gatherer.gather(letter))

    # -- doing ----------------------------------------------------------------------------

    def act(self, session, row, letter, decision: Decision) -> list[dict]:
        """Run the decision's actions in the message's transaction; their results are kept."""
        if is_personal(decision):  # before anything flushes the row: never written in clear
            from mailproc.registrations.common import vault
            from mailproc.registrations.sealed import seal_message

            seal_message(row, vault(self.settings))
        directory = self.ruleset.directory if self.ruleset else None
        ctx = ActionContext(session=session, settings=self.settings, letter=letter, message=row,
                            decision=decision, directory=directory, tokens=self.tokens,
                            now=datetime.now(timezone.utc), enqueue=self.enqueue)
        env = Env(directory=directory)  # templates were checked at load; enqueue renders them
        for call in decision.actions:
            spec = ACTIONS.get(call.name)
            if spec is None:
                raise MessageError(f"action {call.name} is not registered")
            try:
                args = {k: spec.params[k].convert(v, env)
                        for k, v in (_named_args(spec.params, call.args or None) or {}).items()}
            except (ArgError, KeyError) as exc:
                raise MessageError(f"action {call.name}: bad arguments: {exc}") from None
            out = spec.func(ctx, **args) or {}
            ctx.results.append({"name": call.name, "result": "выполнено", **out})
        if ctx.folder:
            decision.folder = ctx.folder
        for keyword in ctx.keywords:
            if keyword not in decision.keywords:
                decision.keywords.append(keyword)
        return ctx.results
