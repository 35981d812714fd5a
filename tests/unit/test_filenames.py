"""The one attachment-name builder (mailproc.outbound.filenames) and the MIME part it feeds.

Hostile names as they come out of RFC 2047 / RFC 2231 decoding: CR/LF that would add header
lines, NUL, path parts, 300 characters, an extension that lies about the bytes; and, property
style, any text at all: the result is always a bounded, single-line, path-free name with an
extension that fits the detected type, and rebuilding it again changes nothing.
"""

from __future__ import annotations

import email
import email.policy
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailproc.outbound.filenames import (MAX_BYTES, MAX_CHARS, SCAN_TYPES, extensions,
                                         safe_content_type, safe_name, scan_type)
from mailproc.outbound.mime import _attachment_part
from mailproc.outbound.outbox import OutAttachment

INJECTION = "p.jpg\r\nContent-Type: text/html\r\nX-Injected: 1"
TYPES = ["image/jpeg", "image/png", "application/pdf", "image/vnd.djvu", "image/tiff",
         "application/x-msdownload", "application/octet-stream", "text/plain",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]


@pytest.mark.parametrize("name, ctype, expected", [
    (INJECTION, "image/jpeg", "html X-Injected_ 1.jpg"),
    ("../x", "image/jpeg", "x.jpg"),
    ("../../etc/passwd", "application/pdf", "passwd.pdf"),
    ("/etc/passwd", "text/plain", "passwd.txt"),
    ("C:\\Users\\ivanov\\скан.jpg", "image/jpeg", "скан.jpg"),
    ("скан\x00.jpg", "image/jpeg", "скан.jpg"),
    ("скан.jpg.exe", "image/jpeg", "скан.jpg"),  # the bytes are a JPEG: the .exe lied
    ("скан.jpg.exe", "application/x-msdownload", "скан.jpg.exe"),  # truthful, goes to review
    ("scan.PDF", "application/pdf", "scan.PDF"),
    ("page.jpeg", "image/jpeg", "page.jpeg"),
    ("report.pdf", "image/jpeg", "report.jpg"),
    ("gpj\u202e.exe", "image/jpeg", "gpj.jpg"),  # a right-to-left override that hid .exe
    ("..", "application/pdf", "file.pdf"),
    ("", "image/png", "file.png"),
    (".htaccess", "text/plain", "htaccess.txt"),
    ("CON.jpg", "image/jpeg", "_CON.jpg"),
    ('a"b<c>|d?.pdf', "application/pdf", "a_b_c__d_.pdf"),
    ("Иванов И.И. стр. 15.jpg", "image/jpeg", "Иванов И.И. стр. 15.jpg"),
    ("скан.djvu", "image/vnd.djvu", "скан.djvu"),
    ("data", "application/octet-stream", "data.bin"),
])
def test_hostile_names_are_rebuilt(name, ctype, expected):
    assert safe_name(name, ctype) == expected


def test_length_is_capped_in_characters_and_bytes():
    latin = safe_name("a" * 300 + ".pdf", "application/pdf")
    assert latin == "a" * (MAX_CHARS - 4) + ".pdf"
    cyrillic = safe_name("я" * 300 + ".jpg", "image/jpeg")
    assert cyrillic.endswith(".jpg") and len(cyrillic.encode()) <= MAX_BYTES


def test_the_fallback_stands_in_when_nothing_is_left():
    assert safe_name("../", "image/jpeg", "2026-00001-1") == "2026-00001-1.jpg"


def test_scan_types_and_extra_types():
    assert all(scan_type(t) for t in SCAN_TYPES)
    assert not scan_type("application/x-msdownload")
    assert not scan_type("image/webp")
    assert scan_type("image/webp", ("image/webp",))
    assert extensions("image/jpeg")[0] == ".jpg"


def test_content_types_that_could_carry_header_lines_are_replaced():
    assert safe_content_type("image/jpeg") == "image/jpeg"
    assert safe_content_type("text/html\r\nX-Injected: 1") == "application/octet-stream"
    assert safe_content_type("") == "application/octet-stream"


def _part_headers(name: str, ctype: str) -> tuple[str, email.message.Message]:
    text = _attachment_part(name, ctype, b"\xff\xd8\xff\xe0 data")
    return text, email.message_from_string(text, policy=email.policy.default)


def test_the_mime_part_carries_no_injected_header():
    text, part = _part_headers(INJECTION, "image/jpeg")
    head = text.split("\r\n\r\n", 1)[0]
    assert "X-Injected" not in [line.split(":")[0] for line in head.split("\r\n")]
    assert [k for k in part.keys()] == ["Content-Type", "Content-Disposition",
                                        "Content-Transfer-Encoding"]
    assert part.get_content_type() == "image/jpeg"
    assert part.get_filename() == "html X-Injected_ 1.jpg"


def test_non_ascii_names_are_rfc2231_parameters():
    text, part = _part_headers("Список литературы.pdf", "application/pdf")
    assert "filename*=utf-8''%D0%A1" in text and "=?utf-8?" not in text
    assert part.get_filename() == "Список литературы.pdf"
    assert part.get_param("name") == "Список литературы.pdf"


def test_out_attachment_rebuilds_its_name_and_type():
    att = OutAttachment("../../скан.jpg.exe", "image/jpeg\r\nX: 1", b"\xff\xd8\xff")
    assert att.content_type == "application/octet-stream"
    assert att.name == "скан.jpg.exe.bin" or att.name.endswith(".bin")
    assert OutAttachment("", "image/jpeg", b"", fallback="2026-00001-2").name == "2026-00001-2.jpg"


_PIECES = st.sampled_from(
    list("abcXYZ.._-/\\:*?\"<>| \t\r\n\x00\x1b\x7f") + ["\u202e", "\u200b", "\u2028", "я",
                                                      "Ж", "\ud7ff", "\ufeff", "e\u0301",
                                                      ".jpg", ".exe", "..", "İ", "ß", "K",
                                                      "\r\nX-Injected: 1"])
_HOSTILE = st.lists(_PIECES, max_size=120).map("".join) | st.text(max_size=400)


@settings(max_examples=600, deadline=None)
@given(name=_HOSTILE, ctype=st.sampled_from(TYPES))
def test_any_name_comes_out_safe(name, ctype):
    got = safe_name(name, ctype)
    assert got and len(got) <= MAX_CHARS and len(got.encode("utf-8")) <= MAX_BYTES
    assert not any(unicodedata.category(c)[0] in "CZ" and c != " " for c in got)
    assert not set(got) & set('/\\:*?"<>|')
    assert not got.startswith((".", " ")) and got.strip() == got
    assert any(got.lower().endswith(e) for e in extensions(ctype))
    assert safe_name(got, ctype) == got  # idempotent: mime.py rebuilds again safely


@settings(max_examples=200, deadline=None)
@given(name=_HOSTILE, ctype=st.sampled_from(TYPES))
def test_any_name_makes_exactly_three_header_lines(name, ctype):
    text, part = _part_headers(name, ctype)
    head = text.split("\r\n\r\n", 1)[0]
    starts = [line for line in head.split("\r\n") if not line.startswith(" ")]
    assert [line.split(":")[0] for line in starts] == [
        "Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]
    assert all(len(line) < 998 for line in head.split("\r\n"))
    assert part.get_filename() == safe_name(name, ctype)
