"""Charsets and header words: the ways Russian mail arrives mislabelled, one by one."""

from __future__ import annotations

import base64

import pytest

from mailproc.letter import decode_letter
from mailproc.letter.charsets import decode_text, lookup
from mailproc.letter.headers import decode_header, parse_params

TEXT = "Здравствуйте! Прошу прислать страницы книги, шифр КХ2. Спасибо, Пётр."


@pytest.mark.parametrize("name, codec", [
    ("win-1251", "cp1251"), ("cp-1251", "cp1251"), ("Windows-1251", "cp1251"),
    ("x-mac-cyrillic", "mac_cyrillic"), ("KOI8R", "koi8_r"), ("koi8-r", "koi8_r"),
    ("utf8", "utf_8"), ("x-unknown", None), ("no-such-charset", None), ("ut\x00f-8", None),
])
def test_charset_aliases(name, codec) -> None:
    assert lookup(name) == codec


@pytest.mark.parametrize("actual, declared", [
    ("cp1251", "koi8-r"), ("koi8_r", "windows-1251"), ("cp1251", "us-ascii"), ("koi8_r", None),
    ("utf-8", "windows-1251"), ("cp1251", "iso-8859-1"), ("cp1251", "win-1251"),
])
def test_wrong_or_missing_charset_is_detected_and_recorded(actual, declared) -> None:
    result = decode_text(TEXT.encode(actual), declared)
    assert result.text == TEXT
    if declared in ("win-1251",):
        assert result.defect == ""
    else:
        assert result.defect  # a wrong label is reported, never silently ignored


def test_short_koi8_word_labelled_cp1251() -> None:
    assert decode_text("Привет".encode("koi8_r"), "windows-1251").text == "Привет"


def test_replacement_is_never_silent() -> None:
    result = decode_text(b"\x98\x98\x98\x98 \xff\xfe", "utf-8")
    assert "\ufffd" not in result.text or "replaced" in result.defect


def test_big_text_is_decoded_whole_from_a_sample_decision() -> None:
    data = (TEXT + "\n").encode("koi8_r") * 3000
    result = decode_text(data, None)
    assert result.charset == "koi8_r" and result.text == (TEXT + "\n") * 3000


def test_encoded_words_split_inside_a_utf8_character_are_joined() -> None:
    data = "Фото анкеты".encode()
    first, second = base64.b64encode(data[:3]).decode(), base64.b64encode(data[3:]).decode()
    assert decode_header(f"=?utf-8?B?{first}?=\r\n =?utf-8?B?{second}?=", []) == "Фото анкеты"


def test_raw_8bit_header_words() -> None:
    for codec in ("cp1251", "koi8_r", "utf-8"):
        raw = ("Заказ статьи из журнала").encode(codec).decode("ascii", "surrogateescape")
        assert decode_header(raw, []) == "Заказ статьи из журнала"


def test_display_name_with_comma_stays_one_address() -> None:
    word = base64.b64encode("Иванов, Иван".encode("cp1251")).decode()
    raw = f"From: =?windows-1251?B?{word}?= <ivan@example.org>\r\n\r\nx".encode()
    letter = decode_letter(raw)
    assert (letter.sender.name, letter.sender.email) == ("Иванов, Иван", "ivan@example.org")


def test_rfc2231_continuations_in_koi8() -> None:
    name = "Согласие на обработку персональных данных.jpg".encode("koi8_r")
    half = len(name) // 2
    enc = lambda b: "".join(f"%{x:02X}" for x in b)  # noqa: E731
    value = (f"attachment; filename*0*=koi8-r''{enc(name[:half])};\r\n"
             f" filename*1*={enc(name[half:])}")
    assert parse_params(value, [])[1]["filename"] == "Согласие на обработку персональных данных.jpg"


def test_missing_message_id_is_deterministic() -> None:
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert decode_letter(raw).message_id == decode_letter(raw).message_id
    assert decode_letter(raw).message_id.endswith("@mailproc.invalid>")
