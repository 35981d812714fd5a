"""Which ready answer or department a question needs: a pure function of the text.

Precision first: a wrong ready answer tells a reader something they did not ask, while no
answer only means a librarian reads the letter. So an answer is chosen only when

* its score reaches ``threshold`` (a phrase counts 3, a single word 1),
* it leads every other answer by ``margin`` (two topics in one letter: a person answers),
* no routing rule also fires (a department question is a person's work), and
* every real question sentence in the letter touches the chosen topic (a second question the
  ready answer does not cover means a person must answer anyway).

A route is chosen when one department's rules fire clearly; otherwise the case waits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailproc.questions.book import AnswerBook, Phrase, Topic
from mailproc.questions.stem import stem, words

_QUOTED = re.compile(r"^\s*>.*$", re.M)
_SIGNATURE = re.compile(r"^(--\s*$|Отправлено (с|из) |Sent from my |С уважением).*", re.M | re.S)
_REPLY_HEADER = re.compile(r"^.{0,80}(написал|wrote)\s*\(?а?\)?:\s*$", re.M | re.S)
_SENTENCE_END = re.compile(r"(?<![А-ЯЁA-Z]\.)(?<=[.!?])\s+|\n+|[:;]\s*|\s+(?i:и\s+ещ[её]|а\s+также|кроме\s+того)\b[,:]?\s*")
PHRASE_WEIGHT = 3
WORD_WEIGHT = 1
MIN_QUESTION_WORDS = 4
_NEUTRAL = {stem(w) for w in "здравствуйте добрый день пожалуйста подскажите скажите спасибо "
            "помогите можно ли как где когда что у вас мне я".split()}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "answer" | "route" | "none"
    key: str = ""  # the answer's or the route's key
    reason: str = ""  # Russian: shown to librarians in `questions show`
    scores: dict[str, int] = field(default_factory=dict)
    hits: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "key": self.key, "reason": self.reason,
                "scores": dict(self.scores), "hits": dict(self.hits)}


def own_text(text: str) -> str:
    """What the reader wrote in this letter: quoted replies and signatures cut off."""
    text = _REPLY_HEADER.split(text or "", maxsplit=1)[0]
    text = _QUOTED.sub("", text)
    return _SIGNATURE.split(text, maxsplit=1)[0][:4000]


@dataclass
class _Tokens:
    ws: list[str]
    ss: list[str]

    @classmethod
    def of(cls, text: str) -> "_Tokens":
        ws = words(text)
        return cls(ws, [stem(w) for w in ws])


def _score(topic: Topic, tok: _Tokens) -> tuple[int, list[str]]:
    if any(p.found_in(tok.ws, tok.ss) for p in topic.unless):
        return 0, []
    hits = [p.text for p in topic.phrases if p.found_in(tok.ws, tok.ss)]
    weak = [p.text for p in topic.words if p.found_in(tok.ws, tok.ss)]
    return PHRASE_WEIGHT * len(hits) + WORD_WEIGHT * len(weak), hits + weak


def _ranked(topics, tok) -> list[tuple[int, Topic, list[str]]]:
    scored = [(*_score(t, tok), t) for t in topics]
    return sorted(((s, t, h) for s, h, t in scored), key=lambda x: -x[0])


def sentences(text: str) -> list[str]:
    """Sentences and clauses: a second question often hides after "и ещё:" or a colon."""
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s and s.strip()]


def _uncovered_question(topic: Topic, text: str) -> str:
    """A question sentence with no word of the chosen topic, or ""."""
    for sentence in sentences(text):
        if not sentence.rstrip().endswith("?"):
            continue
        tok = _Tokens.of(sentence)
        if len([s for s in tok.ss if s not in _NEUTRAL]) < MIN_QUESTION_WORDS:
            continue
        if not any(p.found_in(tok.ws, tok.ss) for p in (*topic.phrases, *topic.words)):
            return sentence.strip()
    return ""


def classify(book: AnswerBook, subject: str, text: str) -> Verdict:
    body = own_text(text)
    tok = _Tokens.of(f"{subject}\n{body}")
    answers = _ranked(book.answers, tok)
    routes = _ranked(book.routes, tok)
    scores = {t.key: s for s, t, _ in (*answers, *routes) if s}
    hits = {t.key: h for s, t, h in (*answers, *routes) if h}
    best_a = answers[0] if answers else (0, None, [])
    second_a = answers[1][0] if len(answers) > 1 else 0
    best_r = routes[0] if routes else (0, None, [])
    second_r = routes[1][0] if len(routes) > 1 else 0
    route_ok = best_r[0] >= book.threshold

    def verdict(outcome, key="", reason=""):
        return Verdict(outcome, key, reason, scores, hits)

    if route_ok:
        if best_r[0] - second_r < book.margin:
            return verdict("none", reason="вопрос подходит нескольким отделам: решает библиотекарь")
        return verdict("route", best_r[1].key, f"правило отдела: {', '.join(best_r[2])}")
    if best_a[0] < book.threshold:
        return verdict("none", reason="нет уверенного готового ответа")
    if best_a[0] - second_a < book.margin:
        return verdict("none", reason="письмо подходит нескольким готовым ответам: решает "
                                      "библиотекарь")
    uncovered = _uncovered_question(best_a[1], body)
    if uncovered:
        return verdict("none", reason=f"готовый ответ не покрывает вопрос: «{uncovered[:120]}»")
    return verdict("answer", best_a[1].key, f"готовый ответ: {', '.join(best_a[2])}")


def matching_needs(book: AnswerBook, text: str) -> list[tuple[str, str]]:
    """(kind, sentence) for each sentence that states an information need (instruction 2.9)."""
    found = []
    for sentence in sentences(own_text(text)):
        tok = _Tokens.of(sentence)
        for kind, phrases in book.needs.items():
            if any(p.found_in(tok.ws, tok.ss) for p in phrases):
                found.append((kind, sentence.strip()))
                break
    return found


__all__ = ["Verdict", "classify", "matching_needs", "own_text", "Phrase"]
