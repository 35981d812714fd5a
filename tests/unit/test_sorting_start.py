"""Rules at start (issue 18, part 5): the last good set is kept in the database; a start with
broken rules runs it, or with none stored processes nothing until the files are fixed; built-in
sorting only when no rules folder is configured at all."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.app import App
from mailproc.cli import main
from mailproc.config import load_settings
from mailproc.mailbox.maildir import MaildirSource
from mailproc.registrations.vault import new_key
from mailproc.sorting.models import StoredRuleFile, StoredRuleSet
from mailproc.store.models import Decision, Message
from tests.unit.test_sorting_runtime import QUESTION, deliver, outbox_rows, write_config

BROKEN = "- name: Сломанное\n  description: x\n  when: sender-domian\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())  # the shipped rules take documents
    cfg = write_config(tmp_path)
    source = MaildirSource(str(tmp_path / "data" / "Maildir"))
    source.open()
    return cfg, source, tmp_path / "rules"


def fresh_app(cfg: Path, **environ) -> App:
    """A new process's App (a restart): nothing kept in memory; its Sorter built (started)."""
    app = App(load_settings(str(cfg), environ={**os.environ, **environ}))
    app.sorter  # noqa: B018 - what a start does first
    return app


def touch_later(path: Path) -> None:
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def stored_sets(app) -> list[tuple[str, int]]:
    with app.db.session() as s:
        return [(r.version, len(r.files)) for r in s.scalars(
            select(StoredRuleSet).order_by(StoredRuleSet.id))]


def inbox(source) -> int:
    return len(source.list_uids())


def test_a_clean_set_is_stored_once_per_content(env):
    cfg, _source, rules = env
    app = fresh_app(cfg)
    version = app.sorter.ruleset.version
    names = {p.name for p in rules.glob("[0-9][0-9]-*.yaml")} | {"lists.yaml",
                                                                  "departments.yaml"}
    with app.db.session() as s:
        row = s.scalar(select(StoredRuleSet))
        assert (row.version, row.mailbox, len(row.digest)) == (version, "default", 64)
        files = {f.name: f.content for f in row.files}
    assert set(files) == names
    assert files["10-automatic.yaml"] == (rules / "10-automatic.yaml").read_bytes()
    # checks that find nothing new, and a restart with the same files, store nothing
    assert app.sorter.reload_if_changed() is False
    assert fresh_app(cfg).sorter.ruleset.version == version
    assert stored_sets(app) == [(version, len(names))]
    # a change is a new set; undoing it stores nothing new but makes the old one the newest
    extra = rules / "35-extra.yaml"
    extra.write_text("- name: Лишнее\n  description: x\n  when: {subject-contains: лишнее}\n"
                     "  then:\n    - set-category: extra\n", encoding="utf-8")
    second = fresh_app(cfg).sorter.ruleset.version
    extra.unlink()
    fresh_app(cfg)
    assert [v for v, _ in stored_sets(app)] == [version, second]
    from mailproc.sorting.stored import newest

    assert newest(app.db, "default").version == version


def test_broken_at_start_runs_the_stored_set_and_tells_once(env, caplog):
    cfg, source, rules = env
    good = fresh_app(cfg).sorter.ruleset.version
    (rules / "50-broken.yaml").write_text(BROKEN, encoding="utf-8")
    caplog.set_level(logging.INFO, logger="mailproc.sorting")
    app = fresh_app(cfg)
    sorter = app.sorter
    assert sorter.ready and sorter.state == "last-good"
    assert sorter.ruleset.version == good
    assert any("неизвестное условие «sender-domian»" in p and p.startswith(str(rules))
               for p in sorter.problems)
    deliver(source, QUESTION.format(n=1).encode())
    stats = app.intake(source).run_once()
    assert stats.processed == 1
    with app.db.session() as s:
        dec = s.scalar(select(Decision))
        assert (dec.rule, dec.rules_version) != ("", "")
        assert dec.rules_version == good and dec.category == "question"
    notices = [r for r in outbox_rows(app) if r[0] == "notice"]
    assert len(notices) == 1 and notices[0][4].startswith("rules-broken:")
    # the next checks and a second restart with the same broken file: no second notice
    sorter.reload_if_changed()
    fresh_app(cfg)
    assert len([r for r in outbox_rows(app) if r[0] == "notice"]) == 1
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "running the last good rules stored in the database: version " + good in text


def notice_texts(app) -> list[str]:
    from mailproc.outbound.models import OutboxMessage

    with app.db.session() as s:
        return [r.subject + "\n" + r.text for r in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "notice"))]


def test_the_notice_says_which_rules_run(env):
    cfg, _source, rules = env
    good = fresh_app(cfg).sorter.ruleset.version
    (rules / "50-broken.yaml").write_text(BROKEN, encoding="utf-8")
    [text] = notice_texts(fresh_app(cfg))
    assert "50-broken.yaml:3" in text and "неизвестное условие «sender-domian»" in text
    assert f"последними исправными правилами, сохранёнными в базе (версия {good}" in text


def test_the_waiting_notice_says_mail_waits(env):
    cfg, _source, rules = env
    (rules / "50-broken.yaml").write_text(BROKEN, encoding="utf-8")
    [text] = notice_texts(fresh_app(cfg))
    assert "правила сортировки не загружены: письма не обрабатываются" in text
    assert "ждут во входящих" in text and "50-broken.yaml:3" in text


