"""Templates: the file format, Russian helpers, the bounded sandbox, and the librarian-facing
``templates check`` messages."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from mailproc.errors import TemplateError
from mailproc.outbound import textfmt
from mailproc.outbound.templates import Templates

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n, word", [(0, "книг"), (1, "книга"), (2, "книги"), (4, "книги"),
                                     (5, "книг"), (11, "книг"), (12, "книг"), (14, "книг"),
                                     (21, "книга"), (22, "книги"), (25, "книг"),
                                     (101, "книга"), (111, "книг")])
def test_plural(n, word):
    assert textfmt.plural(n, "книга", "книги", "книг") == f"{n} {word}"


def test_dates_in_library_time_zone():
    tz = Templates(ROOT / "templates").tz
    late = datetime(2026, 12, 31, 20, 30, tzinfo=timezone.utc)  # already 1 January in Yakutsk
    assert textfmt.format_date(late, tz) == "1 января 2027 г."
    assert textfmt.format_datetime(late, tz) == "1 января 2027 г., 05:30"
    assert textfmt.format_date(date(2026, 5, 9), tz) == "9 мая 2026 г."


def test_html_to_text_keeps_structure_and_links():
    text = textfmt.html_to_text('<p>Здравствуйте!</p><ul><li>один</li><li>два</li></ul>'
                                '<p><a href="https://e.nlrs.ru">ЭБ</a></p><style>p{}</style>')
    assert text == "Здравствуйте!\n\n- один\n- два\n\nЭБ (https://e.nlrs.ru)\n"


def _write(root: Path, name: str, body: str) -> None:
    path = root / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")


def test_shipped_templates_all_pass_check():
    assert Templates(ROOT / "templates").check() == []


def test_unknown_variable_reported_with_file_and_line(tmp_path):
    _write(tmp_path, "reader/t", """
        === пример ===
        reader_name: Анна
        === тема ===
        Тема
        === текст ===
        Здравствуйте, {{ reader_name }}!
        Ваш билет: {{ card_numbr }}
        """)
    (problem,) = Templates(tmp_path).check()
    assert problem.startswith(f"{tmp_path / 'reader/t.txt'}:7: неизвестная переменная «card_numbr»")


def test_syntax_error_reported_with_line_in_russian(tmp_path):
    _write(tmp_path, "reader/t", """
        === пример ===
        n: 1
        === тема ===
        Тема
        === текст ===
        строка
        {% if n %}
        нет конца
        """)
    (problem,) = Templates(tmp_path).check()
    assert f"{tmp_path / 'reader/t.txt'}:" in problem
    assert "ошибка в записи шаблона" in problem and "endif" in problem


def test_runtime_error_names_the_line(tmp_path):
    _write(tmp_path, "x", """
        === тема ===
        Т
        === текст ===
        один
        {{ reader.name }}
        """)
    t = Templates(tmp_path)
    with pytest.raises(TemplateError) as err:
        t.render("x", {"reader": {"nam": "А"}})
    assert err.value.problems[0].startswith(f"{tmp_path / 'x.txt'}:5: ")


def test_html_autoescaped_text_not_and_text_derived(tmp_path):
    _write(tmp_path, "x", """
        === тема ===
        {{ who }}
        === html ===
        <p>Здравствуйте, {{ who }}!</p>
        """)
    r = Templates(tmp_path).render("x", {"who": "<b>Анна</b>"})
    assert r.subject == "<b>Анна</b>"
    assert "&lt;b&gt;Анна&lt;/b&gt;" in r.html
    assert r.text == "Здравствуйте, <b>Анна</b>!\n"


def test_plural_filter_and_date_filter_in_template(tmp_path):
    _write(tmp_path, "x", """
        === тема ===
        Т
        === текст ===
        {{ n|plural("книга", "книги", "книг") }} до {{ d|date }}
        """)
    r = Templates(tmp_path).render("x", {"n": 21, "d": date(2026, 3, 8)})
    assert r.text == "21 книга до 8 марта 2026 г.\n"


@pytest.mark.parametrize("body", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 100000000 }}",
    "{% for i in range(90000) %}{{ 'строка ' * 30 }}{% endfor %}",
])
def test_rendering_is_bounded(tmp_path, body):
    _write(tmp_path, "x", f"=== тема ===\nТ\n=== текст ===\n{body}\n")
    t = Templates(tmp_path, timeout=0.5, max_size=100_000)
    with pytest.raises(TemplateError) as err:
        t.render("x", {})
    assert f"{tmp_path / 'x.txt'}:" in err.value.problems[0]


def test_sandbox_refuses_unsafe_attributes(tmp_path):
    _write(tmp_path, "x", "=== тема ===\nТ\n=== текст ===\n{{ ''.__class__.__mro__ }}\n")
    with pytest.raises(TemplateError):
        Templates(tmp_path).render("x", {})


def test_cli_check_and_preview(tmp_path, capsys, monkeypatch):
    from mailproc.cli import main

    monkeypatch.setenv("MAILPROC_PATHS_TEMPLATES", str(ROOT / "templates"))
    monkeypatch.setenv("MAILPROC_PATHS_DATA", str(tmp_path))
    assert main(["templates", "check"]) == 0
    assert main(["templates", "preview", "mailing/el_services", "--html",
                 str(tmp_path / "p.html")]) == 0
    out = capsys.readouterr().out
    assert "Тема: Электронная библиотека НБ РС(Я): вебинар 10 декабря 2026 г." in out
    assert "Мария Ивановна" in (tmp_path / "p.html").read_text(encoding="utf-8")
    _write(tmp_path / "bad", "reader/x", "=== тема ===\nТ\n=== текст ===\n{{ nope }}\n")
    monkeypatch.setenv("MAILPROC_PATHS_TEMPLATES", str(tmp_path / "bad"))
    assert main(["templates", "check"]) == 2
    assert "reader/x.txt:4: неизвестная переменная «nope»" in capsys.readouterr().err
