"""``rules/answers.yaml``: the librarians' ready answers, routing of questions to departments
and the phrases that reveal information needs, loaded and checked.

A wrong entry stops loading with ``file:line: what is wrong, what to write instead`` (in
Russian: librarians edit this file), collected for the whole file at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mailproc.errors import LoadError
from mailproc.questions.stem import normalise, stem, words

MODES = ("send", "draft")
NEED_KINDS = ("digitise", "section", "subscription")


@dataclass(frozen=True)
class Term:
    text: str  # the normalised word, or the prefix when ``prefix``
    prefix: bool = False

    def matches(self, word: str, word_stem: str) -> bool:
        return word.startswith(self.text) if self.prefix else word_stem == self.text


@dataclass(frozen=True)
class Phrase:
    """Words that must appear in this order, with at most ``GAP`` other words between them."""

    text: str
    terms: tuple[Term, ...]

    GAP = 2

    @classmethod
    def parse(cls, text: str) -> "Phrase":
        terms = []
        for raw in normalise(text).split():
            if raw.endswith("*"):
                terms.append(Term(raw[:-1], prefix=True))
            else:
                terms.extend(Term(stem(w)) for w in words(raw))
        return cls(text, tuple(terms))

    def found_in(self, ws: list[str], ss: list[str]) -> bool:
        if not self.terms:
            return False
        first, rest = self.terms[0], self.terms[1:]
        return any(first.matches(ws[i], ss[i]) and self._follow(ws, ss, i, rest)
                   for i in range(len(ws)))

    def _follow(self, ws, ss, pos, rest) -> bool:
        if not rest:
            return True
        for j in range(pos + 1, min(len(ws), pos + 2 + self.GAP)):
            if rest[0].matches(ws[j], ss[j]) and self._follow(ws, ss, j, rest[1:]):
                return True
        return False


@dataclass(frozen=True)
class Topic:
    """A ready answer (``template``, ``mode``) or a route (``department``)."""

    key: str
    title: str
    phrases: tuple[Phrase, ...]
    words: tuple[Phrase, ...] = ()
    unless: tuple[Phrase, ...] = ()
    template: str = ""
    mode: str = "draft"
    department: str = ""
    line: int = 0


@dataclass(frozen=True)
class AnswerBook:
    answers: tuple[Topic, ...]
    routes: tuple[Topic, ...]
    needs: dict[str, tuple[Phrase, ...]] = field(default_factory=dict)
    threshold: int = 3
    margin: int = 2
    source: str = ""
    version: str = ""

    def answer(self, key: str) -> Topic | None:
        return next((t for t in self.answers if t.key == key), None)

    def route(self, key: str) -> Topic | None:
        return next((t for t in self.routes if t.key == key), None)


def load_book(path: str | Path) -> AnswerBook:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError([f"{path}: не удаётся прочитать файл ({exc.strerror})"]) from None
    return parse_book(text, str(path))


def parse_book(text: str, source: str = "answers.yaml") -> AnswerBook:
    problems: list[str] = []
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        msg = f"{source}:{line}: ошибка YAML ({getattr(exc, 'problem', exc)}); проверьте отступы и кавычки"
        raise LoadError([msg]) from None
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        msg = f"{source}:1: ожидается словарь с разделами answers, routes, needs"
        raise LoadError([msg])
    lines = _entry_lines(root)
    answers = _topics(data.get("answers") or [], "answers", lines, source, problems)
    routes = _topics(data.get("routes") or [], "routes", lines, source, problems)
    needs: dict[str, tuple[Phrase, ...]] = {}
    for kind, phrases in (data.get("needs") or {}).items():
        if kind not in NEED_KINDS:
            problems.append(f"{source}: needs.{kind}: неизвестный вид потребности; "
                            f"пишите один из: {', '.join(NEED_KINDS)}")
            continue
        needs[kind] = tuple(Phrase.parse(str(p)) for p in phrases or [])
    seen: set[str] = set()
    for t in (*answers, *routes):
        if t.key in seen:
            problems.append(f"{source}:{t.line}: ключ {t.key!r} повторяется; дайте другой ключ")
        seen.add(t.key)
    if problems:
        raise LoadError(problems)
    return AnswerBook(answers=tuple(answers), routes=tuple(routes), needs=needs,
                      threshold=int(data.get("threshold", 3)), margin=int(data.get("margin", 2)),
                      source=source, version=hashlib.sha256(text.encode()).hexdigest()[:12])


def _entry_lines(root) -> dict[tuple[str, int], int]:
    """(section, index) -> line number, read from the YAML node tree."""
    found: dict[tuple[str, int], int] = {}
    if root is None or not isinstance(root, yaml.MappingNode):
        return found
    for key, value in root.value:
        if isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                found[(key.value, i)] = item.start_mark.line + 1
    return found


def _topics(items, section, lines, source, problems) -> list[Topic]:
    topics = []
    for i, item in enumerate(items):
        line = lines.get((section, i), 0)
        where = f"{source}:{line}"
        if not isinstance(item, dict) or not item.get("key"):
            problems.append(f"{where}: у записи нет ключа; напишите key: латиницей, например "
                            f"key: temporary-access")
            continue
        phrases = tuple(Phrase.parse(str(p)) for p in item.get("phrases") or [])
        if not phrases:
            problems.append(f"{where}: {item['key']}: нет ни одной фразы (phrases:); без них "
                            f"запись никогда не сработает")
        topic = Topic(
            key=str(item["key"]), title=str(item.get("title", item["key"])), phrases=phrases,
            words=tuple(Phrase.parse(str(p)) for p in item.get("words") or []),
            unless=tuple(Phrase.parse(str(p)) for p in item.get("unless") or []),
            template=str(item.get("template", "")), mode=str(item.get("mode", "draft")),
            department=str(item.get("department", "")), line=line)
        if section == "answers":
            if not topic.template:
                problems.append(f"{where}: {topic.key}: не указан шаблон; напишите "
                                f"template: answers/{topic.key.replace('-', '_')}")
            if topic.mode not in MODES:
                problems.append(f"{where}: {topic.key}: mode: {topic.mode!r} неизвестен; "
                                f"пишите send (отправлять сразу) или draft (черновик)")
        elif not topic.department:
            problems.append(f"{where}: {topic.key}: не указан отдел; напишите department: и "
                            f"ключ отдела из rules/departments.yaml")
        topics.append(topic)
    return topics
