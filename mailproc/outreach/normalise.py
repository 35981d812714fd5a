"""Cleaning the values people type into registries: spaces, e-mails, phones, headers. Pure."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.([a-z]{2,}|xn--[a-z0-9-]+)$")
_SPLIT = re.compile(r"[,;\s]+")


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

    Registries hold "Ivanov@Mail.RU ", "mailto:a@b.ru", "<a@b.ru>", several addresses in one
    cell (the first is taken), and Cyrillic domains (converted to punycode, RFC 3492).
    """
    text = clean(value)
    if not text:
        return "", "нет адреса электронной почты"
    text = text.strip("<>\"'").removeprefix("mailto:").removeprefix("MAILTO:")
    first = next((p for p in _SPLIT.split(text) if "@" in p), text).strip("<>\"'.,;")
    local, at, domain = first.rpartition("@")
    if not at or not local or not domain:
        return "", f"неверный адрес электронной почты «{text}»"
    try:
        domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return "", f"неверный адрес электронной почты «{text}»"
    address = f"{local.lower()}@{domain}"
    if not _EMAIL.match(address):
        return "", f"неверный адрес электронной почты «{text}»"
    return address, ""


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
