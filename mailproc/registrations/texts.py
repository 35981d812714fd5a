"""Reading what people wrote about a registration. Pure functions of text.

Only the writer's own words count: quoted replies (lines starting with ``>``, everything after
"... пишет:" or an "Original Message" rule) repeat our own mail, which names every document
and would otherwise look like the reader naming them.
"""

from __future__ import annotations

import re

_QUOTE_START = re.compile(
    r"^\s*(>|-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение)"
    r"|.{0,200}\b(пишет|wrote|написал\(а\)|написала|написал)\s*:\s*$)",
    re.I,
)


def own_text(text: str) -> str:
    lines = []
    for line in (text or "").splitlines():
        if _QUOTE_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def _fold(text: str) -> str:
    return (text or "").lower().replace("ё", "е")


_WITHDRAW = re.compile(
    r"(отзыв\w*|отозва\w*|аннулир\w*)\s+(\w+\s+){0,3}соглас\w*"
    r"|соглас\w*\s+(\w+\s+){0,3}(отзыва\w*|отзыв\w*|аннулир\w*)"
    r"|(удалит\w*|уничтож\w*)\s+(\w+\s+){0,3}(мои|моих|мой|персональн\w*)\s+(\w+\s+){0,2}"
    r"(данн\w*|документ\w*)"
    r"|withdraw\w*\s+(my\s+)?consent",
)


def asks_withdrawal(text: str) -> bool:
    """The reader withdraws the consent or asks for their data to be destroyed (152-FZ
    art. 9 p. 2, art. 21 p. 5)."""
    return bool(_WITHDRAW.search(_fold(own_text(text))))


_TOKEN = re.compile(r"\b\d{4}-\d{5}\b")
_CARD = re.compile(
    r"(?:чб|читательск\w*\s+билет\w*|номер\w*\s+(?:билета|чб)|билет\w*|логин\w*|номер\w*)"
    r"[^\d\n]{0,40}?(?:№\s*)?(?P<num>\d[\d\-]{3,18}\d)",
)


def card_number(text: str) -> str:
    """The reader-card number in ЦКО's answer; "" when none is found.

    The number must follow words that name it (ЧБ, читательский билет, номер, логин), so a
    date or a phone elsewhere in the mail is not taken for it; our case tokens are ignored.
    """
    own = _TOKEN.sub(" ", own_text(text))
    m = _CARD.search(_fold(own))
    return m.group("num").replace("-", "") if m else ""


_NAME = re.compile(
    r"(?i:фио|меня\s+зовут|читател[ья])\s*[:\-–]?\s*"
    r"(?P<name>[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?(?:\s+[А-ЯЁ][а-яё]+){1,2})"
)


def reader_name(text: str) -> str:
    """A full name the writer gives ("ФИО: Петрова Анна Ивановна", "Меня зовут ..."); ""."""
    own = own_text(text)
    m = _NAME.search(own)
    return " ".join(m.group("name").split()) if m else ""


def names_match(a: str, b: str) -> bool:
    """Same person: surname and first name equal, ё folded, case ignored."""
    wa, wb = _fold(a).split(), _fold(b).split()
    if len(wa) < 2 or len(wb) < 2:
        return False
    return set(wa[:2]) == set(wb[:2]) or (wa[0] == wb[0] and wa[1][:1] == wb[1][:1]
                                          and len(wa) == len(wb) == 3 and wa[2] == wb[2])


def name_in_text(name: str, text: str) -> bool:
    """Surname and first name appear in the text in any grammatical case (the last two
    letters are ignored): "Петровой Анне Ивановне" names Петрова Анна."""
    words = _fold(name).split()
    if len(words) < 2:
        return False
    hay = set(re.findall(r"[а-яa-z]+", _fold(text)))
    stems = [w[:max(3, len(w) - 2)] for w in words[:2]]
    return all(any(h.startswith(stem) for h in hay) for stem in stems)
