"""``mailproc config example|check|show``: the settings file."""

from __future__ import annotations

import dataclasses

from mailproc.app import App
from mailproc.config import SECTIONS, example_toml, redact


def register(sub) -> None:
    p = sub.add_parser("config", help="settings")
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    csub.required = True
    ex = csub.add_parser("example", help="print the documented example settings file")
    ex.set_defaults(func=lambda args: print(example_toml(), end="") or 0)
    chk = csub.add_parser("check", help="load the settings, report the first wrong value and "
                                        "every configured folder or file that is missing")
    chk.set_defaults(func=check)
    show = csub.add_parser("show", help="print the settings in effect (secrets hidden)")
    show.set_defaults(func=show_settings)


def check(args) -> int:
    """Exit 2 on a wrong value (the first, from loading); 78 when the values are right but
    paths they name are missing or empty (each one listed, mailproc.pathcheck)."""
    import sys

    from mailproc.errors import MissingFilesError
    from mailproc.pathcheck import problems

    settings = App.from_args(args).settings
    where = settings.source or "built-in defaults"
    missing = problems(settings)
    for found in missing:
        print(found.line(), file=sys.stderr)
    if missing:
        print(f"settings ({where}) name {len(missing)} missing or empty folders or files",
              file=sys.stderr)
        return MissingFilesError.exit_code
    print(f"settings OK ({where})")
    return 0


def show_settings(args) -> int:
    settings = App.from_args(args).settings
    print(f"# from {settings.source or 'built-in defaults'}")
    for box in settings.mailboxes:
        print(f"# mailbox {box.name}: {redact(box.url)}")
    for section in SECTIONS:
        print(f"[{section}]")
        obj = getattr(settings, section)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("secret"):
                value = "(set)" if value else "(not set)"
            print(f"{f.name} = {redact(value)!r}")  # a URL's password (from the environment)
        print()
    return 0
