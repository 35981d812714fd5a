"""``mailproc run [--once]``: the daemon, or one pass over what waits."""

from __future__ import annotations

from mailproc.app import App
from mailproc.logs import setup_logging


def register(sub) -> None:
    p = sub.add_parser("run", help="run the daemon (or one pass with --once)")
    p.add_argument("--once", action="store_true",
                   help="process everything waiting, send what is due, and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    app = App.from_args(args)
    setup_logging(app.settings.log)
    if args.once:
        with app.source() as source:
            stats = app.intake(source).run_once()
        print(f"processed {stats.processed}, review {stats.review}, "
              f"recovered {stats.recovered}, already known {stats.skipped}")
        return 0
    from mailproc.daemon import run_daemon

    return run_daemon(app)
