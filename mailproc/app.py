"""What a command needs, built once from the settings: database, mailbox source, intake."""

from __future__ import annotations

import functools
from pathlib import Path

from mailproc.config import Settings, load_settings
from mailproc.store import Database, open_database


class App:
    def __init__(self, settings: Settings):
        self.settings = settings

    @classmethod
    def from_args(cls, args, **overrides) -> "App":
        return cls(load_settings(getattr(args, "config", None), overrides=overrides or None))

    @functools.cached_property
    def db(self) -> Database:
        return open_database(self.settings.database.url, self.settings.database.busy_timeout)

    @property
    def data_dir(self) -> Path:
        path = Path(self.settings.paths.data)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def source(self):
        from mailproc.mailbox import open_source

        return open_source(self.settings)

    def intake(self, source):
        from mailproc.intake import Intake

        return Intake(self.db, source,
                      review_folder=self.settings.mailbox.review_folder,
                      spool_dir=self.data_dir / "spool",
                      max_size=self.settings.mailbox.max_message_size)
