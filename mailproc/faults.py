"""Whose fault is an exception: the mailbox's, the database's, the disk's, or the code's?

The daemon keeps these apart (issue 18): a database error is never reported as a mailbox
error, and a full disk is named as such, so the log line says what to fix. ``kind`` sorts an
exception into "mailbox" (``SourceError``: the IMAP server is away or refuses us), "database"
(any SQLAlchemy error), "storage" (an OSError of the file system: full, read-only, I/O) or
"internal" (anything else: a bug); ``reason`` is a short text for logs and ``mailproc
status`` with no personal data (exception types and errno names, never the message text,
which may quote a row).
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from mailproc.errors import SourceError

#: errno values that mean "the disk", with the words logs and status use for them
DISK = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system", errno.EIO: "I/O error"}

#: what SQLite and PostgreSQL say when their disk is full or read-only
_DB_DISK = (("disk is full", "disk full"), ("no space left", "disk full"),
            ("could not extend file", "disk full"), ("readonly database", "read-only database"),
            ("disk i/o error", "I/O error"))


def kind(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return "mailbox"
    if isinstance(exc, SQLAlchemyError):
        return "database"
    if isinstance(exc, OSError) and (exc.errno in DISK or exc.filename):
        return "storage"
    return "internal"


def is_outage(exc: BaseException) -> bool:
    """True when the failure is the database's or the disk's, not the message's: the database
    unreachable, locked, full or read-only (OperationalError, InterfaceError), or the disk
    full or failing. The intake then fails the pass (nothing is written, the message stays
    where it is and is tried again when the trouble is over) instead of sending a good
    message to review. A value the database refuses (DataError, IntegrityError, and the
    OperationalError PostgreSQL raises for a value over one of its limits, SQLSTATE class 54,
    such as an index row over 2704 bytes) is the message's own: that one goes to review."""
    if isinstance(exc, OperationalError) and _over_a_limit(exc):
        return False
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, OSError) and exc.errno in DISK


def _over_a_limit(exc: OperationalError) -> bool:
    """PostgreSQL's "program limit exceeded" (SQLSTATE class 54): psycopg names it an
    OperationalError, but a value of the letter caused it."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""
    return str(state).startswith("54")


def reason(exc: BaseException) -> str:
    """"database: OperationalError (disk full)", "storage: disk full", "mailbox:
    SourceUnavailable", "internal: KeyError"."""
    k = kind(exc)
    name = type(exc).__name__
    if k == "storage":
        return f"storage: {DISK.get(exc.errno) or errno.errorcode.get(exc.errno, name)}"
    if k == "database":
        text = str(getattr(exc, "orig", "") or "").lower()
        for needle, words in _DB_DISK:
            if needle in text:
                return f"database: {name} ({words})"
    return f"{k}: {name}"
