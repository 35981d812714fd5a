"""Words of a Russian text, normalised so that word forms meet: lower case, ё -> е, Snowball
stems (the sorting rules' stemmer, :mod:`mailproc.sorting.text`, so a word matches alike in
rule files and in answers.yaml).

Where forms still differ (verbs whose stem changes: «зарегистрироваться», «зарегистрируюсь»),
a phrase word may end with ``*`` to match every word that starts with it.
"""

from __future__ import annotations

import re

from mailproc.sorting.text import fold as normalise
from mailproc.sorting.text import stem

_WORD = re.compile(r"[0-9a-zа-я]+(?:-[0-9a-zа-я]+)*")


def words(text: str) -> list[str]:
    """The normalised words of ``text``, in order (hyphenated words kept whole)."""
    return _WORD.findall(normalise(text))


__all__ = ["normalise", "stem", "words"]
