"""Russian text matching for rules: case folded, ё read as е, word forms found by stems.

Readers write «анкету», «анкеты», «Анкетой»; a librarian writes «анкета» once. Keywords are
stemmed once when the rules load (Snowball's Russian stemmer), and a letter is searched with one
regex per keyword list for words starting with a stem; each candidate word is then stemmed
itself and accepted when its stem is the keyword's stem or, for stems of five letters or more,
extends it («регистрац» finds «регистрационные», but «стат» does not find «статус»).

The whole text is searched, however long: a letter's decoding costs as much per kilobyte as
these scans, so a long letter does not tip deciding over its tenth of decoding, and cutting the
text would change where a long letter goes.
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


#: letters re.IGNORECASE takes for another letter although str.lower() keeps them apart: dotless
#: ı, long ſ, the old Cyrillic variants ᲀ-ᲈ (в д о с т ъ ѣ ꙋ), and U+0307 left by lowering İ
_CASE_ODD = re.compile("[ıſᲀ-ᲈ\u0307]")


class Needles:
    """A few words of which a condition's regex needs at least one: looking for them in
    folded text is one literal search, so the condition skips its regexes (and the quoting
    analysis before them) for the many letters holding none. With ``ignorecase`` (that regex
    has re.I) text holding a letter re folds differently from str.lower() is let through, so
    skipping never changes an answer."""

    def __init__(self, *words: str, ignorecase: bool = False):
        # alternatives that all open with a literal: re scans for their first letters
        self._words = re.compile("|".join(re.escape(w) for w in words))
        self._ignorecase = ignorecase

    def in_(self, folded: str) -> bool:
        if self._words.search(folded) is not None:
            return True
        return self._ignorecase and _CASE_ODD.search(folded) is not None


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def _accepts(candidate: str, key: str) -> bool:
    got = stem(candidate)
    return got == key or (len(key) >= 5 and got.startswith(key))


def _alternative(i: int, stems: list[str]) -> str:
    """The search pattern for one phrase: group ``k<i>`` holding one group per word."""
    if not stems or not stems[0]:  # nothing to open with a literal: the plain word boundary
        body = r"\W+".join(rf"({re.escape(s)}\w*)" for s in stems)
        return rf"(?P<k{i}>\b{body}\b)"
    head, rest = stems[0][0], stems[0][1:]
    body = r"\W+".join([rf"({re.escape(rest)}\w*)"] + [rf"({re.escape(s)}\w*)" for s in stems[1:]])
    return rf"{re.escape(head)}(?<!\w.)(?P<k{i}>{body}\b)"


class KeywordMatcher:
    r"""Finds any of several words or phrases in folded text, in any of their forms.

    Speed (deciding must stay under a tenth of decoding): every alternative of the search
    pattern opens with the first letter of its first stem as a plain literal, and the word
    boundary before it is checked by a look-behind right after that letter
    (``с(?<!\w.)...`` instead of ``\bс...``). Both say "a word starts here" (the letter is
    itself a word character), so the matches are the same, but a pattern that opens with
    literals lets the regex engine skip to the positions holding one of those letters instead
    of trying every alternative at every position (about nine times faster on the corpus).
    """

    def __init__(self, phrases: list[str]):
        self.phrases = [p for p in phrases if p.strip()]
        self._stems: list[list[str]] = []
        parts = []
        for i, phrase in enumerate(self.phrases):
            words = _WORD.findall(fold(phrase))
            stems = [stem(w) for w in words]
            self._stems.append(stems)
            parts.append(_alternative(i, stems))
        self._phrase_of: dict[int, int] = {}
        self.pattern = re.compile("|".join(parts)) if parts else None
        if self.pattern is not None:
            index = self.pattern.groupindex
            self._phrase_of = {index[f"k{i}"]: i for i in range(len(self.phrases))}

    def find(self, folded: str) -> str | None:
        """The first keyword found in ``folded`` text (already passed through fold())."""
        if self.pattern is None or not folded:
            return None
        for m in self.pattern.finditer(folded):
            # the alternative that matched: its named group closes last (re's lastindex)
            first = m.lastindex
            i = self._phrase_of[first]
            stems = self._stems[i]
            words = [m.group(first + 1 + j) for j in range(len(stems))]
            if stems and stems[0]:
                words[0] = stems[0][0] + words[0]  # the opening letter stands outside the group
            if all(_accepts(w, s) for w, s in zip(words, stems)):
                return self.phrases[i]
        return None

    def __repr__(self) -> str:
        return f"KeywordMatcher({self.phrases!r})"
