"""``mailproc run [--once] [--mailbox NAME]``: the daemon, or one pass over what waits.

Either refuses to start, exit status 78, while a configured rules or templates folder is
missing or empty (mailproc.pathcheck.refuse_to_start)."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from mailproc.app import App
from mailproc.logs import setup_logging

#: the SQLite instance lock, held until the process exits (see mailproc.cluster)
_INSTANCE_LOCK = None


def register(sub) -> None:
    p = sub.add_parser("run", help="run the daemon (or one pass with --once)")
    p.add_argument("--once", action="store_true",
                   help="process everything waiting, run the due jobs, send what is due, "
                        "and exit")
    p.add_argument("--mailbox", metavar="NAME", default=argparse.SUPPRESS,
                   help="only this mailbox of [mailboxes.*] (default: all of them)")
    p.add_argument("--at", metavar="TIME",
                   help="with --once: run the scheduled jobs as if it were TIME "
                        "(ISO 8601 with offset, e.g. 2026-12-01T10:05+09:00)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Start-up problems end the command with one line and a sysexits code (see
    mailproc.startup): 78 for a setting, 74 for the storage."""
    import sys

    from mailproc.errors import ConfigError, StorageError, StoreError
    from mailproc.startup import EX_CONFIG, EX_IOERR

    try:
        app = _start(args)
    except StorageError as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return EX_IOERR
    except (ConfigError, StoreError) as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.once:
        return run_once(app, _parse_at(args.at))
    from mailproc.daemon import run_daemon

    return run_daemon(app)


def _start(args):
    """Settings, logging, the data folder, the instance lock, the database: the App."""
    global _INSTANCE_LOCK
    import signal
    import sys
    from pathlib import Path

    from mailproc.cluster import InstanceLock
    from mailproc.startup import check_data_folder, storage_problem

    # until the daemon's loop installs its own handlers (imports, database, migrations take
    # a moment), a stop request simply ends the process with success: nothing was begun
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = App.from_args(argparse_ns(args))
    if args.at:
        _parse_at(args.at)  # a wrong --at: one line before anything starts
    if getattr(args, "mailbox", None):
        import dataclasses

        from mailproc.mailboxes import settings_for

        settings_for(app.settings, args.mailbox)  # an unknown name: one clear line
        app = App(dataclasses.replace(app.settings, mailboxes=tuple(
            m for m in app.settings.mailboxes if m.name == args.mailbox)))
    from mailproc.pathcheck import refuse_to_start

    # what refuses to start does so before anything is logged: its line is the only one
    refuse_to_start(app.settings)  # rules or templates folder missing or empty: exit 78
    check_data_folder(Path(app.settings.paths.data))
    lock = InstanceLock.for_url(app.settings.database.url)
    if lock is not None:
        try:
            lock.acquire()  # a second instance on one SQLite database stops here, one line
        except OSError as exc:
            raise storage_problem(exc, "database.url", lock.path.parent) from None
        _INSTANCE_LOCK = lock
    setup_logging(app.settings.log)
    app.db  # noqa: B018 - opened and migrated now: a database that does not open, one line
    from mailproc.trust import warn_if_unverified

    # once per process, and only once started: a start that fails says its one line alone
    warn_if_unverified(app.settings)
    return app


def argparse_ns(args):
    """``args`` without ``--mailbox``: the installation's own settings."""
    return argparse.Namespace(**{**vars(args), "mailbox": None})


def _parse_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    from mailproc.errors import ConfigError

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text}: write a time such as 2026-12-01T10:05+09:00") from None
    if at.tzinfo is None:
        raise ConfigError(f"--at {text}: give the offset, e.g. 2026-12-01T10:05+09:00")
    return at


def run_once(app, now: datetime | None = None) -> int:
    """One round, in order: intake -> post-intake hooks -> due jobs -> outbox -> tidy.
    For cron, tests and benchmarks; every mailbox this instance can lease."""
    from mailproc import jobs
    from mailproc.cluster import Leases, SentRouter
    from mailproc.daemon import reload_rules
    from mailproc.mailboxes import lease_name

    now = now or datetime.now(timezone.utc)
    leases = Leases(app.db)
    apps = app.mailbox_apps()
    opened = []
    try:
        for name, box in apps.items():
            if not leases.acquire(lease_name(box.settings)):
                print(f"mailbox {name}: read by another instance now; skipped")
                continue
            reload_rules(box)
            if not box.sorter.ready:  # the daemon's policy: broken rules, none stored
                print(f"mailbox {name}: rules not loaded and no last good rules stored; "
                      f"nothing processed, mail waits (see the log and mailproc status)")
                continue
            source = box.source()
            source.open()
            opened.append((box, source))
            stats = box.intake(source).run_once()
            jobs.after_intake(box, source)
            prefix = f"{name}: " if len(apps) > 1 else ""
            print(f"{prefix}processed {stats.processed}, review {stats.review}, "
                  f"recovered {stats.recovered}, rematched {stats.rematched}, "
                  f"gone before fetch {stats.vanished}, already known {stats.skipped}")
        ran = [name for name, outcome in jobs.run_due(app, now).items() if outcome == "ran"]
        if ran:
            print("jobs run: " + ", ".join(ran))
        # every mailbox, leased here or not: a row's Sent copy goes to its own mailbox
        _deliver(app, SentRouter(list(apps.values())))
        for box, source in opened:
            jobs.after_outbox(box, source)
    finally:
        for _box, source in opened:
            source.close()
        leases.close()
    return 0


def _deliver(app, router) -> None:
    from mailproc.outbound.sender import deliver_due

    try:
        stats = deliver_due(app, router)
        if stats.sent or stats.failed or stats.deferred:
            print(f"outbox: {stats}")
    except Exception as exc:  # noqa: BLE001 - recorded by the sender; the round goes on
        print(f"outbox pass failed: {type(exc).__name__}")
    finally:
        router.close()
