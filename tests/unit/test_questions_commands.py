"""``mailproc questions`` and ``mailproc needs`` on a database with cases and needs."""

import json
from pathlib import Path

from mailproc.cli import main
from mailproc.questions import actions
from tests.unit.questions_helpers import World, mail


def cli(capsys, monkeypatch, world, *args) -> str:
    s = world.settings
    config = Path(s.paths.data).parent / "cli.toml"  # commands refuse built-in defaults
    config.write_text(f'[database]\nurl = "{s.database.url}"\n[paths]\n'
                      f'data = "{s.paths.data}"\nrules = "{s.paths.rules}"\n'
                      f'templates = "{s.paths.templates}"\n', encoding="utf-8")
    monkeypatch.setenv("MAILPROC_CONFIG", str(config))
    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_lists_cases_and_needs_and_corrects_a_need(tmp_path, capsys, monkeypatch):
    world = World(tmp_path)
    world.act(mail("a@x.example", "Помогите найти краеведческую литературу о селе Чурапча."),
              actions.answer_question)
    world.act(mail("b@x.example", "Предлагаю оцифровать книгу «Сон шамана» полностью."),
              actions.answer_question)
    world.act(mail("c@x.example", "Оцифруйте книгу «сон шамана», пожалуйста."),
              actions.answer_question)
    cases = json.loads(cli(capsys, monkeypatch, world, "questions", "list", "--json"))
    assert [(c["state"], c["department"]) for c in cases] == [
        ("routed", "content"), ("routed", "content"), ("routed", "regional")]
    assert "2026-00001" in cli(capsys, monkeypatch, world, "questions", "list")
    needs = json.loads(cli(capsys, monkeypatch, world, "needs", "list", "--json"))
    assert {n["title"] for n in needs} == {"Сон шамана", "сон шамана"}
    report = json.loads(cli(capsys, monkeypatch, world, "needs", "report", "--json"))
    assert report["top_titles"][0]["count"] == 2
    edited = json.loads(cli(capsys, monkeypatch, world, "needs", "edit", str(needs[0]["id"]),
                            "--author", "Кулаковский А. Е.", "--by", "librarian"))
    assert edited["author"] == "Кулаковский А. Е." and edited["corrected_by"] == "librarian"
    assert "Сон шамана" in cli(capsys, monkeypatch, world, "needs", "report")


def test_try_shows_the_verdict_and_check_passes(tmp_path, capsys, monkeypatch):
    world = World(tmp_path)
    out = json.loads(cli(capsys, monkeypatch, world, "questions", "try", "--json",
                         "Как получить временный доступ к книге?"))
    assert out["outcome"] == "answer" and out["key"] == "temporary-access"
    assert out["mode"] == "draft"
    assert "ошибок нет" in cli(capsys, monkeypatch, world, "questions", "check")
