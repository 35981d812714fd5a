"""Micro-benchmark: how many ~650 KB photo messages per second decode_letter reads.

Run: ``.venv/bin/python tests/bench/decode_speed.py``. Prints messages/s for decode_letter and,
measured in the same run, for the bare standard-library parse of the same bytes and for a bare
base64 decode of the photos, with the ratios; no assertion (timings belong here, not in tests).
"""

from __future__ import annotations

import base64
import email
import email.policy
import random
import time

from mailproc.letter import decode_letter


def message(size: int = 650_000, photos: int = 4) -> bytes:
    rng = random.Random(1)
    each = size * 3 // 4 // photos
    parts = [b"--B\r\nContent-Type: text/plain; charset=windows-1251\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n\r\n"
             + "Здравствуйте! Высылаю фото страниц анкеты.".encode("cp1251") + b"\r\n"]
    for i in range(photos):
        data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(each)
        name = base64.b64encode(f"Фото {i + 1}.jpg".encode()).decode()
        parts.append(f'--B\r\nContent-Type: image/jpeg; name="=?utf-8?b?{name}?="\r\n'
                     f'Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64'
                     f'\r\n\r\n'.encode() + base64.encodebytes(data).replace(b"\n", b"\r\n"))
    head = (b"From: =?utf-8?b?0JjQstCw0L0=?= <ivan@example.org>\r\nTo: personbibl@nlrs.example\r\n"
            b"Subject: =?utf-8?b?0KTQvtGC0L4=?=\r\nMessage-ID: <bench@example.org>\r\n"
            b"Date: Tue, 24 Nov 2026 10:15:00 +0900\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=B\r\n\r\n")
    return head + b"".join(parts) + b"--B--\r\n"


def rate(fn, raw: bytes, seconds: float = 2.0) -> float:
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(raw)
        n += 1
    return n / (time.perf_counter() - start)


def bare_parse(raw: bytes) -> None:
    email.message_from_bytes(raw, policy=email.policy.compat32)


def bare_parse_default(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if not part.is_multipart():
            part.get_payload(decode=True)


def main() -> None:
    raw = message()
    ours = rate(decode_letter, raw)
    parse = rate(bare_parse, raw)
    full = rate(bare_parse_default, raw)
    print(f"message size       {len(raw) / 1000:.0f} KB, 4 base64 photos")
    print(f"decode_letter      {ours:8.1f} messages/s")
    print(f"bare email parse   {parse:8.1f} messages/s  (decode_letter = {ours / parse:.2f} x)")
    print(f"parse+decode parts {full:8.1f} messages/s  (decode_letter = {ours / full:.2f} x)")


if __name__ == "__main__":
    main()
