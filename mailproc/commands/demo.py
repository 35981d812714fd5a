"""``mailproc demo``: the main job on embedded defaults, over the shipped sample mailbox.

It copies the sample messages into a fresh local Maildir under the data folder, processes
them with SQLite and a ``file:`` outbox (nothing leaves the machine), and prints, for every
message, what the system made of it.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from mailproc.app import App
from mailproc.config import load_settings


def register(sub) -> None:
    p = sub.add_parser("demo", help="process the shipped sample mailbox and show the result")
    p.add_argument("--data", default=None,
                   help="folder for the demo's database, Maildir and outbox "
                        "(default: demo/ under paths.data); emptied first")
    p.set_defaults(func=run)


def sample_messages() -> list[tuple[str, bytes]]:
    folder = resources.files("mailproc.demo") / "messages"
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir() if p.name.endswith(".eml"))


def run(args) -> int:
    base = load_settings(args.config)
    data = Path(args.data) if args.data else Path(base.paths.data) / "demo"
    if data.exists():
        shutil.rmtree(data)
    (data / "Maildir").mkdir(parents=True)
    app = App(load_settings(args.config, overrides={
        "paths": {"data": str(data)},
        "mailbox": {"url": f"maildir:{data / 'Maildir'}"},
        "smtp": {"url": f"file:{data / 'outbox'}"},
        "database": {"url": f"sqlite:///{data / 'mailproc.sqlite3'}"},
    }))
    from mailproc.mailbox.maildir import MaildirSource

    source = MaildirSource(str(data / "Maildir"))
    source.open()
    names = {}
    for name, raw in sample_messages():
        uid = source.append("INBOX", raw)
        names[uid] = name
    from mailproc.demo.report import run_and_report

    return run_and_report(app, names)
