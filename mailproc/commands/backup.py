"""``mailproc backup FILE`` and ``mailproc restore FILE``: database and vault in one archive."""

from __future__ import annotations

from pathlib import Path

from mailproc.app import App
from mailproc.backup import backup, check_exists, restore


def register(sub) -> None:
    b = sub.add_parser("backup", help="write the database and the vault to an archive")
    b.add_argument("file", help="the archive to write (.tar.gz)")
    b.set_defaults(func=run_backup)
    r = sub.add_parser("restore", help="load an archive into an empty database")
    r.add_argument("file", help="an archive written by mailproc backup")
    r.set_defaults(func=run_restore)


def run_backup(args) -> int:
    app = App.from_args(args)
    check_exists(app.settings.database.url)  # before app.db would create it
    counts = backup(app.db, app.data_dir, Path(args.file))
    print(f"backup written to {args.file}: {sum(counts.values())} rows in {len(counts)} tables")
    return 0


def run_restore(args) -> int:
    app = App.from_args(args)
    counts = restore(app.db, app.data_dir, Path(args.file))
    print(f"restored {sum(counts.values())} rows in {len(counts)} tables from {args.file}")
    return 0
