"""What PostgreSQL is sent (mailproc.store.storable), what the intake refuses before any rule
(mailproc.letter.sanity) and the poison reason's Russian (mailproc.attempts)."""

from __future__ import annotations

import json

from mailproc.attempts import Tried, poison_reason
from mailproc.letter import decode_letter
from mailproc.letter.sanity import NO_HEADERS, refusal
from mailproc.store.storable import _params, json_dumps, storable, unstorable


def test_nul_and_lone_surrogates_are_replaced_and_clean_text_is_left_alone():
    clean = "Вопрос про ЛитРес 😀"
    assert storable(clean) is clean and not unstorable(clean)
    assert storable("a\x00b\udc80c\ud800") == "a\ufffdb\ufffdc\ufffd"
    assert unstorable("\x00") and unstorable("я\udcff")


def test_json_for_postgresql_has_no_nul_escape_and_no_lone_surrogate():
    doc = {"subject": "\x00\x00", "to": [{"name": "Чита\udc80тель"}], "k\x00": 1,
           "text": "литерально \\u0000 в тексте", "emoji": "😀"}
    text = json_dumps(doc)
    assert "\\u0000" not in text.replace("\\\\u0000", "")
    back = json.loads(text)
    assert back["subject"] == "\ufffd\ufffd" and back["to"][0]["name"] == "Чита\ufffdтель"
    assert back["k\ufffd"] == 1 and back["text"] == "литерально \\u0000 в тексте"
    assert back["emoji"] == "😀"
    text.encode("utf-8")  # no lone surrogate left


def test_parameters_of_every_shape_are_cleaned():
    assert _params({"a": "x\x00", "b": 1, "c": b"\x00"}) == {"a": "x\ufffd", "b": 1,
                                                             "c": b"\x00"}
    assert _params([{"a": "\x00"}, {"a": "ok"}]) == [{"a": "\ufffd"}, {"a": "ok"}]
    assert _params(("\ud800", 2)) == ("\ufffd", 2)
    same = {"a": "ok"}
    assert _params(same) is same


def test_refusal_names_where_the_unstorable_text_is():
    nul_subject = decode_letter(b"From: a@example.org\r\nSubject: =?x-evil?B?AAAA?=\r\n"
                                b"Message-ID: <n@example.org>\r\n\r\nhi\r\n")
    assert refusal(nul_subject) == (
        "в письме есть символы, которые нельзя сохранить в базе данных (NUL, U+0000, или "
        "одиночный суррогат UTF-16): тема; письмо не обработано")
    nul_name = decode_letter(b"From: =?x-evil?B?AAAA?= <a@example.org>\r\nSubject: ok\r\n"
                             b"\r\nhi\r\n")
    assert refusal(nul_name).endswith(": адрес или имя отправителя; письмо не обработано")
    assert refusal(decode_letter(b"\r\nonly a body\r\n")) == NO_HEADERS
    assert refusal(decode_letter(b"From: a@example.org\r\nSubject: ok\r\n\r\nhi\r\n")) == ""


def test_a_nul_in_an_attachment_name_is_not_refused_the_name_is_rebuilt():
    """Attachment names never leave as written (outbound.filenames.safe_name drops NUL and
    every control character) and are stored replaced on PostgreSQL: a department's scan
    named ``nul%00byte.jpg`` is forwarded with a clean name (issue 17), not sent to review."""
    raw = (b"From: storage@example.org\r\nSubject: scans\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: image/jpeg\r\n"
           b"Content-Disposition: attachment; filename*=utf-8''nul%00byte.jpg\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQ==\r\n--b--\r\n")
    letter = decode_letter(raw)
    assert "\x00" in letter.attachments[0].name
    assert refusal(letter) == ""


def test_poison_reason_in_russian():
    assert poison_reason(Tried(3)) == (
        "обработка письма трижды прервалась: процесс mailproc завершился, не закончив её "
        "(например, ему не хватило памяти); письмо перенесено на разбор без обработки")
    assert poison_reason(Tried(2, "MemoryError")).startswith(
        "обработка письма дважды прервалась: последняя ошибка — MemoryError;")
    assert poison_reason(Tried(5)).startswith("обработка письма прервалась 5 раз:")
    assert poison_reason(Tried(22)).startswith("обработка письма прервалась 22 раза:")
    assert poison_reason(Tried(12)).startswith("обработка письма прервалась 12 раз:")
