"""``mailproc rules test`` (dry run) and ``mailproc rules replay`` (history) as a librarian runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mailproc.cli import main

from tests.unit.test_sorting_runtime import CORPUS, deliver, env  # noqa: F401 - fixture


def test_dry_run_json_has_category_rule_actions_trace(capsys):
    # regional bibliography's answer with no case number: the generic department rule
    rules = Path(__file__).resolve().parents[2] / "rules"  # the shipped rules, named
    assert main(["rules", "test", str(CORPUS / "049-department.eml"), "--rules", str(rules),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["category"] == "department" and data["rule"] == "Ответы отделов"
    assert {"name": "move-to-folder", "args": {"folder": "Ответы отделов"}} in data["actions"]
    tried = {t["rule"]: t for t in data["trace"]}
    assert tried["Ответы отделов"]["matched"] and "sender-department" in tried["Ответы отделов"]["hit"]
    assert not tried["Автоматические письма"]["matched"]


def test_dry_run_text_shows_hits_misses_and_changes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no database, no key file may appear here
    rules = Path(__file__).resolve().parents[2] / "rules"
    assert main(["rules", "test", str(CORPUS / "001-bounce.eml"), "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "категория: bounce" in out and "[ПОДОШЛО] Недоставленные письма" in out
    assert "handle-bounce" in out
    assert list(tmp_path.iterdir()) == []


def test_replay_lists_what_candidate_rules_would_change(env, capsys):  # noqa: F811
    app, source, cfg = env
    names = ["101-registration.eml", "102-registration.eml", "150-question.eml",
             "013-automatic.eml"]
    for name in names:
        deliver(source, (CORPUS / name).read_bytes())
    app.intake(source).run_once()
    candidate = Path(app.settings.paths.rules).parent / "candidate"
    shutil.copytree(app.settings.paths.rules, candidate)
    (candidate / "30-registration.yaml").unlink()
    assert main(["--config", str(cfg), "rules", "replay", "--rules", str(candidate),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seen"] == 4
    assert data["counts"] == {"registration → question": 2}
    assert main(["--config", str(cfg), "rules", "replay"]) == 0
    assert "изменений нет" in capsys.readouterr().out


def test_list_describes_every_condition_and_action_in_russian(capsys):
    assert main(["rules", "list", "--json"]) == 0
    parts = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert parts["sender-domain"]["kind"] == "condition"
    assert parts["sender-domain"]["description"].startswith("Домен отправителя")
    assert parts["forward"]["params"]["department"] == \
        "ключ отдела из departments.yaml (необязательно)"
