"""Do the folders and files the settings name exist? One line per missing one, with the fix.

Two uses:

* ``refuse_to_start`` (``mailproc run``, daemon and ``--once``): a configured rules or
  templates folder that is missing or empty stops the start with one line naming the key and
  the fix (``mailproc init``), exit status 78 (EX_CONFIG, sysexits.h; MissingFilesError).
  A fresh install whose settings point at folders nobody filled must not start sorting: with
  no rules it would file every letter as done, with no templates no notice could be written.
  Only ``paths.rules = ""`` (no rules folder configured at all) means built-in sorting,
  which the Sorter announces at start (mailproc.sorting.runtime). Files that exist but do
  not load are another matter: the Sorter's last-good / waiting policy handles them.
* ``problems`` (``mailproc config check``): every configured path, each reported: the rules
  and templates folders of every mailbox, the data folder's parent (mailproc makes the data
  folder, and the vault folder inside it, itself), the key and password files.

A folder is *empty* when it holds nothing mailproc would read: no rule file
(``NN-name.yaml``, mailproc.sorting.loader.rule_files) in a rules folder, no template
(``*.txt`` at any depth, mailproc.outbound.templates) in a templates folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailproc.errors import MissingFilesError

#: settings keys naming a file that must exist when set, and how to make it
KEY_FILES = {
    ("mailbox", "password_file"): "write the IMAP password in its first line",
    ("smtp", "password_file"): "write the SMTP password in its first line",
    ("vault", "key_file"): "make it with `mailproc vault new-key > FILE` (mode 0600)",
    ("mail", "token_secret_file"): "copy the key there (replies to mail signed with a lost "
                                   "key are no longer recognised), or leave the setting "
                                   "empty and mailproc makes a key under the data folder",
}


@dataclass(frozen=True)
class Missing:
    """One configured path that is not usable: ``key`` is the setting that names it."""

    key: str
    path: str
    problem: str  # "does not exist", "is not a folder", "has no rule files", ...
    fix: str

    def line(self) -> str:
        return f"{self.key}: {self.path} {self.problem}; {self.fix}"


def _init_fix(key: str, folder: Path, what: str) -> str:
    """The fix for a rules or templates folder: ``mailproc init`` into its parent when the
    folder has the name init gives it, else init anywhere and point the key there."""
    if folder.name == what:
        return (f"copy the shipped {what} there with `mailproc init {folder.parent}`, or "
                f"set {key} to the librarians' {what} folder")
    return (f"copy the shipped {what} with `mailproc init DIR` and set {key} to DIR/{what}, "
            f"or set it to the librarians' {what} folder")


def folder_problem(key: str, path: str | Path, what: str) -> Missing | None:
    """A rules (``what = "rules"``) or templates folder that is missing, not a folder or
    holds nothing mailproc reads; None when it is usable."""
    folder = Path(path).absolute()
    if not folder.exists():
        problem = "does not exist"
    elif not folder.is_dir():
        problem = "is not a folder"
    elif what == "rules":
        from mailproc.sorting.loader import rule_files

        problem = "" if rule_files(folder) else "has no rule files (NN-name.yaml)"
    else:
        from mailproc.outbound.templates import SUFFIX

        problem = "" if any(p.is_file() for p in folder.rglob(f"*{SUFFIX}")) \
            else f"has no templates (*{SUFFIX})"
    return Missing(key, str(folder), problem, _init_fix(key, folder, what)) if problem \
        else None


def _mailbox_keys(settings):
    """(settings as the mailbox sees them, the key its rules come from, its templates key)
    for every mailbox of the installation."""
    from mailproc.mailboxes import names, settings_for

    own = {m.name: m for m in settings.mailboxes}
    for name in names(settings):
        box = own.get(name)
        prefix = f"mailboxes.{name}."
        yield (settings_for(settings, name),
               prefix + "rules" if box is not None and box.rules else "paths.rules",
               prefix + "templates" if box is not None and box.templates else "paths.templates")


def folder_problems(settings) -> list[Missing]:
    """The rules and templates folders of every mailbox; a folder shared by several is
    reported once. A rules folder of "" is no folder: built-in sorting, not a problem."""
    out: dict[tuple[str, str], Missing] = {}
    for box, rules_key, templates_key in _mailbox_keys(settings):
        checks = [(templates_key, box.paths.templates, "templates")]
        if str(box.paths.rules):
            checks.insert(0, (rules_key, box.paths.rules, "rules"))
        for key, path, what in checks:
            found = folder_problem(key, path, what)
            if found is not None:
                out.setdefault((what, found.path), found)
    return list(out.values())


def refuse_to_start(settings) -> None:
    """MissingFilesError (one line, exit 78) when a configured rules or templates folder is
    missing or empty; see the module docstring."""
    found = folder_problems(settings)
    if found:
        more = f" (and {len(found) - 1} more: mailproc config check)" if len(found) > 1 else ""
        raise MissingFilesError(found[0].line() + more)


def _made_folder(key: str, path: str) -> Missing | None:
    """A folder mailproc makes itself (the data folder): its parent must exist, so a typo
    does not quietly grow a new tree."""
    folder = Path(path).absolute()
    if folder.exists():
        return None if folder.is_dir() else Missing(key, str(folder), "is not a folder",
                                                     "fix the path")
    parent = folder.resolve().parent
    if parent.is_dir():
        return None
    return Missing(key, str(folder), f"does not exist and neither does its folder {parent}",
                   "create that folder or fix the path (mailproc makes the data folder "
                   "itself, not the folders above it)")


def _key_file(key: str, path: str, fix: str) -> Missing | None:
    file = Path(path).absolute()
    if file.is_file():
        return None
    return Missing(key, str(file), "is a folder, not a file" if file.is_dir() else "does not exist",
                   f"{fix}, or fix the path")


def problems(settings) -> list[Missing]:
    """Every configured path that is missing or unusable (see the module docstring)."""
    found = folder_problems(settings)
    data = Path(settings.paths.data)
    for key, path in (("paths.data", settings.paths.data), ("vault.dir", settings.vault.dir)):
        if key == "vault.dir" and Path(path).resolve().parent == data.resolve():
            continue  # inside the data folder: made with it
        if (missing := _made_folder(key, path)) is not None:
            found.append(missing)
    for (section, name), fix in KEY_FILES.items():
        path = getattr(getattr(settings, section), name)
        if path and (missing := _key_file(f"{section}.{name}", path, fix)) is not None:
            found.append(missing)
    for box in settings.mailboxes:
        key = f"mailboxes.{box.name}.password_file"
        if box.password_file and (missing := _key_file(
                key, box.password_file, "write the IMAP password in its first line")):
            found.append(missing)
    return found
