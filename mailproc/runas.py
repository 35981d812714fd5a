"""Commands run as the service's user, not as root.

An administrator on the server types ``mailproc status`` as root out of habit. Root can read
everything, so the command works, but what it creates in the data folder (the SQLite database
of a fresh install, a spool file, a vault folder) belongs to root with mode 0600, and the
service, running as ``mailproc``, cannot open it: the next start ends with "cannot open the
database". So a command running as root refuses to touch a data folder that belongs to
another user, with one line naming that user (EX_CONFIG). A data folder root owns (an
installation run as root on purpose, the tests) is left alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mailproc.errors import ConfigError


def owner_name(uid: int) -> str:
    """The user name of ``uid`` (the number when it has none)."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return str(uid)


def refuse_root_on_foreign_data(data: Path) -> None:
    """ConfigError when this process is root and ``data`` (paths.data) exists and belongs to
    another user; nothing otherwise."""
    if os.geteuid() != 0:
        return
    try:
        uid = Path(data).stat().st_uid
    except OSError:
        return  # not there yet: the command's own checks say what is wrong
    if uid == 0:
        return
    user = owner_name(uid)
    # the command as typed (/opt/mailproc/.venv/bin/mailproc is not on root's PATH)
    command = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "mailproc" else "mailproc"
    raise ConfigError(f"paths.data {data} belongs to user {user}, and this command runs as "
                      f"root: files it made there could not be read by the service; run it "
                      f"as {user}: sudo -u {user} {command} ...")
