"""The last good rule sets in the database, on SQLite and PostgreSQL: a set is written once
per content, an undone change makes the earlier set the newest again, only the newest
``KEEP`` are kept, and a stored set loads back to the same version and rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.sorting import stored
from mailproc.sorting.loader import load_rules
from mailproc.sorting.models import StoredRuleFile, StoredRuleSet
from mailproc.store import open_database
from tests.integration.test_questions_counters_pg import _drop, _pg_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXTRA = ("- name: Правило {n}\n  description: x\n  when: {{subject-contains: слово{n}}}\n"
         "  then:\n    - set-category: c{n}\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path}/rules.sqlite3")
        yield database
        database.dispose()
        return
    name, url = _pg_url()
    database = open_database(url)
    try:
        yield database
    finally:
        database.dispose()
        _drop(name)


def test_sets_are_kept_once_newest_first_and_load_back(db, tmp_path, monkeypatch):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    first = load_rules(rules)
    assert stored.keep(db, "default", first) is True
    assert stored.keep(db, "default", first) is False  # the same content: nothing written
    extra = rules / "35-extra.yaml"
    extra.write_text(EXTRA.format(n=1), encoding="utf-8")
    second = load_rules(rules)
    assert stored.keep(db, "default", second) is True
    assert stored.newest(db, "default").version == second.version
    assert stored.keep(db, "default", first) is False  # undone: the earlier set again
    assert stored.newest(db, "default").version == first.version
    back = stored.load_newest(db, "default")
    assert back.ruleset.version == first.version
    assert [r.name for r in back.ruleset.rules] == [r.name for r in first.rules]
    assert back.ruleset.sources == first.sources
    assert stored.load_newest(db, "other") is None  # per mailbox
    monkeypatch.setattr(stored, "KEEP", 3)
    for n in range(2, 6):
        extra.write_text(EXTRA.format(n=n), encoding="utf-8")
        stored.keep(db, "default", load_rules(rules))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StoredRuleSet)) == 3
        kept = set(s.scalars(select(StoredRuleFile.rule_set_id)))
        assert kept == set(s.scalars(select(StoredRuleSet.id)))
