"""Every ``docs/NAME.md`` the repository's code and documents point to exists in it (issue 22:
three docstrings pointed to a docs/TEST-SERVERS.md that lives only in the developers' shared
notes, not in this repository)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POINTER = re.compile(r"\bdocs/[\w.-]+\.md\b")
SKIP = {".git", ".venv", "build", "dist", "node_modules"}


def text_files():
    for path in ROOT.rglob("*"):
        if SKIP & set(path.relative_to(ROOT).parts) or not path.is_file() \
                or path == Path(__file__).resolve():  # this file names examples
            continue
        if path.suffix in {".py", ".md", ".toml", ".txt", ".yaml", ".sh", ".service", ".cfg"} \
                or path.name == "Makefile":
            yield path


def test_every_docs_pointer_names_a_file_of_the_repository():
    missing = sorted({f"{path.relative_to(ROOT)}: {name}"
                      for path in text_files()
                      for name in POINTER.findall(path.read_text(encoding="utf-8",
                                                                 errors="replace"))
                      if not (ROOT / name).is_file()})
    assert not missing, "pointers to documents this repository does not have:\n" + \
        "\n".join(missing)
