"""Alembic migrations, applied by ``mailproc db upgrade`` and automatically at start.

The migration scripts live in the repository's ``db/`` folder, installed as the package
``mailproc.migrations`` so an installed mailproc can migrate its own database.

Alembic's own INFO lines (its plugins, its context, one line per revision: 19 at a start on a
new database, 9 on every other) are kept out of the log; a start that migrates says so in one
line, "database migrated from X to Y", and a start that does not says nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

# before alembic is imported: importing it logs a line per plugin (see the module docstring)
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

import mailproc.migrations  # noqa: E402

log = logging.getLogger("mailproc.store")


def alembic_config(db=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(mailproc.migrations.__file__).parent))
    if db is not None:
        cfg.attributes["engine"] = db.engine
    return cfg


def upgrade(db, revision: str = "heads") -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    On PostgreSQL several instances may start together: the check and the upgrade run under
    a session advisory lock, so one migrates and the others wait, then find nothing to do."""
    if db.engine.dialect.name == "postgresql":
        from mailproc.cluster import lock_key  # noqa: PLC0415

        with db.engine.connect() as lock:
            lock.exec_driver_sql("SELECT pg_advisory_lock(%s)" % lock_key("migrate"))
            lock.commit()
            try:
                _upgrade(db, revision)
            finally:
                lock.exec_driver_sql("SELECT pg_advisory_unlock(%s)" % lock_key("migrate"))
                lock.commit()
        return
    _upgrade(db, revision)


def _upgrade(db, revision: str) -> None:
    cfg = alembic_config(db)
    script = ScriptDirectory.from_config(cfg)
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == set(script.get_heads()):
        return
    command.upgrade(cfg, revision)
    log.info("database migrated from %s to %s", _shown(current),
             _shown(set(current_revision(db))))


def _shown(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "an empty database"


def current_revision(db) -> list[str]:
    with db.engine.connect() as conn:
        return list(MigrationContext.configure(conn).get_current_heads())
