"""Cleaning the values people type into registries: spaces, e-mails, phones, headers. Pure.

Addresses are checked with the maintained ``email-validator`` package (RFC 5321/5322 syntax,
IDNA domains), without DNS look-ups: an import must not depend on the network, and a domain
that does not resolve today may tomorrow. Its English messages become Russian reasons here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

_SPLIT = re.compile(r"[,;]+")
_SPACES = re.compile(r"\s")
_MAILTO = re.compile(r"^mailto:", re.I)


def clean(value) -> str:
    """A cell as text: None -> "", numbers without ".0", inner runs of spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\u00a0", " ").replace("\u200b", "")
    return " ".join(text.split())


def normalise_email(value: str) -> tuple[str, str]:
    """(address, problem): lower-cased addr-spec, or "" with a Russian reason.

    Registries hold "Ivanov@Mail.RU ", "mailto:a@b.ru", "<a@b.ru>", "Иванов <a@b.ru>", several
    addresses in one cell (the first is taken) and Cyrillic domains (converted to punycode,
    RFC 3492). A cell with a space inside the address or other text beside it ("us er@mail.ru")
    is refused, never cut down to what looks like an address: that would be someone else's.
    Non-Latin letters before the "@" (RFC 6531) are refused too: the library's mail server
    and many readers' servers do not carry them.
    """
    return _normalise_email(clean(value))


@lru_cache(maxsize=8192)  # a registry names the same address for a person and its organisation
def _normalise_email(text: str) -> tuple[str, str]:
    if not text:
        return "", "нет адреса электронной почты"
    candidate, problem = _one_address(text)
    if not candidate:
        return "", f"неверный адрес электронной почты «{text}»: {problem}"
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return "", f"неверный адрес электронной почты «{text}»: {reason_ru(str(exc))}"
    return checked.ascii_email.lower(), ""


def _one_address(text: str) -> tuple[str, str]:
    """The first address of a cell, or ("", why)."""
    if "<" in text and ">" in text.partition("<")[2]:  # Иванов <a@b.ru>
        text = text.partition("<")[2].partition(">")[0]
    text = _MAILTO.sub("", text.strip("<>\"' "))
    first = next((p for p in _SPLIT.split(text) if "@" in p), text).strip("<>\"' .")
    first = _MAILTO.sub("", first)
    if "@" not in first:
        return "", "нет знака «@»"
    if _SPACES.search(first):
        words = first.split()
        if not all("@" in w for w in words):  # "a@b.ru c@d.ru" is two addresses, fine
            return "", "пробел внутри адреса или лишний текст рядом с ним"
        first = words[0].strip("<>\"' .")
    return first, ""


#: email-validator's messages (English) -> the reason a librarian reads; first match wins
_REASONS = [
    (r"two periods in a row", "две точки подряд"),
    (r"start with a period", "адрес начинается с точки"),
    (r"period immediately before the @-sign", "точка перед «@»"),
    (r"period immediately after the @-sign", "точка сразу после «@»"),
    (r"end with a period", "адрес кончается точкой"),
    (r"hyphen immediately after the @-sign", "дефис сразу после «@»"),
    (r"hyphen", "дефис в начале или в конце части имени домена"),
    (r"SPACE|space", "пробел внутри адреса"),
    (r"Internationalized characters before the @-sign",
     "русские или другие нелатинские буквы до «@»: такой адрес доставляют не все серверы"),
    (r"before the @-sign", "недопустимые знаки до «@»"),
    (r"must have an @-sign", "нет знака «@»"),
    (r"something before the @-sign", "нет имени до «@»"),
    (r"something after the @-sign", "нет домена после «@»"),
    (r"should have a period|top-level domain", "в домене нет зоны (например, .ru)"),
    (r"special-use or reserved", "служебный домен, на него почта не доставляется"),
    (r"too long", "адрес слишком длинный"),
    (r"after the @-sign|IDNA", "недопустимые знаки в имени домена"),
    (r"quot", "кавычки в адресе"),
]


def reason_ru(message: str) -> str:
    """email-validator's reason in Russian; a general one for messages not known here."""
    for pattern, reason in _REASONS:
        if re.search(pattern, message):
            return reason
    return "адрес не соответствует правилам записи (RFC 5322)"


def normalise_phone(value: str) -> str:
    """+7XXXXXXXXXX for Russian numbers written as 8..., 7... or 9...; else digits as given."""
    text = clean(value)
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "+7" + digits
    if text.startswith("+") and len(digits) >= 7:
        return "+" + digits
    return digits if len(digits) >= 5 else ""


def header_key(header) -> str:
    """A column header made comparable: lower case, ё as е, punctuation as single spaces."""
    text = clean(header).lower().replace("ё", "е")
    return " ".join(re.sub(r"[^\w@]+", " ", text).split())


def split_list(value: str) -> list[str]:
    """"история; краеведение, IT" -> ["история", "краеведение", "IT"]."""
    return [p.strip() for p in re.split(r"[;,\n]+", clean(value)) if p.strip()]


def parse_yes(value: str) -> bool | None:
    """Consent cells: да/нет/+/-/1/0/true/false; None when empty or unreadable."""
    text = clean(value).lower()
    if text in ("да", "yes", "y", "+", "1", "true", "есть", "согласен", "согласна", "дано"):
        return True
    if text in ("нет", "no", "n", "-", "0", "false", "отказ"):
        return False
    return None
