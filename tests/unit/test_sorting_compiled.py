"""Deciding fast decides the same: the compiled, memoised evaluator (evaluate.py) against the
plain tree walk (rules.py ``Node.test``), and the cheap word look-ups conditions make before
their regexes (text.Needles) never turning away a letter the regex would take."""

from __future__ import annotations

import pytest

from mailproc.letter import decode_letter
from mailproc.sorting.evaluate import decide
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.loader import load_rules
from mailproc.sorting.text import KeywordMatcher, Needles, fold
from mailproc.tokens import Tokens
from tests.unit.test_sorting_conditions import check, mail
from tests.unit.test_sorting_corpus import CORPUS, KEY, ROOT


def walk(ruleset, letter, facts) -> tuple[str, list[dict]]:
    """The rules tried one by one with Node.test: the rule that decided and the trace."""
    facts.directory = ruleset.directory
    trace = []
    for rule in ruleset.rules:
        hits: list[str] = []
        misses: list[str] = []
        ok = rule.when is None or rule.when.test(letter, facts, hits, misses)
        trace.append({"rule": rule.name, "matched": ok, "hit": hits, "miss": misses})
        if ok and rule.stop:
            return rule.name, trace
    return "", trace


def test_compiled_rules_decide_and_trace_like_the_tree_walk():
    ruleset = load_rules(ROOT / "rules", templates_dir=ROOT / "templates")
    tokens = Tokens(KEY, "nlrs.ru")
    letters = [decode_letter(p.read_bytes()) for p in sorted(CORPUS.glob("*.eml"))]
    assert len(letters) >= 200
    for letter in letters:
        decision = decide(ruleset, letter, offline_facts(letter, tokens))
        rule, trace = walk(ruleset, letter, offline_facts(letter, tokens))
        assert decision.rule == rule or not rule
        assert decision.trace[:len(trace)] == trace


@pytest.mark.parametrize("text", ["список сотрудников", "СПИСОК Сотрудниками школы",
                                  "для рассылки:", "список-учителей 5 класса"])
def test_keyword_phrases_found_at_a_word_start_only(text):
    words = KeywordMatcher(["список сотрудников", "список учителей", "для рассылки"])
    assert words.find(fold(text)) is not None
    assert words.find(fold("за" + text)) is None  # not inside another word


def test_needles_let_through_letters_re_ignorecase_reads_differently():
    plain = Needles("отпи")
    loose = Needles("отпи", ignorecase=True)
    odd = fold("ᲂтпишите меня")  # ᲂ: an old form of «о», equal to it for re.IGNORECASE
    assert not plain.in_(odd) and loose.in_(odd)
    assert loose.in_(fold("ОТПИШИТЕ")) and not loose.in_(fold("спасибо"))


def test_unsubscribe_and_withdrawal_still_read_after_the_word_check():
    reply = mail(subject="Re: рассылка", text="ᲂтпишите меня", in_reply_to="<ours@x>")
    assert check("unsubscribe-request", reply) is False  # not a reply to our mail here
    mailto = mail(subject="unsubscribe 0123456789abcdef0123", text="")
    assert check("unsubscribe-request", mailto) is True
    assert check("unsubscribe-request", mail(subject="Вопрос", text="Когда открыто?")) is False
    assert check("asks-consent-withdrawal", mail(subject="", text="Отзываю своё согласие"))
    assert not check("asks-consent-withdrawal", mail(subject="", text="Даю согласие"))


def test_order_request_skips_only_letters_without_title_or_pages():
    assert check("order-request", mail(subject="", text="НАЗВАНИЕ: Олонхо, с. 15-27"))
    assert check("order-request", mail(subject="Заказ", text="«Якутские сказки», стр. 5"))
    assert not check("order-request", mail(subject="Вопрос", text="Когда вы открыты?"))
