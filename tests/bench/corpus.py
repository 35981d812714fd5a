"""Deterministic realistic messages for benchmarks: a short text, most with 0.1-2 MB photo or
PDF attachments, about 650 KB on average. The same seed gives the same bytes."""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.policy import SMTP

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


def realistic_message(i: int, seed: int = 1) -> bytes:
    rng = random.Random(seed * 1_000_003 + i)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Читатель {i} <reader{i}@example.org>"
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = f"Заказ фрагмента, письмо {i}"
    msg["Message-ID"] = f"<bench-{seed}-{i}@example.org>"
    msg["Date"] = "Thu, 26 Nov 2026 10:00:00 +0900"
    msg.set_content(f"Здравствуйте! Прошу прислать фрагмент. Письмо {i}.\n" * 5)
    roll = rng.random()
    count = 0 if roll < 0.15 else (1 if roll < 0.7 else 2)
    for k in range(count):
        size = int(rng.uniform(0.1, 2.0) * 1024 * 1024 * 0.40)
        if rng.random() < 0.6:
            data = JPEG_HEAD + rng.randbytes(size)
            msg.add_attachment(data, maintype="image", subtype="jpeg", filename=f"фото{k}.jpg")
        else:
            data = PDF_HEAD + rng.randbytes(size)
            msg.add_attachment(data, maintype="application", subtype="pdf",
                               filename=f"документ{k}.pdf")
    return msg.as_bytes()


def corpus(n: int, seed: int = 1):
    for i in range(n):
        yield realistic_message(i, seed)
