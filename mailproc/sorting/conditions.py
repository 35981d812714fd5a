"""The built-in conditions. Each is pure: (letter, facts, **args) -> bool, no I/O.

Text conditions compare folded text (lower case, ё as е); ``*-any-of`` conditions find word
forms by stems (text.py). Times are read in ``mail.timezone`` (set by the Sorter).
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from zoneinfo import ZoneInfo

from mailproc.letter.marks import is_automatic
from mailproc.sorting.registry import condition
from mailproc.sorting.text import fold

#: the library's time zone, for weekday and time-window (the Sorter sets it from the settings)
TIMEZONE = {"tz": ZoneInfo("Asia/Yakutsk")}


def folded_words(letter, facts) -> str:
    """Subject and text folded, with forwarded letters' text: for a condition's cheap look for
    the words its regexes need (text.Needles). Taken from the facts' per-letter cache when the
    facts are this letter's, so the letter is folded once however many conditions look."""
    if getattr(facts, "letter", None) is letter:
        return facts.folded("subject") + "\n" + facts.folded("body")
    return fold(letter.subject or "") + "\n" + fold(letter.text or "")


# -- sender and recipients ------------------------------------------------------------------

@condition("sender-address", "Адрес отправителя — один из перечисленных или из списка",
           {"addresses": "addresses"})
def sender_address(letter, facts, addresses) -> bool:
    return letter.sender.email in addresses


@condition("sender-domain", "Домен отправителя (часть адреса после @)", {"domain": "strs"})
def sender_domain(letter, facts, domain) -> bool:
    got = letter.sender.domain
    return any(got == d.lower() or got.endswith("." + d.lower()) for d in domain)


@condition("sender-glob", "Адрес отправителя подходит под шаблон, например *@nlrs.example",
           {"pattern": "glob"})
def sender_glob(letter, facts, pattern) -> bool:
    return fnmatch.fnmatchcase(letter.sender.email, pattern)


@condition("sender-department", "Письмо от отдела библиотеки (адрес из departments.yaml)",
           {"department": "department?"})
def sender_department(letter, facts, department=None) -> bool:
    directory = facts.directory
    if directory is None:
        return False
    addr = letter.sender.email
    if department is not None:
        return addr in department.all_addresses()
    return directory.by_address(addr) is not None or addr in (directory.lod,
                                                              getattr(directory.cko, "address", None))


@condition("sender-authenticated", "Почтовый сервер библиотеки подтвердил домен отправителя "
           "(DMARC, подпись DKIM, SPF или внутренний узел из [trust]); без настройки [trust] "
           "authserv_ids не выполняется")
def sender_authenticated(letter, facts) -> bool:
    auth = getattr(facts, "auth", None)
    return auth is not None and auth.status == "pass"


@condition("sender-known-reader", "Отправитель уже писал нам как читатель")
def sender_known_reader(letter, facts) -> bool:
    return facts.known_reader(letter.sender.email)


@condition("recipient", "Среди получателей (To, Cc) есть адрес из перечисленных или из списка",
           {"addresses": "addresses"})
def recipient(letter, facts, addresses) -> bool:
    return any(a.email in addresses for a in letter.recipients)


# -- subject and body -----------------------------------------------------------------------

def _text_conditions(part: str, label: str) -> None:
    @condition(f"{part}-contains", f"{label} содержит текст (без учёта регистра, ё = е)",
               {"text": "strs"})
    def contains(letter, facts, text) -> bool:
        got = facts.folded(part)
        return any(fold(t) in got for t in text)

    @condition(f"{part}-any-of", f"{label} содержит одно из слов в любой форме",
               {"words": "keywords"})
    def any_of(letter, facts, words) -> bool:
        return words.find(facts.folded(part)) is not None

    @condition(f"{part}-regex", f"{label} подходит под регулярное выражение",
               {"pattern": "regex"})
    def regex(letter, facts, pattern) -> bool:
        return pattern.search(facts.folded(part)) is not None


_text_conditions("subject", "Тема")
_text_conditions("body", "Текст письма")


@condition("text-any-of", "Тема, текст или имена вложений содержат одно из слов в любой форме",
           {"words": "keywords"})
def text_any_of(letter, facts, words) -> bool:
    folded = facts.folded
    return (words.find(folded("subject")) is not None or words.find(folded("body")) is not None
            or words.find(folded("names")) is not None)


@condition("subject-empty", "Тема пустая или только «Fwd:»/«Re:»")
def subject_empty(letter, facts) -> bool:
    rest = facts.folded("subject")
    for prefix in ("re:", "fwd:", "fw:", "ответ:", "пересл:"):
        rest = rest.replace(prefix, "")
    return not rest.strip()


