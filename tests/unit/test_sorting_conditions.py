"""Conditions one by one: pure functions of a letter and its facts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailproc.letter import decode_letter
from mailproc.letter.model import Address, Attachment, Letter
from mailproc.sorting import conditions  # noqa: F401 - registers the conditions
from mailproc.sorting.directory import load_directory
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.params import ArgError, Env
from mailproc.sorting.registry import CONDITIONS
from mailproc.sorting.text import KeywordMatcher, fold
from mailproc.tokens import Tokens

from tests.unit.test_rules_check import ROOT

TOKENS = Tokens(b"k", "nlrs.ru")
DIRECTORY = load_directory(ROOT / "rules" / "departments.yaml")
ENV = Env(directory=DIRECTORY)


def mail(**kw) -> Letter:
    kw.setdefault("sender", Address("reader@mail.example", "Читатель"))
    return Letter(content_hash="x", size=1, message_id="<m@x>", **kw)


def check(cond: str, letter: Letter, raw=None, **named) -> bool:
    spec = CONDITIONS[cond]
    if raw is not None:
        named = {next(iter(spec.params)): raw}
    args = {k: spec.params[k].convert(v, ENV) for k, v in named.items()}
    facts = offline_facts(letter, TOKENS)
    facts.directory = DIRECTORY
    return spec.func(letter, facts, **args)


@pytest.mark.parametrize("text", ["Высылаю АНКЕТУ", "анкеты во вложении", "с анкетой", "анкетЫ"])
def test_keywords_find_word_forms(text):
    assert KeywordMatcher(["анкета"]).find(fold(text)) == "анкета"


def test_keywords_fold_yo_and_keep_short_stems_exact():
    assert KeywordMatcher(["ещё раз"]).find(fold("Еще раз прошу")) == "ещё раз"
    assert KeywordMatcher(["статья"]).find(fold("статус заказа")) is None
    assert KeywordMatcher(["статья"]).find(fold("нужны статьи")) == "статья"
    assert KeywordMatcher(["регистрация"]).find(fold("регистрационные документы"))
    assert KeywordMatcher(["читательский билет"]).find(fold("номер читательского билета"))


def test_sender_conditions():
    dept = mail(sender=Address("storage@nlrs.example"))
    assert check("sender-department", dept)
    assert check("sender-department", dept, department="storage")
    assert not check("sender-department", dept, department="cko")
    assert not check("sender-department", mail())
    assert check("sender-domain", mail(), "mail.example")
    assert check("sender-glob", mail(), "*@mail.*")
    assert check("sender-address", mail(), ["READER@mail.example"])
    assert check("sender-address", mail(sender=Address("lod.duty@mail.example")), "сотрудники")
    assert check("recipient", mail(to=[Address("personbibl@nlrs.ru")]), ["personbibl@*"])


def test_text_conditions():
    letter = mail(subject="Регистрация в ЭБ", text="Прошу выдать читательский билет")
    assert check("subject-any-of", letter, "регистрация")
    assert check("body-any-of", letter, ["читательский билет"])
    assert check("subject-contains", letter, "в эб")
    assert check("body-regex", letter, r"чита\w+ский")
    assert not check("body-contains", letter, "анкета")
    assert check("subject-empty", mail(subject="Fwd: "))
    assert check("body-length", mail(text="Отправлено с iPhone"), max=40)


def test_attachment_conditions():
    files = [Attachment("Анкета.JPG", "image/jpeg", 2_000_000, "a"),
             Attachment("scan.pdf", "application/pdf", 100, "b")]
    letter = mail(attachments=files)
    assert check("attachment-count", letter, min=2, family=["image", "pdf"])
    assert not check("attachment-count", letter, min=2, family=["image"])
    assert check("attachment-family", letter, ["pdf"])
    assert check("attachment-size", letter, min="1MB")
    assert check("attachment-name", letter, ["*анкет*"])
    assert check("attachment-name", letter, "файлы регистрации")


def test_threads_tokens_and_automatic():
    ours = TOKENS.message_id("2026-00042", "o")
    assert check("reply-to-our-message", mail(in_reply_to=ours))
    forged = ours.replace(ours.split(".")[2], "0000000000")
    assert not check("reply-to-our-message", mail(in_reply_to=forged))
    assert check("carries-token", mail(subject="Re: [НБ 2026-00042] заказ"))
    assert not check("carries-token", mail(subject="Re: [НБ 2026-00042] заказ"), signed=True)
    def raw(auto: str) -> Letter:
        return decode_letter(f"From: a@mail.example\r\nAuto-Submitted: {auto}\r\n"
                             f"Subject: x\r\n\r\ntext\r\n".encode())

    assert check("automatic", raw("auto-replied"))
    assert not check("automatic", raw("no"))
    assert check("automatic", mail(sender=Address("no-reply@gosuslugi.example")))
    assert not check("automatic", mail())
    assert check("header", mail(headers=[("X-Mailer", "Microsoft Outlook 16.0")]),
                 name="x-mailer", contains="outlook")


def test_time_conditions_use_the_library_time_zone():
    # 23:30 UTC on Sunday is 08:30 on Monday in Yakutsk (UTC+9)
    letter = mail(date=datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    assert check("weekday", letter, ["пн"])
    assert check("time-window", letter, **{"from": "08:00", "to": "09:00"})
    assert not check("time-window", letter, **{"from": "09:00", "to": "18:00"})
    night = mail(date=datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=9))) +
                 timedelta(hours=9))
    assert check("time-window", night, **{"from": "22:00", "to": "07:00"})


def test_bad_arguments_say_what_to_write():
    with pytest.raises(ArgError) as err:
        CONDITIONS["weekday"].params["days"].convert(["понедельник", "пятн", "воскр", "xx"], ENV)
    assert "пишите пн, вт" in err.value.hint
