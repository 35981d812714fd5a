"""The ready-answer matcher on a labelled set of readers' questions, and the answers file.

Precision first: a ready answer for a question that has none tells the reader something they
did not ask, so the set is checked for that separately from the overall hit rate.
"""

from pathlib import Path

import pytest
import yaml

from mailproc.errors import LoadError
from mailproc.questions.book import Phrase, load_book, parse_book
from mailproc.questions.matcher import classify, own_text
from mailproc.questions.routing import mode_for, parse_modes
from mailproc.questions.stem import stem, words

REPO = Path(__file__).resolve().parents[2]
LABELLED = REPO / "tests" / "fixtures" / "questions" / "labelled.yaml"


@pytest.fixture(scope="module")
def book():
    return load_book(REPO / "rules" / "answers.yaml")


def outcome(verdict) -> str:
    if verdict.outcome == "answer":
        return verdict.key
    if verdict.outcome == "route":
        return f"route:{verdict.key}"
    return "none"


def test_labelled_set_maps_to_the_right_answer_or_department(book):
    items = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    assert len(items) >= 100
    answers = {t.key for t in book.answers}
    rows, right, wrong_answers = [], 0, []
    for item in items:
        got = outcome(classify(book, item.get("subject", ""), item["text"]))
        ok = got == item["expect"]
        right += ok
        rows.append((("ok " if ok else "BAD"), item["expect"], got, item["text"][:70]))
        if got in answers and got != item["expect"]:
            wrong_answers.append((item["expect"], got, item["text"]))
    print(f"\n{'':3} {'expected':28} {'got':28} question")
    for mark, expect, got, text in rows:
        print(f"{mark} {expect:28} {got:28} {text}")
    share = right / len(items)
    print(f"right: {right} of {len(items)} = {share:.1%}; wrong ready answers: {len(wrong_answers)}")
    assert not wrong_answers, f"a ready answer to a question that has another or none: {wrong_answers}"
    assert share >= 0.9


def test_every_topic_of_the_instruction_has_a_ready_answer(book):
    keys = {t.key for t in book.answers}
    assert {"registration", "account", "temporary-access", "group-subscription", "search",
            "litres", "lan", "elibrary", "hours", "events", "about-el"} <= keys
    assert {r.department for r in book.routes} == {"bibliography", "regional", "content", "cko"}


def test_word_forms_and_yo_meet():
    assert stem("доступа") == stem("доступом") == stem("доступ")
    assert words("Ещё ЁЛКА") == ["еще", "елка"]
    p = Phrase.parse("временный доступ")
    ws = words("нужен временного доступа к книге")
    assert p.found_in(ws, [stem(w) for w in ws])


def test_prefix_words_and_the_gap_between_phrase_words():
    p = Phrase.parse("как зарегистр*")
    for text in ("как зарегистрироваться", "как бы мне зарегистрироваться"):
        ws = words(text)
        assert p.found_in(ws, [stem(w) for w in ws]), text
    ws = words("как мне это всё у вас теперь зарегистрировать")
    assert not p.found_in(ws, [stem(w) for w in ws])  # more than two words between


def test_two_topics_in_one_letter_wait_for_a_librarian(book):
    v = classify(book, "", "Как получить доступ к ЛитРес? И как работают фильтры в поиске?")
    assert v.outcome == "none"


def test_a_second_question_the_answer_does_not_cover_waits(book):
    v = classify(book, "", "Как получить временный доступ? Можно ли заказать копию "
                           "диссертации моего отца из вашего фонда?")
    assert v.outcome == "none" and "не покрывает" in v.reason


def test_quoted_reply_and_signature_are_not_read(book):
    text = ("Спасибо, всё получилось!\n\n-- \nАнна\n"
            "> Как получить временный доступ к книге?\n")
    assert own_text(text).strip() == "Спасибо, всё получилось!"
    assert classify(book, "", text).outcome == "none"


def test_broken_answers_file_names_line_and_fix():
    text = ("answers:\n"
            "  - key: a\n    template: answers/a\n    mode: sometimes\n    phrases: [x]\n"
            "  - key: b\n    phrases: []\n"
            "routes:\n  - key: r\n    phrases: [y]\n")
    with pytest.raises(LoadError) as err:
        parse_book(text, "answers.yaml")
    problems = "\n".join(err.value.problems)
    assert "answers.yaml:2: a: mode: 'sometimes' неизвестен" in problems
    assert "answers.yaml:6: b: нет ни одной фразы" in problems
    assert "answers.yaml:6: b: не указан шаблон" in problems
    assert "answers.yaml:9: r: не указан отдел" in problems


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(LoadError) as err:
        parse_book("answers:\n  - key: a\n   bad: [\n", "answers.yaml")
    assert err.value.problems[0].startswith("answers.yaml:")


def test_mode_override_beats_default_beats_the_file(book):
    from types import SimpleNamespace

    topic = book.answer("temporary-access")

    def settings(default="", modes=""):
        return SimpleNamespace(questions=SimpleNamespace(default_mode=default, answer_modes=modes))

    assert mode_for(settings(), topic) == topic.mode
    assert mode_for(settings(default="send"), topic) == "send"
    assert mode_for(settings("send", "temporary-access=draft"), topic) == "draft"
    assert parse_modes("a=send; b = DRAFT, c=never") == {"a": "send", "b": "draft"}


def test_held_out_questions_never_get_a_wrong_ready_answer(book):
    """Questions written after the rules were tuned: the hit rate is printed, not tuned for;
    what must hold is that no question gets a ready answer it did not ask for."""
    items = yaml.safe_load((LABELLED.parent / "holdout.yaml").read_text(encoding="utf-8"))
    answers = {t.key for t in book.answers}
    right = 0
    for item in items:
        got = outcome(classify(book, item.get("subject", ""), item["text"]))
        right += got == item["expect"]
        assert got not in answers or got == item["expect"], (item, got)
    print(f"\nheld-out: {right} of {len(items)} right ({right / len(items):.0%})")
    assert right / len(items) >= 0.7
