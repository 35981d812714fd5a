"""What the rules of a mailbox are doing, as ``mailproc status`` shows it.

Worked out from the rules folder and the stored sets exactly as a starting daemon would
(mailproc.sorting.runtime): ``rules`` (the files load), ``last-good`` (the files are broken;
the newest stored good set runs), ``waiting`` (broken and nothing stored: nothing is
processed, mail waits in INBOX), ``builtin`` (``paths.rules`` is empty). A running daemon
that kept a set in memory through a hot reload runs that same set: every clean load is
stored, so the newest stored set is the one it holds.
"""

from __future__ import annotations

from mailproc.errors import RuleFileError
from mailproc.localtime import local_time

#: the one-line explanation ``status`` prints per state
SAYS = {
    "rules": "version {version} ({rules} rules)",
    "last-good": "BROKEN ({count}, first at {first}); running the last good rules "
                 "stored in the database: version {version}, loaded {loaded_at}",
    "waiting": "BROKEN ({count}, first at {first}) and no last good rules stored: "
               "NOTHING IS PROCESSED, mail waits in INBOX until the files are fixed "
               "(mailproc rules check)",
    "builtin": "none configured (paths.rules is empty): built-in sorting",
}


def rules_state(settings, db) -> dict:
    """The state of ``settings``' rules (see the module docstring), JSON-ready."""
    from mailproc.mailboxes import name_of
    from mailproc.sorting import stored
    from mailproc.sorting.loader import load_rules

    folder = settings.paths.rules
    out = {"state": "builtin", "folder": folder, "version": None, "rules": None,
           "problems": [], "loaded_at": None}
    if not folder:
        return out
    try:
        ruleset = load_rules(folder, templates_dir=settings.paths.templates)
    except RuleFileError as exc:
        out["problems"] = exc.problems
    else:
        return {**out, "state": "rules", "version": ruleset.version,
                "rules": len(ruleset.rules)}
    row = stored.newest(db, name_of(settings))
    if row is None:
        return {**out, "state": "waiting"}
    return {**out, "state": "last-good", "version": row.version, "rules": row.rules,
            "loaded_at": local_time(row.loaded_at, settings.tz)}


def says(state: dict) -> str:
    """One line for ``status``."""
    problems = state["problems"]
    first = problems[0].split(": ", 1)[0] if problems else "-"
    count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
    return SAYS[state["state"]].format(count=count, first=first, **state)
