"""Russian text matching for rules: case folded, ё read as е, word forms found by stems.

Readers write «анкету», «анкеты», «Анкетой»; a librarian writes «анкета» once. Keywords are
stemmed once when the rules load (Snowball's Russian stemmer), and a letter is searched with one
regex per keyword list for words starting with a stem; each candidate word is then stemmed
itself and accepted when its stem is the keyword's stem or, for stems of five letters or more,
extends it («регистрац» finds «регистрационные», but «стат» does not find «статус»).
"""

from __future__ import annotations

import functools
import re

import snowballstemmer

_STEMMER = snowballstemmer.stemmer("russian")
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case with ё folded to е: how every rule compares Russian text."""
    return text.lower().replace("ё", "е")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def _accepts(candidate: str, key: str) -> bool:
    got = stem(candidate)
    return got == key or (len(key) >= 5 and got.startswith(key))


class KeywordMatcher:
    """Finds any of several words or phrases in folded text, in any of their forms."""

    def __init__(self, phrases: list[str]):
        self.phrases = [p for p in phrases if p.strip()]
        self._stems: list[list[str]] = []
        parts = []
        for i, phrase in enumerate(self.phrases):
            words = _WORD.findall(fold(phrase))
            stems = [stem(w) for w in words]
            self._stems.append(stems)
            body = r"\W+".join(rf"({re.escape(s)}\w*)" for s in stems)
            parts.append(rf"(?P<k{i}>\b{body}\b)")
        self._groups = []
        self.pattern = re.compile("|".join(parts)) if parts else None
        if self.pattern is not None:
            index = self.pattern.groupindex
            self._groups = [index[f"k{i}"] for i in range(len(self.phrases))]

    def find(self, folded: str) -> str | None:
        """The first keyword found in ``folded`` text (already passed through fold())."""
        if self.pattern is None:
            return None
        for m in self.pattern.finditer(folded):
            for i, first in enumerate(self._groups):
                if m.group(first) is None:
                    continue
                stems = self._stems[i]
                words = [m.group(first + 1 + j) for j in range(len(stems))]
                if all(_accepts(w, s) for w, s in zip(words, stems)):
                    return self.phrases[i]
                break
        return None

    def __repr__(self) -> str:
        return f"KeywordMatcher({self.phrases!r})"
