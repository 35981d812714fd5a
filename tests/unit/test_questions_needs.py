"""Information needs (2.9): fields found in readers' sentences, and the report."""

from pathlib import Path

import pytest

from mailproc.commands.needs import summarise
from mailproc.questions.book import load_book
from mailproc.questions.needs import extract_needs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def book():
    return load_book(REPO / "rules" / "answers.yaml")


@pytest.mark.parametrize("text, kind, author, title, topic", [
    ("Оцифруйте, пожалуйста, всю книгу Кулаковского «Сон шамана».",
     "digitise", "Кулаковского", "Сон шамана", ""),
    ("Нет в электронном виде книг А. Е. Кулаковского.", "digitise", "А. Е. Кулаковского", "", ""),
    ("Почему нет раздела о якутской музыке?", "section", "", "", "якутской музыке"),
    ("Нужен доступ к базе Scopus для аспирантов.", "subscription", "", "", "Scopus"),
])
def test_fields_found_in_a_sentence(book, text, kind, author, title, topic):
    [need] = extract_needs(book, text)
    assert (need.kind, need.author, need.title, need.topic) == (kind, author, title, topic)
    assert need.text == text


def test_a_question_without_needs_has_none(book):
    assert extract_needs(book, "Как получить временный доступ к книге?") == []


def test_report_counts_kinds_topics_and_titles_case_folded():
    rows = [
        {"kind": "digitise", "title": "Сон шамана", "author": "Кулаковский", "topic": ""},
        {"kind": "digitise", "title": "сон  шамана", "author": "", "topic": ""},
        {"kind": "digitise", "title": "Эллэй", "author": "", "topic": ""},
        {"kind": "section", "title": "", "author": "", "topic": "Якутский театр"},
        {"kind": "section", "title": "", "author": "", "topic": "якутский театр"},
    ]
    data = summarise(rows)
    assert data["by_kind"] == {"digitise": 3, "section": 2}
    assert data["by_topic"] == {"якутский театр": 2}
    assert data["top_titles"][0] == {"title": "Сон шамана (Кулаковский)", "count": 2}
