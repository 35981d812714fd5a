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
    chk = csub.add_parser("check", help="load the settings and report the first problem")
    chk.set_defaults(func=check)
    show = csub.add_parser("show", help="print the settings in effect (secrets hidden)")
    show.set_defaults(func=show_settings)


def check(args) -> int:
    app = App.from_args(args)
    print(f"settings OK ({app.settings.source or 'built-in defaults'})")
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
