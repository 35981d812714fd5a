"""The Sorter the daemon uses: last good rules, facts, decide, act, reload without a restart.

A librarian saving a broken rule file must not stop sorting, and must not make mailproc
guess. What the Sorter runs, by the state of the rules folder (``paths.rules``):

``rules``      the files load: they run. Each set that loads cleanly is kept in the
               database as this mailbox's last good set (mailproc.sorting.stored), once per
               distinct content.
``last-good``  the files are broken: the last good set keeps running, the one loaded before
               in this process or, at a start, the newest stored in the database. The
               problems are logged and the librarians told once per broken state (an outbox
               notice with a dedupe key).
``waiting``    the files are broken at a start and no good set was ever stored: nothing is
               decided. ``ready`` is False, the intake is not run (mail waits in INBOX
               untouched), and the hot-reload check starts processing as soon as the files
               are fixed. Said once in the log and to the librarians; ``mailproc status``
               shows it.
``builtin``    no rules folder is configured at all (``paths.rules = ""``): the built-in
               decision (automatic mail and bounces apart from people's), said at start.

An empty or missing rules folder is a broken one, not "no rules": a folder wiped by a
failed deploy must not turn into built-in sorting that files every letter as done. At a
start ``mailproc run`` does not get this far: it refuses to start on such a folder
(mailproc.pathcheck), so the states above apply to one wiped or broken while running, and
to files that exist but do not load.
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
from mailproc.trust import authenticate, judge

log = logging.getLogger("mailproc.sorting")

BROKEN_RULES_TEMPLATE = "librarians/notice"
#: why nothing is decided while the Sorter waits (a review retry says it)
WAITING_REASON = ("правила сортировки не загружены, а сохранённых исправных правил нет; "
                  "исправьте файлы правил (mailproc rules check)")
BUILTIN_LOG = ("no rules folder configured (paths.rules is empty): built-in sorting only "
               "(bounces, automatic mail, the rest to %s)")


class Sorter:
    def __init__(self, settings, db=None, *, rules_dir=None, templates_dir=None, tokens=None,
                 enqueue=None, check_interval: float | None = None):
        from mailproc.mailboxes import name_of

        self.settings = settings
        self.db = db
        folder = settings.paths.rules if rules_dir is None else rules_dir
        #: None: no rules folder configured, built-in sorting (see the module docstring)
        self.rules_dir = Path(folder) if str(folder) else None
        self.templates_dir = Path(templates_dir or settings.paths.templates)
        if tokens is None:
            from mailproc.tokens import Tokens

            tokens = Tokens.from_settings(settings)
        self.tokens = tokens
        self.enqueue = enqueue
        self.check_interval = settings.rules.reload_interval if check_interval is None \
            else check_interval
        self.gatherer = FactsGatherer(db, tokens)
        self.mailbox = name_of(settings)
        self.ruleset: RuleSet | None = None
        self.problems: list[str] = []
        #: when the running set was stored, if it came from the database at this start
        self.stored_at: datetime | None = None
        self._fingerprint = ""
        self._checked = 0.0
        conditions.TIMEZONE["tz"] = settings.tz
        catalogue()  # import every plugin so the registries are complete
        if self.rules_dir is None:
            from mailproc.sorting.builtin import PEOPLE_FOLDER

            log.warning(BUILTIN_LOG, PEOPLE_FOLDER)
        self.reload_if_changed()

    # -- state ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """False while nothing may be decided: broken rules and no last good set."""
        return self.ruleset is not None or self.rules_dir is None

    @property
    def state(self) -> str:
        """``rules``, ``last-good``, ``waiting`` or ``builtin`` (see the module docstring)."""
        if self.rules_dir is None:
            return "builtin"
        if self.ruleset is None:
            return "waiting"
        return "last-good" if self.problems else "rules"

    # -- rules ----------------------------------------------------------------------------

    def reload_if_changed(self) -> bool:
        """Load the rules again when a rule or template file changed; True if new rules."""
        self._checked = time.monotonic()
        if self.rules_dir is None:
            return False
        fp = fingerprint(self.rules_dir, self.templates_dir)
        if fp == self._fingerprint:
            return False
        self._fingerprint = fp
        try:
            ruleset = load_rules(self.rules_dir, templates_dir=self.templates_dir)
        except RuleFileError as exc:
            self.problems = exc.problems
            if self.ruleset is None:
                self._run_stored()
            first = exc.problems[0].split(": ", 1)[0] if exc.problems else ""
            if self.ruleset is None:  # the lines may quote addresses: the count and place
                log.error("rules not loaded: %d problems (first at %s); no last good rules "
                          "stored: nothing is processed, mail waits until the rules are "
                          "fixed", len(exc.problems), first)
            else:
                log.error("rules not loaded: %d problems (first at %s); still using %s",
                          len(exc.problems), first, self.ruleset.version)
            self._tell_librarians(fp, exc.problems)
            return False
        self.ruleset, self.problems, self.stored_at = ruleset, [], None
        log.info("rules loaded: version %s, %d rules", ruleset.version, len(ruleset.rules))
        self._keep(ruleset)
        return True

    def _keep(self, ruleset: RuleSet) -> None:
        """Store a cleanly loaded set as the last good one (best effort: it runs anyway)."""
        if self.db is None:
            return
        from mailproc.sorting import stored

        try:
            if stored.keep(self.db, self.mailbox, ruleset):
                log.info("rules %s stored as the last good set", ruleset.version)
        except Exception as exc:  # noqa: BLE001 - the set runs; the next clean load retries
            log.warning("rules %s not stored as the last good set: %s", ruleset.version,
                        type(exc).__name__)

    def _run_stored(self) -> None:
        """At a start with broken files: run the newest stored good set, if there is one."""
        if self.db is None:
            return
        from mailproc.sorting import stored

        try:
            found = stored.load_newest(self.db, self.mailbox)
        except Exception as exc:  # noqa: BLE001 - retried at the next check
            log.warning("last good rules not read: %s", type(exc).__name__)
            self._fingerprint = ""
            return
        if found is not None:
            self.ruleset, self.stored_at = found.ruleset, found.loaded_at
            log.warning("running the last good rules stored in the database: version %s, "
                        "%d rules, loaded %s", found.ruleset.version, len(found.ruleset.rules),
                        found.loaded_at.isoformat(timespec="seconds"))

    def _kept_text(self) -> str:
        if self.ruleset is None:
            return ("Исправных правил нет: файлы не загружаются, а сохранённых в базе правил "
                    "ещё нет. Письма не обрабатываются и ждут во входящих; обработка начнётся "
                    "сама, как только файлы будут исправлены.")
        if self.stored_at is not None:
            when = self.stored_at.astimezone(self.settings.tz).strftime("%d.%m.%Y %H:%M")
            return ("Пока ошибки не исправлены, письма сортируются последними исправными "
                    f"правилами, сохранёнными в базе (версия {self.ruleset.version}, "
                    f"загружены {when}).")
        return ("Пока ошибки не исправлены, письма сортируются прежними правилами "
                f"(версия {self.ruleset.version}).")

    def _tell_librarians(self, fp: str, problems: list[str]) -> None:
        if self.db is None:
            return
        from mailproc.outbound.outbox import enqueue  # noqa: PLC0415

        enqueue = self.enqueue or enqueue
        waiting = self.ruleset is None
        title = "правила сортировки не загружены" + (": письма не обрабатываются" if waiting
                                                     else "")
        try:
            with self.db.transaction() as s:
                enqueue(s, self.settings, to=self.settings.mail.librarians_address,
                        template=BROKEN_RULES_TEMPLATE,
                        context={"title": title, "lines": problems,
                                 "what_to_do": "Исправьте файлы правил и проверьте командой "
                                               "«mailproc rules check». " + self._kept_text()},
                        kind="notice",
                        dedupe_key=f"rules-{'waiting' if waiting else 'broken'}:{fp}")
        except Exception as exc:  # noqa: BLE001 - telling is best effort; the log has it
            log.warning("rules broken; notice not queued: %s", type(exc).__name__)

    # -- deciding -------------------------------------------------------------------------

    def decide(self, letter) -> Decision:
        if time.monotonic() - self._checked >= self.check_interval:
            self.reload_if_changed()
        if self.ruleset is None:
            if self.rules_dir is None:
                return builtin_decide(letter)
            raise MessageError(WAITING_REASON)  # the intake is not run meanwhile (ready)
        facts = self.gatherer.gather(letter)
        facts.auth = authenticate(letter, self.settings.trust)
        return evaluate(self.ruleset, letter, facts)

    # -- doing ----------------------------------------------------------------------------

    def act(self, session, row, letter, decision: Decision) -> list[dict]:
        """Run the decision's actions in the message's transaction; their results are kept."""
        if is_personal(decision):  # before anything flushes the row: never written in clear
            from mailproc.registrations.common import vault
            from mailproc.registrations.sealed import seal_message

            seal_message(row, vault(self.settings))
        directory = self.ruleset.directory if self.ruleset else None
        refuse_impostor(self.settings, directory, letter, decision)
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


def acting(decision: Decision) -> list[str]:
    """The decision's actions that do more than file the message (category, folder, keyword)."""
    return [c.name for c in decision.actions
            if (spec := ACTIONS.get(c.name)) is None or spec.shape is None]


def refuse_impostor(settings, directory, letter, decision: Decision) -> None:
    """The one gate of sender authentication (mailproc.trust.policy): a letter that claims a
    department, ЦКО, the ЛОД duty, a staff member or the librarians and fails authentication
    does nothing but get filed. If its decision holds any action beyond filing (category,
    folder, keyword), MessageError sends it to review with the Russian reason before one runs:
    no delivery, no state change, nothing relayed on its word."""
    if not acting(decision):
        return
    verdict = judge(letter, settings, directory)
    if verdict.refused:
        log.warning("message refused: its sender (class %s) failed authentication (%s)",
                    verdict.claim.kind, verdict.auth.status)
        raise MessageError(verdict.reason)
