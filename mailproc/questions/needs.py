"""Information needs (instruction 2.9) found in a question: pure extraction, no I/O.

What readers ask the library to digitise first (author, title, topic), which sections they
miss in the EL, which subscription resources they want. The reader's sentence is always kept;
the fields are a best guess a librarian can correct (``mailproc needs edit``), because an
author's name in a Russian sentence is usually inflected ("оцифруйте книгу Кулаковского").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from mailproc.questions.book import AnswerBook
from mailproc.questions.matcher import matching_needs

_QUOTED_TITLE = re.compile(r"[«\"“„']([^«»\"“”„']{2,200})[»\"”“']")
_NAME = r"[А-ЯЁA-Z][а-яёa-z]+(?:-[А-ЯЁA-Z][а-яёa-z]+)?"
_INITIALS = r"[А-ЯЁA-Z]\.\s?(?:[А-ЯЁA-Z]\.)?"
_AUTHOR_PATTERNS = [
    re.compile(rf"\b(?:автор[аы]?|писател[ья]|поэт[аы]?)\s+({_INITIALS}\s?{_NAME}|{_NAME}(?:\s{_INITIALS})?)"),
    re.compile(rf"\b({_INITIALS}\s?{_NAME})"),
    re.compile(rf"\b({_NAME}\s{_INITIALS})"),
    re.compile(rf"\b(?:книг[уаи]|учебник[аи]?|сборник[аи]?|роман[аы]?|повест[ьи]|издани[еяй]|"
               rf"стих[иов]*|труд[ыа]?|монографи[юи])\s+({_NAME}(?:\s{_NAME})?)"),
]
_TOPIC = re.compile(r"\b(?:по\s+теме|на\s+тему|по\s+тематике|по\s+истории|раздел[аы]?\s+(?:о|об|по|про)"
                    r"|коллекци[юи]\s+(?:о|об|по|про)|по\s+направлению)\s+[«\"]?([^.,;!?«»\"]{3,120})",
                    re.I)
_RESOURCE = re.compile(r"\b(?:подписк[уиа]\s+на|подписаться\s+на|подключит[ье]\s+(?:к\s+)?|"
                       r"доступ\s+к\s+(?:базе\s+)?)\s*[«\"]?([A-Za-zА-ЯЁ][\w.\- ]{1,60}?)(?=[»\".,;!?]|\s+(?:для|в|и|на|по)\b|$)")


@dataclass(frozen=True)
class NeedFound:
    kind: str  # "digitise" | "section" | "subscription"
    text: str  # the reader's sentence
    author: str = ""
    title: str = ""
    topic: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _first(patterns, text: str) -> str:
    for p in patterns:
        m = p.search(text)
        if m:
            return m.group(1).strip()
    return ""


def extract_needs(book: AnswerBook, text: str) -> list[NeedFound]:
    found = []
    for kind, sentence in matching_needs(book, text):
        title_m = _QUOTED_TITLE.search(sentence)
        title = title_m.group(1).strip() if title_m else ""
        rest = _QUOTED_TITLE.sub(" ", sentence)
        author = _first(_AUTHOR_PATTERNS, rest) if kind == "digitise" else ""
        topic_m = _TOPIC.search(sentence)
        topic = topic_m.group(1).strip() if topic_m else ""
        if kind == "subscription" and not topic:
            res = _RESOURCE.search(sentence)
            topic = res.group(1).strip() if res else ""
        if kind == "section" and not topic and title:
            topic, title = title, ""
        found.append(NeedFound(kind, sentence[:1000], author[:400], title[:1000], topic[:400]))
    return found