@condition("body-length", "Длина текста письма в символах (min, max)",
           {"min": "int?", "max": "int?"})
def body_length(letter, facts, min=None, max=None) -> bool:
    n = len((letter.text or "").strip())
    return (min is None or n >= min) and (max is None or n <= max)


# -- attachments ----------------------------------------------------------------------------

def _attachments(letter, families=None, inline=True):
    found = [a for a in letter.all_attachments() if inline or not a.inline]
    if families:
        found = [a for a in found if a.family in families]
    return found


@condition("attachment-count", "Число вложений (min, max), можно только нужного вида",
           {"min": "int?", "max": "int?", "family": "families?"})
def attachment_count(letter, facts, min=None, max=None, family=None) -> bool:
    n = len(_attachments(letter, family))
    return (min is None or n >= min) and (max is None or n <= max)


@condition("attachment-family", "Есть вложение вида image, pdf, office, archive",
           {"family": "families"})
def attachment_family(letter, facts, family) -> bool:
    if not family:
        return bool(letter.all_attachments())
    return any(a.family in family for a in letter.all_attachments())


@condition("attachment-size", "Есть вложение размером в пределах (min, max)",
           {"min": "size?", "max": "size?"})
def attachment_size(letter, facts, min=None, max=None) -> bool:
    return any((min is None or a.size >= min) and (max is None or a.size <= max)
               for a in letter.all_attachments())


@condition("attachment-name", "Имя вложения подходит под шаблон, например *анкет*",
           {"pattern": "globs"})
def attachment_name(letter, facts, pattern) -> bool:
    names = [fold(a.name) for a in letter.all_attachments()]
    return any(fnmatch.fnmatchcase(n, p) for n in names for p in pattern)


# -- headers, automatic mail, threads -------------------------------------------------------

@condition("header", "Заголовок есть (и содержит текст или подходит под выражение)",
           {"name": "str", "contains": "str?", "regex": "regex?"})
def header(letter, facts, name, contains=None, regex=None) -> bool:
    values = letter.header_all(name)
    if not values:
        return False
    if contains is not None:
        return any(fold(contains) in fold(v) for v in values)
    if regex is not None:
        return any(regex.search(fold(v)) for v in values)
    return True


def is_bounce(letter) -> bool:
    """A delivery-status report (RFC 3464), as the decoder parsed it."""
    return letter.bounce is not None


@condition("automatic", "Автоматическое письмо: автоответ, рассылка, уведомление (RFC 3834)")
def automatic(letter, facts) -> bool:
    return is_automatic(letter)


@condition("bounce", "Сообщение о недоставке нашего письма (RFC 3464)")
def bounce(letter, facts) -> bool:
    return is_bounce(letter)


@condition("reply-to-our-message", "Ответ на наше письмо (In-Reply-To или References)")
def reply_to_our_message(letter, facts) -> bool:
    return any(facts.our_message(m) for m in [letter.in_reply_to, *letter.references] if m)


@condition("is-reply", "Похоже на ответ: есть In-Reply-To/References или тема начинается с Re:")
def is_reply(letter, facts) -> bool:
    if letter.in_reply_to or letter.references:
        return True
    subject = facts.folded("subject").lstrip()
    return subject.startswith(("re:", "re[", "ответ:", "отв:", "aw:"))


@condition("is-forward", "Пересланное письмо (Fwd: в теме или вложенное письмо)")
def is_forward(letter, facts) -> bool:
    subject = facts.folded("subject").lstrip()
    return bool(letter.forwarded) or subject.startswith(("fwd:", "fw:", "пересл:"))


@condition("carries-token", "Письмо несёт номер заявки (подписанный Message-ID, тема, метка)",
           {"kind": "str?", "signed": "bool?"})
def carries_token(letter, facts, kind=None, signed=None) -> bool:
    for hit in facts.tokens:
        if kind is not None and hit.kind and hit.kind != kind:
            continue
        if signed and hit.how != "message-id":
            continue
        return True
    return False


# -- time -----------------------------------------------------------------------------------

def _local(letter) -> datetime | None:
    return letter.date.astimezone(TIMEZONE["tz"]) if letter.date is not None else None


@condition("weekday", "День недели отправки (по времени библиотеки)", {"days": "weekdays"})
def weekday(letter, facts, days) -> bool:
    when = _local(letter)
    return when is not None and when.weekday() in days


@condition("time-window", "Время отправки между from и to (по времени библиотеки)",
           {"from": "time", "to": "time"})
def time_window(letter, facts, **window) -> bool:
    when = _local(letter)
    if when is None:
        return False
    minute, start, end = when.hour * 60 + when.minute, window["from"], window["to"]
    return start <= minute < end if start <= end else minute >= start or minute < end
