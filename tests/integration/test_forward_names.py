"""Hostile attachment names on the way from a department to a reader: real Dovecot, real SMTP
server, the real ``mailproc run --once`` with the shipped rules.

A department's reply carries page photos whose names decode (RFC 2047 and RFC 2231) to CR/LF
followed by header lines, a path, a NUL, 300 characters. What the SMTP server receives for the
reader has no injected header line and rebuilt names, with the bytes unchanged. A "scan" whose
bytes are a program (``скан.jpg.exe``), or a type a scan cannot be, is never sent: the reply
goes to review with a Russian reason naming the file and its type.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json

import pytest

from mailproc.outbound.filenames import MAX_BYTES
from tests.integration.test_orders_e2e import order, run_once, sent_to, setup  # noqa: F401
from tests.servers.mailproc import message_ids_by_folder
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_orders_helpers import jpeg, mail

pytestmark = pytest.mark.integration

READER = "anna.petrova@example.org"
INJECTED = "p.jpg\r\nContent-Type: text/html\r\nX-Injected: 1"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 4000


def _part(params: str, data: bytes, ctype: str = "image/jpeg") -> str:
    return (f"Content-Type: {ctype}\r\nContent-Disposition: attachment; {params}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(data).decode().replace("\n", "\r\n"))


def department_reply(in_reply_to: str, parts: list[str], message_id: str) -> bytes:
    """Raw MIME written by hand: the standard library would not write these names."""
    b = "=_hostile"
    return ("From: storage@nlrs.example\r\nTo: personbibl@nlrs.ru\r\nSubject: Фото страниц\r\n"
            f"Message-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\n"
            "Date: Thu, 26 Nov 2026 12:00:00 +0900\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n'
            f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nВысылаем.\r\n"
            + "".join(f"--{b}\r\n{p}" for p in parts) + f"--{b}--\r\n").encode("utf-8")


def request_order(setup, pages: str) -> email.message.EmailMessage:  # noqa: F811
    setup.server.deliver(mail(
        sender=f"Анна Петрова <{READER}>", subject="Заказ фрагмента",
        text=f"Пришлите, пожалуйста, «Якутские сказки», шифр КХ2 84(2Рос=Як)-4, с. {pages}.",
        message_id="<req-h@example.org>"))
    run_once(setup)
    return sent_to(setup, "storage@nlrs.example")[0]


def test_hostile_names_are_rebuilt_and_inject_nothing(setup):  # noqa: F811
    request = request_order(setup, "1-5")
    photos = [jpeg(f"page {i}", 40_000) for i in range(5)]
    encoded_word = base64.b64encode(INJECTED.encode()).decode()
    parts = [
        _part(f'filename="=?utf-8?b?{encoded_word}?="', photos[0]),  # RFC 2047
        _part("filename*=utf-8''p2.jpg%0D%0AContent-Type%3A%20text%2Fhtml%0D%0A"
              "X-Injected%3A%202", photos[1]),  # RFC 2231
        _part('filename="../../etc/passwd.jpg"', photos[2]),
        _part("filename*=utf-8''nul%00byte.jpg", photos[3]),
        _part(f'filename="{"д" * 300}.jpg"', photos[4]),
    ]
    setup.server.deliver(department_reply(request["Message-ID"], parts, "<dept-h@nlrs.example>"))
    run_once(setup)

    delivered = [r for r in setup.smtp.messages if READER in [a.lower() for a in r.rcpt_tos]]
    assert len(delivered) == 1
    raw = delivered[0].raw
    lines = raw.split(b"\r\n")
    assert not any(line.lower().startswith(b"x-injected") for line in lines)
    assert not any(line.lower().startswith(b"content-type: text/html") for line in lines)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    got = [(p.get_filename(), p.get_content_type(), p.get_content())
           for p in msg.iter_attachments()]
    names = [name for name, _t, _d in got]
    assert names[:4] == ["html X-Injected_ 1.jpg", "html X-Injected_ 2.jpg", "passwd.jpg",
                         "nul byte.jpg"]
    assert names[4] == "д" * ((MAX_BYTES - 4) // 2) + ".jpg"  # 300 characters cut
    assert all("\r" not in n and "\n" not in n and "/" not in n and "\x00" not in n
               for n in names)
    assert [t for _n, t, _d in got] == ["image/jpeg"] * 5
    assert [d for _n, _t, d in got] == photos  # byte for byte
    assert order(setup, "2026-00001")["state"] == "delivered"


@pytest.mark.parametrize("name, ctype, data, shown", [
    ("скан.jpg.exe", "image/jpeg", EXE, "«скан.jpg.exe» (тип application/x-msdownload)"),
    ("стр.html", "text/html", b"<html><body>page</body></html>" * 50,
     "«стр.html» (тип text/html)"),
])
def test_files_a_scan_cannot_be_go_to_review(setup, name, ctype, data, shown):  # noqa: F811
    request = request_order(setup, "1-2")
    parts = [_part(f'filename="{name}"', data, ctype),
             _part('filename="p2.jpg"', jpeg("page 2", 40_000))]
    setup.server.deliver(department_reply(request["Message-ID"], parts, "<dept-x@nlrs.example>"))
    run_once(setup)
    assert sent_to(setup, READER) == []
    assert order(setup, "2026-00001")["state"] == "requested"
    review = setup.command("review", "list", "--json")
    assert review.returncode == 0, review.stderr
    [row] = json.loads(review.stdout)
    assert "заказ 2026-00001: файлы не отправлены читателю, это не скан: " + shown + ". " \
        "Читателю пересылаются только JPEG, PNG, TIFF, HEIC, PDF, DjVu" in row["reason"], row
    folders = message_ids_by_folder(setup.server)
    assert "<dept-x@nlrs.example>" in folders[setup.settings().mailbox.review_folder]
