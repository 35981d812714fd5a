"""The built-in decision used when no rules are loaded: automatic mail apart from the rest."""

from __future__ import annotations

from mailproc.keywords import AUTOMATIC, BOUNCE
from mailproc.letter import Letter
from mailproc.letter.marks import is_automatic
from mailproc.sorting.decision import Decision

AUTOMATIC_FOLDER = "Автоматические"
BOUNCE_FOLDER = "Недоставленные"
PEOPLE_FOLDER = "Обработанные"


def builtin_decide(letter: Letter) -> Decision:
    if letter.bounce is not None:
        return Decision(category="bounce", rule="", folder=BOUNCE_FOLDER,
                        keywords=[BOUNCE.keyword],
                        trace=[{"rule": "builtin", "hit": ["bounce"]}])
    if is_automatic(letter):
        why = letter.automatic_reason or f"no-reply sender {letter.sender.email}"
        return Decision(category="automatic", rule="", folder=AUTOMATIC_FOLDER,
                        keywords=[AUTOMATIC.keyword],
                        trace=[{"rule": "builtin", "hit": [f"automatic: {why}"]}])
    return Decision(category="person", rule="", folder=PEOPLE_FOLDER,
                    trace=[{"rule": "builtin", "miss": ["automatic", "bounce"]}])
