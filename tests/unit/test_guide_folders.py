"""The librarians' guide lists exactly the folders mailproc files mail into (issue 22: it said
documents stay in «Регистрация», missed «Персональные данные», and named «Черновики» and
«Отправленные» where the folders are ``Drafts`` and ``Sent``).

The folders come from the shipped rules (every ``move-to-folder`` of rules/*.yaml, read by the
rules loader) and from the settings' defaults (every ``folder`` or ``*_folder`` setting: review,
Sent, Drafts, the orders' folder, the restricted folder); the guide's table in section 1 must
name each of them once and nothing else.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mailproc.config import Settings
from mailproc.sorting.loader import load_rules

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.ru.md"


def rule_folders() -> dict[str, list[str]]:
    """folder -> the shipped rules that file into it."""
    ruleset = load_rules(ROOT / "rules", templates_dir=ROOT / "templates")
    out: dict[str, list[str]] = {}
    for rule in ruleset.rules:
        for action in rule.then:
            if action.name == "move-to-folder":
                out.setdefault(action.raw["folder"], []).append(rule.name)
    return out


#: settings that only name the server's own special-use folders for rules that write "Junk"
#: or "Trash" (mailproc.mailbox.folders); nothing files there unless a rule says so, and the
#: shipped rules do not (rule_folders() would list them)
LOOK_UP_ONLY = {"mailbox.junk_folder", "mailbox.trash_folder"}


def setting_folders() -> dict[str, str]:
    """folder -> the setting (section.key) whose default it is."""
    defaults = Settings()
    out: dict[str, str] = {}
    for section in dataclasses.fields(defaults):
        values = getattr(defaults, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        for f in dataclasses.fields(values):
            if f"{section.name}.{f.name}" in LOOK_UP_ONLY:
                continue
            if f.name == "folder" or f.name.endswith("_folder"):
                out[getattr(values, f.name)] = f"{section.name}.{f.name}"
    return out


def guide_folders() -> list[str]:
    """The first column of the table in section 1, as written (bold and code marks off)."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## 1.", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows[0].startswith("| папка |"), rows[:1]
    return [re.sub(r"[*`]", "", row.split("|")[1]).strip() for row in rows[2:]]


def test_the_guide_lists_every_folder_mail_is_filed_into_and_no_other():
    listed = guide_folders()
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    expected = {**{f: "rules: " + ", ".join(r) for f, r in rule_folders().items()},
                **{f: "setting " + k for f, k in setting_folders().items()}}
    missing = {f: why for f, why in expected.items() if f not in listed}
    unknown = [f for f in listed if f not in expected]
    assert not missing, f"folders mail is filed into that docs/guide.ru.md does not list: {missing}"
    assert not unknown, f"docs/guide.ru.md lists folders nothing files into: {unknown}"


def test_the_folders_the_issue_named():
    """The cases issue 22 found, so that a table read the old way fails here by name."""
    listed = guide_folders()
    assert {"Drafts", "Sent", "Персональные данные", "Заказы", "На разбор"} <= set(listed)
    assert "Черновики" not in listed and "Отправленные" not in listed
    assert setting_folders()["Персональные данные"] == "registrations.restricted_folder"
    assert "Заказы фрагментов от читателей" in rule_folders()["Заказы"]
