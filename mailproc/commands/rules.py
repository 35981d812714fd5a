"""``mailproc rules check|test|replay|list``: librarians try rule changes before they go live."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.config import parse_duration
from mailproc.errors import ConfigError
from mailproc.registrations.common import vault_or_none


def register(sub) -> None:
    p = sub.add_parser("rules", help="check the sorting rules, try them on a message, replay")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    rsub.required = True
    check = rsub.add_parser("check", help="report every problem in the rule files")
    check.add_argument("--rules", metavar="DIR", help="rules folder (else paths.rules)")
    check.set_defaults(func=check_rules)
    test = rsub.add_parser("test", help="dry run: how the rules sort one .eml, changing nothing")
    test.add_argument("file", metavar="FILE.eml")
    test.add_argument("--rules", metavar="DIR")
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=test_rules)
    rep = rsub.add_parser("replay", help="re-decide stored messages; list what would change")
    rep.add_argument("--since", default="30d", help="how far back, e.g. 30d, 12h (default 30d)")
    rep.add_argument("--rules", metavar="DIR", help="a candidate rules folder")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=replay_rules)
    lst = rsub.add_parser("list", help="the conditions and actions rule files may use")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_parts)


def _load(app: App, rules_dir: str | None):
    from mailproc.sorting import conditions
    from mailproc.sorting.loader import load_rules

    conditions.TIMEZONE["tz"] = app.settings.tz
    if not (rules_dir or app.settings.paths.rules):
        from mailproc.errors import ConfigError

        raise ConfigError("paths.rules is empty: no rules folder is configured (built-in "
                          "sorting); give one with --rules DIR or set paths.rules")
    return load_rules(rules_dir or app.settings.paths.rules,
                      templates_dir=app.settings.paths.templates)


def _tokens(settings):
    """Tokens only when a key already exists: a dry run must not create files."""
    from mailproc.tokens import Tokens

    key_file = settings.mail.token_secret_file or str(Path(settings.paths.data) / "token-secret")
    if os.environ.get("MAILPROC_MAIL_TOKEN_SECRET") or Path(key_file).exists():
        return Tokens.from_settings(settings)
    return None


def _rules_app(args) -> App:
    """``rules check`` and ``rules test`` with ``--rules DIR`` read only files named on the
    command line and run on built-in defaults too; without it they check the service's rules
    folder, which only its settings name."""
    return App.from_args(args, defaults_ok=bool(args.rules))


def check_rules(args) -> int:
    app = _rules_app(args)
    ruleset = _load(app, args.rules)  # RuleFileError: the CLI prints every problem, exit 2
    print(f"правила в порядке: {len(ruleset.rules)} правил в {len(ruleset.files)} файлах, "
          f"версия {ruleset.version}")
    return 0


def test_rules(args) -> int:
    from mailproc.letter import decode_letter
    from mailproc.sorting.evaluate import decide
    from mailproc.commands.inspect import sender_judgement
    from mailproc.sorting.facts import offline_facts
    from mailproc.sorting.runtime import acting
    from mailproc.trust import authenticate

    app = _rules_app(args)
    ruleset = _load(app, args.rules)
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{args.file}: не читается ({exc.strerror})") from None
    letter = decode_letter(raw)
    facts = offline_facts(letter, _tokens(app.settings))
    facts.auth = authenticate(letter, app.settings.trust)
    decision = decide(ruleset, letter, facts)
    judgement = sender_judgement(letter, app.settings, ruleset.directory)
    data = decision.to_json()
    if args.json:
        print_json({**data, "sender_auth": judgement.to_json()})
        return 0
    print(f"категория: {data['category']}")
    print(f"правило:   {data['rule'] or '(встроенное)'}")
    print(f"папка:     {data['folder'] or '(остаётся на месте)'}")
    print(f"метки:     {' '.join(data['keywords']) or '—'}")
    print("правила:")
    for t in data["trace"]:
        mark = "ПОДОШЛО" if t.get("matched") else "нет"
        print(f"  [{mark}] {t.get('rule')}")
        for h in t.get("hit", []):
            print(f"      + {h}")
        for m in t.get("miss", []):
            print(f"      - {m}")
    print("действия (не выполнялись):")
    for a in data["actions"]:
        print(f"  {a['name']} {json.dumps(a['args'], ensure_ascii=False)}")
    print(f"подлинность отправителя: {judgement.auth.show()}")
    if judgement.refused and acting(decision):
        print(f"  действия не будут выполнены, письмо уйдёт «На разбор»: {judgement.reason}")
    return 0


def replay_rules(args) -> int:
    from datetime import timedelta

    from mailproc.sorting.replay import replay

    app = App.from_args(args)
    ruleset = _load(app, args.rules)
    try:
        since = timedelta(seconds=parse_duration(args.since))
    except ValueError:
        raise ConfigError(f"--since {args.since}: напишите, например, 30d или 12h") from None
    from mailproc.outreach.importer import Progress

    bar = Progress(None, noun="письмо", at_least=0)  # stderr, on a terminal only

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar(done)

    report = replay(app.db, ruleset, since=since, tokens=_tokens(app.settings),
                    box=vault_or_none(app.settings),  # opens sealed registration mail
                    trust=app.settings.trust, progress=progress)
    bar.close()
    if args.json:
        print_json({"seen": report.seen, "counts": dict(report.counts()),
                    "changes": [c.__dict__ for c in report.changes]})
        return 0
    print(f"писем просмотрено: {report.seen}, изменится: {len(report.changes)}")
    print_table([{"id": c.id, "было": c.old_category, "станет": c.new_category,
                  "правило": c.new_rule, "тема": c.subject} for c in report.changes],
                ["id", "было", "станет", "правило", "тема"], empty="изменений нет")
    for key, n in report.counts().most_common():
        print(f"{n:6}  {key}")
    return 0


def list_parts(args) -> int:
    from mailproc.sorting.registry import describe

    parts = describe()
    if args.json:
        print_json(parts)
        return 0
    print_table([{**p, "params": ", ".join(f"{k}: {v}" for k, v in p["params"].items())}
                 for p in parts], ["kind", "name", "description", "params"])
    return 0

