"""A deterministic, realistic mailbox for the benchmark table (issue 11).

The traffic mix of the personal librarian's mailbox (see shared/domain): readers' questions in
several charsets and transfer encodings (some with a screenshot), registration mails with 1-2
phone photos or PDF scans of 0.1-2 MB, department replies with page photos and scans, and
automatic mail (out-of-office replies, newsletters, delivery reports). About 650 KB a message on
average; the same ``seed`` gives the same bytes.

Why a pool: generating 10,000 such messages with ``email.message.EmailMessage`` costs minutes
on a 2-core machine (the base64 and folding are done in Python). Attachments here are slices of
one seeded random pool, base64-encoded once in 57-byte lines (= 76 characters, RFC 2045 6.8),
so each attachment is a slice of the encoded pool behind its own first line carrying the JPEG or
PDF magic. The bytes are random, hence incompressible like real JPEGs; that is what matters for
the IMAP, disk and decoding costs being measured.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
LINE = 57                      # raw bytes per base64 line of 76 characters
POOL_LINES = 48_000            # ~2.7 MB raw: more than the largest attachment
MB = 1024 * 1024
YAKUTSK = timezone(timedelta(hours=9))

#: share of each kind of mail (sums to 1); sizes calibrated so the average is ~650 KB
MIX = (("question", 0.42), ("registration", 0.20), ("department", 0.15), ("automatic", 0.23))

FIRST = ["Анна", "Сардана", "Айаал", "Дьулустан", "Мария", "Николай", "Туйаара", "Ольга",
         "Егор", "Кюннэй", "Алексей", "Нюргуяна", "Василий", "Елена", "Айсен", "Людмила"]
LAST = ["Иванова", "Попова", "Петров", "Николаев", "Степанова", "Гоголев", "Винокуров",
        "Слепцова", "Захаров", "Ефимова", "Григорьев", "Максимова", "Охлопков", "Федорова"]
DOMAINS = ["mail.example", "yandex.example", "gmail.example", "bk.example", "inbox.example"]
DEPARTMENTS = ["storage@nlrs.example", "sandaly@nlrs.example", "onkf@nlrs.example",
               "periodicals@nlrs.example", "lod@nlrs.example", "bo@nlrs.example"]
QUESTIONS = [
    "Здравствуйте! Подскажите, пожалуйста, есть ли у вас книга Ксенофонтова «Эллэйада»?",
    "Добрый день. Как получить временный доступ к электронной библиотеке ЛитРес?",
    "Здравствуйте, ищу материалы по истории Олёкминского района за 1930-е годы.",
    "Не могу войти в личный кабинет на сайте, пишет, что пароль неверный. Помогите.",
    "Можно ли заказать копию статьи из журнала «Полярная звезда» за 1968 год?",
    "Дорогие библиотекари! Есть ли подписка на журнал «Илин»? Спасибо заранее.",
]
#: (charset, transfer encoding) of question bodies, as readers' mail programs send them
ENCODINGS = [("utf-8", "base64"), ("utf-8", "quoted-printable"), ("utf-8", "8bit"),
             ("windows-1251", "8bit"), ("windows-1251", "quoted-printable"),
             ("koi8-r", "8bit"), ("koi8-r", "base64")]


class Pool:
    """Seeded random bytes, base64-encoded once, CRLF line breaks."""

    def __init__(self, seed: int):
        raw = random.Random(seed).randbytes(POOL_LINES * LINE)
        self.encoded = base64.encodebytes(raw).replace(b"\n", b"\r\n")
        self.line_len = 78  # 76 characters + CRLF

    def attachment(self, rng: random.Random, head: bytes, size: int) -> bytes:
        """Base64 body of about ``size`` raw bytes starting with ``head``."""
        first = head + rng.randbytes(LINE - len(head))
        lines = max(0, size // LINE - 1)
        start = rng.randrange(0, POOL_LINES - lines) * self.line_len
        return (base64.encodebytes(first).replace(b"\n", b"\r\n")
                + self.encoded[start:start + lines * self.line_len])


def _hdr(text: str) -> str:
    """RFC 2047 encoded word (UTF-8, base64), as most mail programs write Russian headers."""
    return Header(text, "utf-8").encode()


def _attachment_size(rng: random.Random) -> int:
    """0.1-2 MB, most of them small (phone photos are compressed, scans larger)."""
    return int((0.1 + 1.9 * rng.random() ** 2) * MB)


class MailboxGenerator:
    def __init__(self, seed: int = 1):
        self.seed = seed
        self.pool = Pool(seed)

    def kind(self, rng: random.Random) -> str:
        roll, acc = rng.random(), 0.0
        for name, share in MIX:
            acc += share
            if roll < acc:
                return name
        return MIX[-1][0]

    def message(self, i: int) -> tuple[str, bytes]:
        """(kind, raw bytes) of message number ``i``."""
        rng = random.Random(self.seed * 1_000_003 + i)
        kind = self.kind(rng)
        return kind, getattr(self, "_" + kind)(rng, i)

    # -- the kinds ------------------------------------------------------------------------

    def _reader(self, rng: random.Random, i: int) -> tuple[str, str]:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return f"{_hdr(first + ' ' + last)} <reader{i}@{rng.choice(DOMAINS)}>", first

    def _head(self, i: int, sender: str, subject: str, extra: str = "") -> str:
        date = format_datetime(datetime(2026, 11, 1 + i % 28, 10, i % 60, tzinfo=YAKUTSK))
        return (f"From: {sender}\r\nTo: personbibl@nlrs.example\r\n"
                f"Subject: {subject}\r\nDate: {date}\r\n"
                f"Message-ID: <bench-{self.seed}-{i}@mail.example>\r\nMIME-Version: 1.0\r\n"
                f"{extra}")

    def _multipart(self, head: str, text: bytes, charset: str, cte: str,
                   parts: list[tuple[str, str, bytes]], i: int) -> bytes:
        boundary = f"=_bench_{self.seed}_{i}"
        out = [(head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                "This is a multi-part message in MIME format.\r\n").encode()]
        out.append(f"--{boundary}\r\n".encode() + _text_part(text, charset, cte))
        for ctype, name, body in parts:
            out.append(f'--{boundary}\r\nContent-Type: {ctype}; name="{_hdr(name)}"\r\n'
                       f'Content-Disposition: attachment; filename="{_hdr(name)}"\r\n'
                       f"Content-Transfer-Encoding: base64\r\n\r\n".encode() + body)
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out)

    def _photo_or_pdf(self, rng: random.Random, k: int, label: str) -> tuple[str, str, bytes]:
        size = _attachment_size(rng)
        if rng.random() < 0.65:
            return "image/jpeg", f"{label} {k + 1}.jpg", self.pool.attachment(rng, JPEG_HEAD, size)
        return "application/pdf", f"{label} {k + 1}.pdf", self.pool.attachment(rng, PDF_HEAD, size)

    def _question(self, rng: random.Random, i: int) -> bytes:
        sender, first = self._reader(rng, i)
        charset, cte = rng.choice(ENCODINGS)
        text = f"{rng.choice(QUESTIONS)}\r\n\r\nС уважением, {first}\r\n"
        head = self._head(i, sender, _hdr(f"Вопрос {i}"))
        if rng.random() < 0.12:  # a screenshot of an error
            shot = ("image/png", "скриншот.png",
                    self.pool.attachment(rng, PNG_HEAD, int(rng.uniform(0.1, 0.4) * MB)))
            return self._multipart(head, text.encode(charset, "replace"), charset, cte,
                                   [shot], i)
        return (head.encode() + _text_part(text.encode(charset, "replace"), charset, cte))

    def _registration(self, rng: random.Random, i: int) -> bytes:
        sender, first = self._reader(rng, i)
        subject = "" if rng.random() < 0.3 else _hdr("Регистрация читателя")
        text = "" if not subject else f"Здравствуйте! Высылаю документы для регистрации. {first}\r\n"
        parts = [self._photo_or_pdf(rng, k, "анкета") for k in range(rng.choice((1, 2)))]
        return self._multipart(self._head(i, sender, subject), text.encode(), "utf-8", "8bit",
                               parts, i)

    def _department(self, rng: random.Random, i: int) -> bytes:
        sender = rng.choice(DEPARTMENTS)
        token = f"2026-{1 + rng.randrange(99_999):05d}"
        subject = _hdr(f"Re: [НБ {token}] Заказ фрагмента")
        head = self._head(i, sender, subject, f"In-Reply-To: <o.{token}@nlrs.ru>\r\n")
        text = "Добрый день! Высылаем фото страниц по заказу.\r\n".encode("windows-1251")
        parts = [self._photo_or_pdf(rng, k, "страница") for k in range(rng.choice((1, 2, 3)))]
        return self._multipart(head, text, "windows-1251", "quoted-printable", parts, i)

    def _automatic(self, rng: random.Random, i: int) -> bytes:
        roll = rng.random()
        if roll < 0.5:  # out of office (RFC 3834)
            sender, _ = self._reader(rng, i)
            head = self._head(i, sender, _hdr("Автоответ: Re: Ваш вопрос"),
                              "Auto-Submitted: auto-replied\r\n")
            return head.encode() + _text_part("Я в отпуске до 1 декабря.\r\n".encode(),
                                              "utf-8", "8bit")
        if roll < 0.85:  # a newsletter
            head = self._head(i, "news@shop.example", _hdr("Скидки недели"),
                              "Precedence: bulk\r\nList-Id: <news.shop.example>\r\n"
                              "List-Unsubscribe: <mailto:unsub@shop.example>\r\n")
            html = ("<html><body><h1>Скидки</h1>" + "<p>Товар дня со скидкой.</p>" * 40
                    + "</body></html>\r\n").encode()
            return head.encode() + (b"Content-Type: text/html; charset=utf-8\r\n"
                                    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + html)
        # a delivery status notification (RFC 3464)
        boundary = f"=_dsn_{i}"
        head = (f"From: MAILER-DAEMON@mx.example\r\nTo: personbibl@nlrs.example\r\n"
                f"Subject: Undelivered Mail Returned to Sender\r\n"
                f"Date: Thu, 26 Nov 2026 10:00:00 +0900\r\n"
                f"Message-ID: <bench-{self.seed}-{i}@mx.example>\r\nMIME-Version: 1.0\r\n"
                f"Auto-Submitted: auto-replied\r\nContent-Type: multipart/report; "
                f'report-type=delivery-status; boundary="{boundary}"\r\n\r\n')
        return (head + f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
                f"Your message could not be delivered.\r\n--{boundary}\r\n"
                f"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n"
                f"\r\nFinal-Recipient: rfc822; gone{i}@mail.example\r\nAction: failed\r\n"
                f"Status: 5.1.1\r\n--{boundary}--\r\n").encode()


def _text_part(text: bytes, charset: str, cte: str) -> bytes:
    if cte == "base64":
        body = base64.encodebytes(text).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        import quopri
        body = quopri.encodestring(text.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    else:
        body = text
    return (f"Content-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body + b"\r\n"


def mailbox(n: int, seed: int = 1, start: int = 0) -> Iterator[bytes]:
    """Messages ``start`` .. ``start + n - 1`` of the seeded mailbox."""
    gen = MailboxGenerator(seed)
    for i in range(start, start + n):
        yield gen.message(i)[1]


if __name__ == "__main__":  # a quick look at the mix: python -m tests.bench.mailbox_gen [N]
    import sys
    import time
    from collections import Counter

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    gen, kinds, total = MailboxGenerator(1), Counter(), 0
    t0 = time.perf_counter()
    for j in range(count):
        k, raw = gen.message(j)
        kinds[k] += 1
        total += len(raw)
    dt = time.perf_counter() - t0
    print(f"{count} messages, average {total / count / 1024:.0f} KB, {count / dt:.0f}/s, {dict(kinds)}")
