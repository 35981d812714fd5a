"""The shipped rules sort the labelled corpus (tests/fixtures/corpus, made by generate.py).

Prints the confusion table (run with -s to see it); asserts at least 95% right. Categories that
later issues' rules refine (an order or a request for the registration forms is a reader's
question; an order reply, a ЦКО card number and an answer to a routed question are a
department's reply) are counted as the category the corpus labels.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mailproc.letter import decode_letter
from mailproc.sorting.evaluate import decide
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.loader import load_rules
from mailproc.tokens import Tokens

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
KEY = b"corpus-signing-key"  # generate.py signs the corpus' Message-IDs with it
#: categories other issues' rules give, folded into the corpus' five
REFINES = {"order": "question", "order-reply": "department", "need": "question",
           "answered": "question", "contacts": "question", "unsubscribe": "automatic",
           "question-reply": "department", "registration-card": "department",
           "registration-forms": "question", "registration-withdrawal": "registration"}
CATEGORIES = ["bounce", "automatic", "department", "registration", "question"]


@pytest.fixture(scope="module")
def sorted_corpus():
    labels = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    ruleset = load_rules(ROOT / "rules", templates_dir=ROOT / "templates")
    tokens = Tokens(KEY, "nlrs.ru")
    got = {}
    for name in labels:
        letter = decode_letter((CORPUS / name).read_bytes())
        decision = decide(ruleset, letter, offline_facts(letter, tokens))
        got[name] = REFINES.get(decision.category, decision.category)
    return labels, got


def confusion_table(labels: dict[str, str], got: dict[str, str]) -> str:
    pairs = Counter((labels[n], got[n]) for n in labels)
    cols = CATEGORIES + sorted({g for g in got.values()} - set(CATEGORIES))
    width = max(len(c) for c in cols) + 2
    lines = ["label \\ sorted".ljust(16) + "".join(c.rjust(width) for c in cols)]
    for label in CATEGORIES:
        lines.append(label.ljust(16) + "".join(str(pairs.get((label, c), 0)).rjust(width)
                                              for c in cols))
    return "\n".join(lines)


def test_corpus_is_large_and_varied(sorted_corpus):
    labels, _ = sorted_corpus
    assert len(labels) >= 200
    counts = Counter(labels.values())
    assert all(counts[c] >= 10 for c in CATEGORIES), counts


def test_shipped_rules_sort_the_corpus(sorted_corpus):
    labels, got = sorted_corpus
    right = sum(labels[n] == got[n] for n in labels)
    accuracy = right / len(labels)
    print("\n" + confusion_table(labels, got))
    print(f"accuracy: {right}/{len(labels)} = {accuracy:.1%}")
    for name in sorted(n for n in labels if labels[n] != got[n]):
        print(f"  wrong: {name}: {labels[name]} -> {got[name]}")
    assert accuracy >= 0.95


def test_generator_is_kept_beside_the_corpus():
    assert (CORPUS / "generate.py").exists()
