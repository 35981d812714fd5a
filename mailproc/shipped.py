"""The files mailproc ships for the library to edit, and ``mailproc init DIR`` copying them out.

What ships: the sorting rules (``rules/``), the templates (``templates/``) and, inside them,
the registration forms readers are sent on request (``templates/forms/``, see
mailproc.registrations.forms).

One source of truth: the repository's top-level ``rules/`` and ``templates/`` folders, where
librarians and developers edit them. ``mailproc/defaults/rules`` and
``mailproc/defaults/templates`` are symbolic links to those folders, so the package-data
entries in pyproject.toml put the very same bytes into the wheel and the sdist (setuptools
copies a link's target), and a checkout, an editable install and an installed wheel all find
them under ``SHIPPED``. Nothing is generated and nothing is kept twice in git.

``copy_out`` never overwrites: the library's edited files win over a newer shipped version.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

#: the shipped folders: rules/ and templates/ (templates/forms/ inside)
SHIPPED = Path(__file__).resolve().parent / "defaults"
FOLDERS = ("rules", "templates")
FILE_MODE, DIR_MODE = 0o644, 0o755


def shipped(name: str) -> Path:
    """The shipped folder ``rules`` or ``templates``."""
    return SHIPPED / name


def shipped_files(name: str) -> list[Path]:
    """Every file of a shipped folder, relative to it, in name order (hidden files left out:
    ``.gitkeep`` is the repository's, not the library's)."""
    root = shipped(name)
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".")
                                             for part in p.relative_to(root).parts))


@dataclass
class Copied:
    """What ``copy_out`` did, by folder: files written and files left as they were."""

    copied: dict[str, list[Path]] = field(default_factory=dict)
    left: dict[str, list[Path]] = field(default_factory=dict)


def copy_out(dest: Path) -> Copied:
    """Copy the shipped rules and templates into ``dest/rules`` and ``dest/templates``.

    A file that already exists there is left untouched (whatever its content); missing
    folders are made. Copies keep the shipped bytes. They are not personal data and the
    service's user must read them whoever ran ``init``: files 0644, new folders 0755, despite
    the private umask every command runs with (mailproc.private); the administrator then
    gives the librarians' group write access.
    """
    done = Copied()
    for name in FOLDERS:
        done.copied[name], done.left[name] = [], []
        for rel in shipped_files(name):
            target = dest / name / rel
            if target.exists():
                done.left[name].append(rel)
                continue
            _folders(target.parent)
            with (shipped(name) / rel).open("rb") as src, target.open("xb") as out:
                shutil.copyfileobj(src, out)
            target.chmod(FILE_MODE)
            done.copied[name].append(rel)
    return done


def _folders(folder: Path) -> None:
    """Make ``folder`` and its missing parents, each DIR_MODE."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        path.chmod(DIR_MODE)
