"""Every check error, produced by a broken rule file: the message names file, line, column,
the rule, what is wrong and what to write instead (in Russian, for the librarian)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailproc.cli import main
from mailproc.errors import RuleFileError
from mailproc.sorting.loader import load_rules

ROOT = Path(__file__).resolve().parents[2]

GOOD_THEN = """  then:
    - move-to-folder: Отделы
"""

CASES = {
    "unknown condition": (
        """- name: Ответы отделов
  description: тест
  when:
    all:
      - sender-domian: nlrs.example
""" + GOOD_THEN,
        "rules/20-test.yaml:5:9: правило «Ответы отделов»: неизвестное условие «sender-domian»; "
        "может быть, «sender-domain»?"),
    "unknown action": (
        """- name: Папка
  description: тест
  when: automatic
  then:
    - move-to-foldr: Автоматические
""",
        "rules/20-test.yaml:5:7: правило «Папка»: неизвестное действие «move-to-foldr»; "
        "может быть, «move-to-folder»?"),
    "wrong argument type": (
        """- name: Много вложений
  description: тест
  when:
    attachment-count: {min: два}
""" + GOOD_THEN,
        "rules/20-test.yaml:4:29: правило «Много вложений»: условие «attachment-count»: "
        "ожидалось целое число, а написано «два»; напишите число, например 2"),
    "unknown template": (
        """- name: Ответ
  description: тест
  when: automatic
  then:
    - reply-with-template: reader/question_recieved
""",
        "правило «Ответ»: действие «reply-with-template»: нет шаблона «reader/question_recieved» "
        "в папке {templates}; может быть, «reader/question_received»?"),
    "bad folder": (
        """- name: Папка
  description: тест
  when: automatic
  then:
    - move-to-folder: "Входящие*"
""",
        "rules/20-test.yaml:5:23: правило «Папка»: действие «move-to-folder»: недопустимое имя "
        "папки «Входящие*»; имя папки без пробелов по краям, без символов * % \" \\ и без / в "
        "начале и в конце, например «Вопросы читателей»"),
    "unknown department": (
        """- name: Хранение
  description: тест
  when:
    sender-department: storag
""" + GOOD_THEN,
        "rules/20-test.yaml:4:24: правило «Хранение»: условие «sender-department»: неизвестный "
        "отдел «storag»; может быть, «storage»?"),
    "bad regex": (
        """- name: Заказ
  description: тест
  when:
    subject-regex: "(заказ"
""" + GOOD_THEN,
        "rules/20-test.yaml:4:20: правило «Заказ»: условие «subject-regex»: ошибка в регулярном "
        "выражении «(заказ»: missing ), unterminated subpattern (позиция 0); проверьте скобки"),
    "duplicate name": (
        """- name: Заказ
  description: тест
  when: automatic
""" + GOOD_THEN + """- name: Заказ
  description: тест
  when: bounce
""" + GOOD_THEN,
        "rules/20-test.yaml:6:3: правило «Заказ»: такое название уже есть у правила в "
        "rules/20-test.yaml:1:3; дайте правилу другое название"),
    "unreachable after catch-all": (
        """- name: Всё остальное
  description: тест
  when: всегда
""" + GOOD_THEN + """- name: Заказы
  description: тест
  when: automatic
""" + GOOD_THEN,
        "rules/20-test.yaml:6:3: правило «Заказы»: никогда не сработает: правило «Всё остальное» "
        "(rules/20-test.yaml:1:3) выше берёт все письма; перенесите то правило в конец"),
    "unknown parameter": (
        """- name: Вложения
  description: тест
  when:
    attachment-count: {mn: 2}
""" + GOOD_THEN,
        "rules/20-test.yaml:4:24: правило «Вложения»: условие «attachment-count»: неизвестный "
        "параметр «mn»; может быть, «min»?"),
    "missing parameter": (
        """- name: Пересылка
  description: тест
  when: automatic
  then:
    - forward: {department: storage}
""",
        "rules/20-test.yaml:5:16: правило «Пересылка»: действие «forward»: не указан параметр "
        "«template»; добавьте «template: …»"),
    "unknown rule field": (
        """- name: Опечатка
  description: тест
  wehn: automatic
""" + GOOD_THEN,
        "rules/20-test.yaml:3:3: правило «Опечатка»: неизвестное поле «wehn»; может быть, «when»?"),
    "unknown named list": (
        """- name: Список
  description: тест
  when:
    text-any-of: регистрацыя
""" + GOOD_THEN,
        "rules/20-test.yaml:4:18: правило «Список»: условие «text-any-of»: нет списка "
        "«регистрацыя» в rules/lists.yaml; может быть, «регистрация»?"),
    "yaml syntax": (
        """- name: Отступы
  description: тест
  when: automatic
   then:
""",
        "rules/20-test.yaml:4:8: ошибка разметки YAML"),
}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in ("departments.yaml", "lists.yaml"):
        shutil.copy(ROOT / "rules" / name, folder / name)
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_each_check_error_names_file_line_and_fix(case, rules_dir, tmp_path):
    text, expected = CASES[case]
    (rules_dir / "20-test.yaml").write_text(text, encoding="utf-8")
    templates = ROOT / "templates"
    with pytest.raises(RuleFileError) as err:
        load_rules(rules_dir, templates_dir=templates, shown_root=tmp_path)
    expected = expected.format(templates=templates)
    assert any(expected in p for p in err.value.problems), "\n".join(err.value.problems)


def test_shipped_rules_pass_the_check(capsys):
    assert main(["rules", "check", "--rules", str(ROOT / "rules")]) == 0
    assert "правила в порядке" in capsys.readouterr().out


def test_cli_check_prints_every_problem_and_exits_2(rules_dir, tmp_path, capsys, monkeypatch):
    (rules_dir / "20-test.yaml").write_text(CASES["unknown condition"][0] + """- name: Ещё
  description: тест
  when: automatc
""", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["rules", "check", "--rules", "rules"]) == 2
    err = capsys.readouterr().err
    assert "rules/20-test.yaml:5:9: правило «Ответы отделов»: неизвестное условие «sender-domian»" \
        in err
    assert "rules/20-test.yaml:10:9: правило «Ещё»: неизвестное условие «automatc»; может быть, " \
           "«automatic»?" in err


def test_broken_departments_and_lists_name_file_and_line(rules_dir, tmp_path):
    (rules_dir / "departments.yaml").write_text("""departments:
  storage:
    addresses: [storage@nlrs.example]
cko:
  name: ЦКО
""", encoding="utf-8")
    (rules_dir / "lists.yaml").write_text("сотрудники: ivanova@mail.example\n", encoding="utf-8")
    (rules_dir / "10-ok.yaml").write_text("- name: А\n  description: б\n  when: automatic\n",
                                          encoding="utf-8")
    with pytest.raises(RuleFileError) as err:
        load_rules(rules_dir, shown_root=tmp_path)
    problems = "\n".join(err.value.problems)
    assert f"{rules_dir}/departments.yaml:3:5: отдел «storage»: нужно поле name" in problems
    assert f"{rules_dir}/departments.yaml:5:3: cko: ответственный: нужны name и address" \
        in problems
    assert f"{rules_dir}/lists.yaml:1:13: список «сотрудники»: напишите элементы списком" \
        in problems
