"""Several mailboxes in one installation: ``[mailboxes.NAME]`` tables in the settings file.

Why derived settings rather than a mailbox argument threaded through every call: every part
of mailproc already reads its mailbox, From address, folders, rules and templates from
``Settings``. A named mailbox is therefore the installation's settings with those keys
replaced (``settings_for``, which also records the name); an ``App`` built on them processes
that mailbox with no other change, and its outbox rows carry that mailbox's name and From
address (the sender files their Sent copies by the name, see ``mailproc.cluster.SentRouter``).
The database, data folder, SMTP server and schedules stay shared; commands given
``--mailbox NAME`` show that mailbox's records only (``mailproc.scope``).

Without any ``[mailboxes.*]`` table the installation has one mailbox, the ``[mailbox]``
section, named ``default``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailproc.errors import ConfigError

DEFAULT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

EXAMPLE = """\
# Several mailboxes, processed side by side by one daemon (each read by one instance at a
# time when several instances share a PostgreSQL database). Without [mailboxes.*] tables the
# [mailbox] section above is the one mailbox. Keys left out are taken from [mailbox], [mail]
# and [paths]; the password comes from MAILPROC_MAILBOXES_<NAME>_PASSWORD or password_file.
# [mailboxes.personbibl]
# url = "imaps://personbibl@mail.example:993/INBOX"
# from_address = "personbibl@nlrs.ru"
# review_folder = "На разбор"
# sent_folder = "Sent"
# drafts_folder = "Drafts"
# rules = "rules"
# templates = "templates"
# password_file = ""
"""


@dataclass(frozen=True)
class NamedMailbox:
    name: str
    url: str
    from_address: str = ""
    review_folder: str = ""
    sent_folder: str = ""
    drafts_folder: str = ""
    rules: str = ""
    templates: str = ""
    password_file: str = ""
    password: str = dataclasses.field(default="", repr=False)


_KEYS = {f.name for f in dataclasses.fields(NamedMailbox)} - {"name", "password"}
_PATHS = ("rules", "templates", "password_file")


def parse_mailboxes(raw: Any, base: Path, environ: dict[str, str],
                    built: dict[str, dict]) -> tuple[NamedMailbox, ...]:
    """The ``[mailboxes.NAME]`` tables, checked; one clear line on a mistake."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError("mailboxes: write one table per mailbox, [mailboxes.NAME]")
    from mailproc.config import (_KIND_CHECKS, url_has_password,  # noqa: PLC0415 - the same
                                 url_password_error)  # URL checks as [mailbox]

    out = []
    for name, table in raw.items():
        where = f"mailboxes.{name}"
        if not _NAME.match(name):
            raise ConfigError(f"{where}: a mailbox name is latin lower case, digits, - or _")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table [{where}], not a value")
        for key, value in table.items():
            if key not in _KEYS:
                raise ConfigError(f"{where}.{key}: unknown setting; known: "
                                  + ", ".join(sorted(_KEYS)))
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected text in quotes")
            if url_has_password(value):
                env = f"MAILPROC_MAILBOXES_{name.upper().replace('-', '_')}_PASSWORD"
                raise url_password_error(f"{where}.{key}", f"{env} or {where}.password_file")
        if "url" not in table:
            raise ConfigError(f"{where}.url: required, e.g. imaps://user@host:993/INBOX")
        values = {k: v.replace("{data}", built["paths"]["data"]) for k, v in table.items()}
        try:
            _KIND_CHECKS["mailbox_url"](values["url"])
            if values.get("from_address"):
                _KIND_CHECKS["email"](values["from_address"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        for key in _PATHS:
            if values.get(key) and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
        env_key = f"MAILPROC_MAILBOXES_{name.upper().replace('-', '_')}_PASSWORD"
        password = environ.get(env_key, "")
        if not password and values.get("password_file"):
            try:
                password = Path(values["password_file"]).read_text(
                    encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError):
                raise ConfigError(f"{where}.password_file: cannot read it") from None
        out.append(NamedMailbox(name=name, password=password, **values))
    return tuple(out)


def names(settings) -> list[str]:
    """Every mailbox of the installation, in settings order."""
    return [m.name for m in settings.mailboxes] or [DEFAULT]


def name_of(settings) -> str:
    """The mailbox these settings are for: the name ``settings_for`` recorded, ``default``
    for an installation of one mailbox, "" for the installation's own settings when it has
    several (the scheduled jobs queue with those: their rows belong to no one mailbox)."""
    return settings.mailbox_name or ("" if settings.mailboxes else DEFAULT)


def settings_for(settings, name: str | None):
    """The installation's settings as seen by one mailbox (see the module docstring). The
    one mailbox of an installation without [mailboxes.*] is the settings themselves."""
    if not name or (name == DEFAULT and not settings.mailboxes):
        return settings
    box = next((m for m in settings.mailboxes if m.name == name), None)
    if box is None:
        raise ConfigError(f"--mailbox {name}: no such mailbox; known: "
                          + ", ".join(names(settings)))
    from mailproc.config import Secret  # noqa: PLC0415

    mb = settings.mailbox
    mailbox = dataclasses.replace(
        mb, url=box.url, password=Secret(box.password) if box.password else mb.password,
        password_file=box.password_file or mb.password_file,
        review_folder=box.review_folder or mb.review_folder,
        sent_folder=box.sent_folder or mb.sent_folder,
        drafts_folder=box.drafts_folder or mb.drafts_folder)
    mail = dataclasses.replace(settings.mail,
                               from_address=box.from_address or settings.mail.from_address)
    paths = dataclasses.replace(settings.paths, rules=box.rules or settings.paths.rules,
                                templates=box.templates or settings.paths.templates)
    return dataclasses.replace(settings, mailbox=mailbox, mail=mail, paths=paths,
                               mailbox_name=name)


def lease_name(settings) -> str:
    """What the lease on a mailbox is keyed by: its URL (user, host, port, folder), so two
    installations naming the same mailbox differently still exclude each other."""
    from mailproc.config import redact  # noqa: PLC0415

    return "mailbox:" + redact(settings.mailbox.url)
