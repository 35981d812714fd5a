"""The command line: ``mailproc COMMAND ...``.

Each command lives in its own module under ``mailproc.commands`` and registers its parser;
this module only assembles them and turns mailproc's errors into one clear line and an exit
code (2 for a wrong setting or input, 1 for anything else).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mailproc.errors import ConfigError, LoadError, MailprocError, StoreError

#: command modules, in the order ``mailproc --help`` lists them
COMMAND_MODULES = [
    "run", "demo", "inspect", "messages", "review", "status", "db", "config",
    "orders", "rules", "registrations", "vault", "outbox", "templates",
    "contacts", "groups", "mailings",
    "questions", "needs",
    "backup",
    "report", "digest",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailproc",
        description="Mail processor for the personal librarian mailbox.",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (else $MAILPROC_CONFIG, else ./mailproc.toml)")
    parser.add_argument("--mailbox", metavar="NAME",
                        help="act on this mailbox of [mailboxes.*] (default: the first)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"mailproc.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, StoreError) as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return 2
    except LoadError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except MailprocError as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