def test_broken_at_first_start_processes_nothing_until_fixed(env, caplog):
    cfg, source, rules = env
    broken = rules / "50-broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    caplog.set_level(logging.INFO, logger="mailproc.sorting")
    app = fresh_app(cfg)
    sorter = app.sorter
    assert not sorter.ready and sorter.state == "waiting" and sorter.ruleset is None
    from mailproc.errors import MessageError
    from mailproc.letter import decode_letter

    with pytest.raises(MessageError):  # never the built-in decision
        sorter.decide(decode_letter(QUESTION.format(n=1).encode()))
    waiting = [r for r in caplog.records if "nothing is processed" in r.getMessage()]
    assert len(waiting) == 1
    notices = [r for r in outbox_rows(app) if r[0] == "notice"]
    assert len(notices) == 1 and notices[0][4].startswith("rules-waiting:")
    for _ in range(3):  # further checks: not said again
        assert sorter.reload_if_changed() is False
    assert len([r for r in caplog.records if "nothing is processed" in r.getMessage()]) == 1
    assert stored_sets(app) == []
    # the fix is picked up by the hot-reload check, no restart
    broken.rename(rules / "35-fixed.yaml")  # 40-questions takes every letter: above it
    (rules / "35-fixed.yaml").write_text(
        "- name: Починенное\n  description: x\n  when: {subject-contains: починено}\n"
        "  then:\n    - set-category: fixed\n", encoding="utf-8")
    touch_later(rules / "35-fixed.yaml")
    assert sorter.reload_if_changed() is True
    assert sorter.ready and sorter.state == "rules"
    assert len(stored_sets(app)) == 1


def test_an_empty_rules_folder_is_broken_not_built_in(env):
    cfg, _source, rules = env
    for path in rules.glob("*.yaml"):
        path.unlink()
    sorter = fresh_app(cfg).sorter
    assert sorter.state == "waiting" and not sorter.ready
    assert any("нет ни одного файла правил" in p for p in sorter.problems)


def test_rules_check_says_no_folder_is_configured(env, monkeypatch, capsys):
    cfg, _source, _rules = env
    monkeypatch.setenv("MAILPROC_PATHS_RULES", "")
    assert main(["--config", str(cfg), "rules", "check"]) == 2
    assert "paths.rules is empty: no rules folder is configured" in capsys.readouterr().err


def test_no_rules_folder_configured_is_built_in_and_said(env, caplog):
    cfg, source, _rules = env
    caplog.set_level(logging.INFO, logger="mailproc.sorting")
    app = fresh_app(cfg, MAILPROC_PATHS_RULES="")
    assert app.sorter.state == "builtin" and app.sorter.ready
    assert any("no rules folder configured (paths.rules is empty): built-in sorting"
               in r.getMessage() for r in caplog.records)
    deliver(source, QUESTION.format(n=1).encode())
    assert app.intake(source).run_once().processed == 1
    with app.db.session() as s:
        assert s.scalar(select(Message.folder)) == "Обработанные"
        assert s.scalar(select(func.count()).select_from(StoredRuleSet)) == 0


def run_once(cfg: Path, capsys) -> str:
    """``mailproc run --once`` as a separate run would: the instance lock released after."""
    from mailproc.commands import run as run_command

    try:
        assert main(["--config", str(cfg), "run", "--once"]) == 0
    finally:
        if run_command._INSTANCE_LOCK is not None:
            run_command._INSTANCE_LOCK.release()
            run_command._INSTANCE_LOCK = None
    return capsys.readouterr().out


def status(cfg: Path, capsys) -> tuple[dict, str]:
    assert main(["--config", str(cfg), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["--config", str(cfg), "status"]) == 0
    return data, capsys.readouterr().out


def test_run_once_follows_the_same_policy_and_status_says_it(env, capsys):
    cfg, source, rules = env
    broken = rules / "50-broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    for n in range(3):
        deliver(source, QUESTION.format(n=n).encode())
    out = run_once(cfg, capsys)
    assert "nothing processed, mail waits" in out
    assert inbox(source) == 3
    data, text = status(cfg, capsys)
    state = data["rules"]["default"]
    assert state["state"] == "waiting" and state["version"] is None
    assert any("sender-domian" in p for p in state["problems"])
    assert "NOTHING IS PROCESSED, mail waits in INBOX" in text
    app = fresh_app(cfg)
    with app.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0
    # fixed: the next pass processes everything by the rules
    broken.unlink()
    out = run_once(cfg, capsys)
    assert "processed 3" in out and inbox(source) == 0
    data, text = status(cfg, capsys)
    assert data["rules"]["default"]["state"] == "rules"
    version = data["rules"]["default"]["version"]
    with app.db.session() as s:
        assert "" not in set(s.scalars(select(Message.rule)))
        assert set(s.scalars(select(Decision.rules_version))) == {version}
    # broken again at a restart: the stored set runs, status says which
    broken.write_text(BROKEN, encoding="utf-8")
    deliver(source, QUESTION.format(n=9).encode())
    out = run_once(cfg, capsys)
    assert "processed 1" in out and inbox(source) == 0
    data, text = status(cfg, capsys)
    state = data["rules"]["default"]
    assert state["state"] == "last-good" and state["version"]
    assert f"running the last good rules stored in the database: version {state['version']}" \
        in text


def test_stored_files_load_under_their_own_names(env):
    cfg, _source, rules = env
    fresh_app(cfg)
    (rules / "departments.yaml").write_text("departments: [", encoding="utf-8")
    app = fresh_app(cfg)
    assert app.sorter.state == "last-good"
    # the departments directory of the stored set is the one the actions get
    assert app.sorter.ruleset.directory.department("storage") is not None
    with app.db.session() as s:
        assert s.scalar(select(func.count()).select_from(StoredRuleFile)) > 0
