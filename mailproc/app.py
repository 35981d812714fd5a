"""What a command needs, built once from the settings: database, mailbox source, intake."""

from __future__ import annotations

import functools
from pathlib import Path

from mailproc.config import Settings, load_settings, require_file
from mailproc.store import Database, open_database


class App:
    def __init__(self, settings: Settings):
        self.settings = settings

    @classmethod
    def from_args(cls, args, *, defaults_ok: bool = False, **overrides) -> "App":
        """The installation the command line names. A command on the library's data refuses
        built-in defaults (``NoSettingsError``, config.require_file); ``defaults_ok`` is for
        the few that only read files named on the command line or shipped."""
        settings = load_settings(getattr(args, "config", None), overrides=overrides or None)
        app = cls(settings if defaults_ok else require_file(settings))
        name = getattr(args, "mailbox", None)
        return app.for_mailbox(name) if name else app

    def for_mailbox(self, name: str) -> "App":
        """This installation as one of its mailboxes sees it (mailproc.mailboxes), sharing
        the database engine."""
        from mailproc.mailboxes import settings_for

        settings = settings_for(self.settings, name)
        if settings is self.settings:
            return self
        app = App(settings)
        if "db" in self.__dict__:
            app.__dict__["db"] = self.db
        return app

    def mailbox_apps(self) -> "dict[str, App]":
        """Every mailbox of the installation, by name, each with its own settings."""
        from mailproc.mailboxes import names

        self.db  # noqa: B018 - opened (and migrated) once, shared by every mailbox
        return {name: self.for_mailbox(name) for name in names(self.settings)}

    @functools.cached_property
    def _data_folder(self) -> Path:
        """paths.data, once checked not to belong to another user while we run as root
        (mailproc.runas): the first use of the database or the data folder checks it."""
        from mailproc.runas import refuse_root_on_foreign_data

        data = Path(self.settings.paths.data)
        refuse_root_on_foreign_data(data)
        return data

    @functools.cached_property
    def db(self) -> Database:
        self._data_folder  # noqa: B018 - the check before a database file can be created
        return open_database(self.settings.database.url, self.settings.database.busy_timeout)

    @property
    def data_dir(self) -> Path:
        from mailproc.private import private_dir

        return private_dir(self._data_folder)

    def source(self):
        from mailproc.mailbox import open_source

        return open_source(self.settings)

    @functools.cached_property
    def sorter(self):
        """The rules from paths.rules, reloaded when they change; see mailproc.sorting.runtime."""
        from mailproc.sorting.runtime import Sorter

        return Sorter(self.settings, self.db)

    def intake(self, source):
        from mailproc.intake import Intake
        from mailproc.registrations.common import vault_or_none

        return Intake(self.db, source,
                      review_folder=self.settings.mailbox.review_folder,
                      spool_dir=self.data_dir / "spool",
                      max_size=self.settings.mailbox.max_message_size,
                      decide=self.sorter.decide, act=self.sorter.act,
                      vault=functools.partial(vault_or_none, self.settings),
                      max_attempts=self.settings.mailbox.max_attempts)
