"""``mailproc db upgrade|current``: the database schema."""

from __future__ import annotations

from mailproc.app import App
from mailproc.store import open_database
from mailproc.store.migrate import current_revision, upgrade


def register(sub) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", help="apply migrations (also done at every start)")
    up.set_defaults(func=db_upgrade)
    cur = dsub.add_parser("current", help="show the schema revision")
    cur.set_defaults(func=db_current)


def db_upgrade(args) -> int:
    app = App.from_args(args)
    db = open_database(app.settings.database.url, app.settings.database.busy_timeout,
                       migrate=False)
    upgrade(db)
    print("schema at", ", ".join(current_revision(db)))
    return 0


def db_current(args) -> int:
    app = App.from_args(args)
    db = open_database(app.settings.database.url, app.settings.database.busy_timeout,
                       migrate=False)
    print(", ".join(current_revision(db)) or "(empty database)")
    return 0
