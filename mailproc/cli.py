"""The command line: ``mailproc COMMAND ...``.

Each command lives in its own module under ``mailproc.commands`` and registers its parser;
this module only assembles them and turns mailproc's errors into one clear line and an exit
code (78, EX_CONFIG, when no settings file was found for a command on the library's data or a
configured folder or file is missing or empty; 2 for a wrong setting or input; 1 for anything
else). ``--version`` prints the installed distribution's version.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mailproc.errors import ConfigError, LoadError, MailprocError, StoreError
from mailproc.private import protect_process

#: command modules, in the order ``mailproc --help`` lists them
COMMAND_MODULES = [
    "run", "init", "demo", "inspect", "messages", "review", "status", "db", "config",
    "orders", "rules", "registrations", "vault", "outbox", "templates",
    "contacts", "groups", "mailings",
    "questions", "needs",
    "backup",
    "report", "digest",
]


#: commands whose parser lives in a module of another name
COMMAND_ALIASES = {"restore": "backup"}


def _modules_for(argv: list[str] | None) -> list[str]:
    """Only the module of the command being run, so a cron ``run --once`` does not import
    every command's dependencies (half of its start-up time); all of them for --help or an
    unknown command, so argparse can list them and suggest."""
    args = list(sys.argv[1:] if argv is None else argv)
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("--config", "--mailbox"):
            i += 2
            continue
        if word == "--version":
            return []  # printed while parsing: no command needed
        if word.startswith("-"):
            break
        name = COMMAND_ALIASES.get(word, word)
        return [name] if name in COMMAND_MODULES else COMMAND_MODULES
    return COMMAND_MODULES


def version() -> str:
    """The version of the installed mailproc distribution (its metadata, as pip shows it)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mailproc")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailproc",
        description="Mail processor for the personal librarian mailbox.",
    )
    parser.add_argument("--version", action="version", version=f"mailproc {version()}")
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (else $MAILPROC_CONFIG, else ./mailproc.toml, else "
                             "/etc/mailproc/mailproc.toml)")
    parser.add_argument("--mailbox", metavar="NAME",
                        help="this mailbox of [mailboxes.*] only: read it, list and count "
                             "its records (default: every mailbox)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _modules_for(argv) if argv is not None else COMMAND_MODULES:
        importlib.import_module(f"mailproc.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    protect_process()  # every file a command or the daemon writes: 0600, folders 0700
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # NoSettingsError and MissingFilesError say 78
        print(f"mailproc: {exc}", file=sys.stderr)
        return exc.exit_code
    except StoreError as exc:
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
