"""``mailproc demo``: the main job on embedded defaults, over the shipped sample mailbox.

It copies the sample messages into a fresh local Maildir under the data folder, processes
them with SQLite and a ``file:`` outbox (nothing leaves the machine) by the shipped rules and
templates, sends what they queued into that outbox folder, and prints, for every message, what
the system made of it and what each action did, then the mail that landed in the outbox.

The rules and templates are the package's own (mailproc.shipped), whatever paths.rules and
paths.templates say: the samples are written for them, and an installed package has them
where the working folder may have none. It runs on a settings file only when one is named
(``--config``, ``$MAILPROC_CONFIG``, ``./mailproc.toml``), never on the service's
``/etc/mailproc/mailproc.toml``: a demo tried on the server must not write into the service's
data folder.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from mailproc.app import App
from mailproc.config import load_settings
from mailproc.shipped import FOLDERS, shipped


def register(sub) -> None:
    p = sub.add_parser("demo", help="process the shipped sample mailbox and show the result")
    p.add_argument("--data", default=None,
                   help="folder for the demo's database, Maildir and outbox "
                        "(default: demo/ under paths.data); emptied first")
    p.set_defaults(func=run)


def sample_messages() -> list[tuple[str, bytes]]:
    folder = resources.files("mailproc.demo") / "messages"
    return sorted((p.name, p.read_bytes()) for p in folder.iterdir() if p.name.endswith(".eml"))


def throwaway_vault_key(settings, data: Path) -> Path | None:
    """A fresh vault key under the demo's data folder when none is configured.

    Registration documents are only ever stored encrypted; without a key the shipped rules
    would send every registration to review. The demo's data are thrown away on the next run,
    so a key made for it is too. Returns None when a key is configured (it is used as is).
    """
    from mailproc.errors import ConfigError
    from mailproc.registrations.vault import new_key, read_keys

    try:
        read_keys(settings)
        return None
    except ConfigError:
        pass
    path = data / "vault.key"
    path.write_text(new_key() + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def run(args) -> int:
    base = load_settings(args.config, service=False)
    data = Path(args.data) if args.data else Path(base.paths.data) / "demo"
    if data.exists():
        shutil.rmtree(data)
    (data / "Maildir").mkdir(parents=True)
    overrides = {
        "paths": {"data": str(data)},
        "mailbox": {"url": f"maildir:{data / 'Maildir'}"},
        "smtp": {"url": f"file:{data / 'outbox'}"},
        "database": {"url": f"sqlite:///{data / 'mailproc.sqlite3'}"},
    }
    overrides["paths"].update({name: str(shipped(name).resolve()) for name in FOLDERS})
    notes = []
    key_file = throwaway_vault_key(base, data)
    if key_file is not None:
        overrides["vault"] = {"key_file": str(key_file)}
        notes.append(f"ключ хранилища документов не настроен: для демонстрации создан временный "
                     f"ключ {key_file}")
    app = App(load_settings(args.config, overrides=overrides, service=False))
    from mailproc.demo.report import run_and_report

    return run_and_report(app, sample_messages(), notes)
