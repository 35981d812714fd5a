"""200 generated broken messages: each gives a Letter, never an exception, in bounded time.

The generator is seeded, so a failure names a case that can be replayed. The per-test timeout
is a hang guard (a quadratic parser would take minutes), not a performance assertion.
"""

from __future__ import annotations

import base64
import random

import pytest

from mailproc.letter import Letter, decode_letter

SEED = 20261126
COUNT = 200


def _base(rng: random.Random) -> bytes:
    photo = bytes(rng.getrandbits(8) for _ in range(3000))
    b64 = base64.encodebytes(b"\xff\xd8\xff\xe0" + photo)
    return (b"From: =?utf-8?b?0JjQstCw0L0=?= <ivan@example.org>\r\n"
            b"To: personbibl@nlrs.example\r\nSubject: =?koi8-r?b?8NLJ18XU?=\r\n"
            b"Message-ID: <m@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\n"
            b"--BOUND\r\nContent-Type: text/plain; charset=windows-1251\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Здравствуйте".encode("cp1251") +
            b"\r\n--BOUND\r\nContent-Type: image/jpeg; name=\"=?utf-8?b?0YTQvtGC0L4uanBn?=\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--BOUND--\r\n")


def _many_parts(n: int) -> bytes:
    body = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(n))
    return b"Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + body + b"--B--\r\n"


def _deep(n: int) -> bytes:
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                    for i in range(n))
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(n)))
    return b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nbottom" + tail


def _deep_rfc822(n: int) -> bytes:
    msg = b"Subject: inner\r\n\r\ntext\r\n"
    for i in range(n):
        msg = b"Subject: fw %d\r\nContent-Type: message/rfc822\r\n\r\n" % i + msg
    return msg


def _case(i: int) -> bytes:
    rng = random.Random(SEED + i)
    base = _base(rng)
    kind = i % 10
    if i == 0:
        return _many_parts(10_000)
    if i == 1:
        return _deep(100)
    if i == 2:
        return _deep_rfc822(100)
    if i == 3:
        return b"Subject: " + b"x" * 1_000_000 + b"\r\n\r\nbody"
    if i == 4:
        return b"From: " + b"a@b, " * 200_000 + b"\r\nContent-Type: multipart/mixed; " + \
            b"a=b; " * 200_000 + b"\r\n\r\nbody"
    if i == 5:
        return b"Content-Type: text/plain; name=\"" + b"(" * 300_000 + b"\r\nSubject: " + \
            b"=?utf-8?b?0J/RgNC40LLQtdGC?= " * 30_000 + b"\r\n\r\nx"
    if i == 6:  # an HTML-only letter of unclosed tags (quadratic for html.parser)
        return b"Content-Type: text/html; charset=utf-8\r\n\r\n" + b"<a " * 300_000
    if i == 7:
        return b"Content-Type: text/html\r\n\r\n" + b"<!--<script>" * 100_000
    if i == 8:  # a free-text bounce of one endless word
        return b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\n\r\n" + \
            b"a" * 1_000_000
    if i == 9:  # many text parts of random 8-bit bytes: charset detection must stay bounded
        body = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\n" +
                        rng.randbytes(2000).replace(b"--", b"..") + b"\r\n" for _ in range(400))
        return b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + body + b"--B--\r\n"
    if kind == 0:  # truncated at a random point
        return base[:rng.randrange(len(base))]
    if kind == 1:  # broken boundaries
        return base.replace(b"--BOUND--", b"--BOUN").replace(b"--BOUND\r\nContent-Type: image",
                                                           b"--BOUNDX\r\nContent-Type: image")
    if kind == 2:  # bad base64
        cut = base.index(b"base64\r\n\r\n") + 12
        return base[:cut] + b"!!!*&^" + bytes(rng.getrandbits(8) for _ in range(50)) + base[cut:]
    if kind == 3:  # NUL bytes sprinkled
        data = bytearray(base)
        for _ in range(20):
            data.insert(rng.randrange(len(data)), 0)
        return bytes(data)
    if kind == 4:  # random byte flips
        data = bytearray(base)
        for _ in range(rng.randrange(1, 60)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        return bytes(data)
    if kind == 5:  # garbage
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 5000)))
    if kind == 6:  # headers only, no body, odd line ends
        return base[:base.index(b"\r\n\r\n")].replace(b"\r\n", rng.choice([b"\r", b"\n\r", b"\n"]))
    if kind == 7:  # broken encoded words and RFC 2231
        return (b"Subject: =?x-unknown?q?=D0=9F=?= =?utf-8?b?####?=\r\nFrom: \"\xcf\xf0\" <>\r\n"
                b"Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\nContent-Type: image/png;"
                b" name*0*=koi8-r''%F0; name*3=x; name*=\r\n\r\nzz\r\n--Z--")
    if kind == 8:  # a bounce with a broken report
        return (b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\n"
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n"
                b"--R\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: ;;;\r\n"
                b"Status: 9.9\r\n\r\n--R\r\nContent-Type: message/rfc822\r\n\r\n" +
                base[:rng.randrange(len(base))])
    return base.replace(b"multipart/mixed", rng.choice([b"multipart/", b"message/rfc822",
                                                        b"text/html", b"multipart/report"]))


@pytest.mark.timeout(10)
@pytest.mark.parametrize("i", range(COUNT))
def test_malformed_message_gives_a_letter(i: int) -> None:
    raw = _case(i)
    letter = decode_letter(raw)
    assert isinstance(letter, Letter)
    assert letter.message_id.startswith("<") and letter.message_id.endswith(">")
    assert letter.raw is raw
    letter.to_json()


def test_caps_are_recorded_as_defects() -> None:
    assert any("MIME parts" in d for d in decode_letter(_many_parts(10_000)).defects)
    assert any("nesting" in d for d in decode_letter(_deep(100)).defects)
    assert any("cut" in d for d in decode_letter(_case(4)).defects)
