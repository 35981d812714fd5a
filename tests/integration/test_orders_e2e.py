"""Orders end to end: real Dovecot, real SMTP server, the real ``mailproc run --once``.

A reader's request in the mailbox becomes an order; the department receives the templated
request; its reply with three page photos (from a client that rewrites the subject and drops
References) reaches the reader with the same three files, byte for byte; a spoofed reply
(right subject tag, wrong sender) never does. The same through the ЛОД duty with a PDF scan.
The mail is sorted by the shipped rules (rules/15-order-replies.yaml, rules/35-orders.yaml).
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil

import pytest

from tests.servers.mailproc import MailprocSetup, message_ids_by_folder
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.test_orders_helpers import REPO, jpeg, mail, pdf

pytestmark = pytest.mark.integration

READER = "anna.petrova@example.org"


@pytest.fixture
def setup(tmp_path, dovecot, smtp_server):  # noqa: F811
    s = MailprocSetup(tmp_path / "mp", dovecot)
    for f in (REPO / "rules").glob("*.yaml"):  # the shipped rules: 15-order-replies, 35-orders
        shutil.copy(f, s.rules / f.name)
    s.env["MAILPROC_PATHS_TEMPLATES"] = str(REPO / "templates")
    s.env["MAILPROC_SMTP_URL"] = smtp_server.url
    s.env["MAILPROC_MAIL_TOKEN_SECRET"] = "e2e-secret"
    s.smtp = smtp_server
    return s


def run_once(setup) -> None:
    done = setup.command("run", "--once")
    assert done.returncode == 0, done.stderr


def order(setup, token: str) -> dict:
    done = setup.command("orders", "show", token, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sent_to(setup, addr: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(r.raw, policy=email.policy.default)
            for r in setup.smtp.messages if addr in [a.lower() for a in r.rcpt_tos]]


def attachments(msg) -> list[tuple[str, bytes]]:
    return [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]


def test_photos_from_the_department_reach_the_reader(setup):
    setup.server.deliver(mail(
        sender=f"Анна Петрова <{READER}>", subject="Заказ фрагмента",
        text="Здравствуйте! Пришлите, пожалуйста, Иванов И.И. «Якутские сказки», 1985 г., "
             "шифр КХ2 84(2Рос=Як)-4, с. 15-17.", message_id="<req-1@example.org>"))
    run_once(setup)
    requests = sent_to(setup, "storage@nlrs.example")
    assert len(requests) == 1
    request = requests[0]
    assert "[НБ 2026-00001]" in request["Subject"]
    assert request["Message-ID"].startswith("<mp.o2026-00001.")
    body = request.get_body(("plain",)).get_content()
    assert "Якутские сказки" in body and "15-17" in body
    assert "mailproc-case:o2026-00001" in body
    assert order(setup, "2026-00001")["state"] == "requested"

    # a spoofed reply: right subject tag, wrong sender, photos attached
    setup.server.deliver(mail(
        sender="mallory@example.com", subject="Re: Заказ фрагмента [НБ 2026-00001]",
        text="Вот ваши страницы", files=[("p.jpg", "image/jpeg", jpeg("spoof"))]))
    run_once(setup)
    assert sent_to(setup, READER) == []
    assert order(setup, "2026-00001")["state"] == "requested"

    # the department answers from a client that rewrites the subject and drops References
    photos = [(f"IMG_{i}.jpg", "image/jpeg", jpeg(f"page {i}", 50_000)) for i in (15, 16, 17)]
    setup.server.deliver(mail(
        sender="storage@nlrs.example", subject="Фото страниц", text="Добрый день, высылаем.",
        in_reply_to=request["Message-ID"], files=photos, message_id="<dept-1@nlrs.example>"))
    run_once(setup)
    delivered = sent_to(setup, READER)
    assert len(delivered) == 1
    got = delivered[0]
    assert attachments(got) == [(name, data) for name, _t, data in photos]
    assert "[НБ 2026-00001]" in got["Subject"]
    assert got["In-Reply-To"] == "<req-1@example.org>"
    shown = order(setup, "2026-00001")
    assert shown["state"] == "delivered"
    assert [e["to"] for e in shown["events"]] == ["new", "requested", "received", "delivered"]
    folders = message_ids_by_folder(setup.server)
    assert sorted(folders["Заказы"]) == ["<dept-1@nlrs.example>", "<req-1@example.org>"]
    assert folders["INBOX"] == []


def test_scan_through_the_lod_duty(setup):
    setup.server.deliver(mail(
        sender=READER, subject="Нужен скан",
        text="Кулаковский А.Е. «Сновидение шамана», шифр КМ 84(2Рос=Як), с. 10-13. "
             "Нужен скан."))
    run_once(setup)
    request = sent_to(setup, "sandaly@nlrs.example")[0]
    # the fund answers: passed to the digitisation lab
    setup.server.deliver(mail(sender="sandaly@nlrs.example", subject="RE: " + request["Subject"],
                              text="Передали в ЛОД на сканирование.",
                              in_reply_to=request["Message-ID"]))
    run_once(setup)
    assert order(setup, "2026-00001")["state"] == "sent_to_lod"
    # the ЛОД duty sends the scan, forwarded with the tag in the subject only
    scan = pdf(4, "Сновидение шамана")
    setup.server.deliver(mail(sender="lod@nlrs.example",
                              subject="Fwd: скан [НБ 2026-00001]", text="Скан готов.",
                              files=[("scan.pdf", "application/pdf", scan)]))
    run_once(setup)
    got = sent_to(setup, READER)
    assert len(got) == 1
    assert attachments(got[0]) == [("scan.pdf", scan)]
    assert order(setup, "2026-00001")["state"] == "delivered"


def test_librarian_resolves_an_ambiguous_reply(setup):
    for n, pages in ((1, "1-2"), (2, "5-6")):
        setup.server.deliver(mail(
            sender=f"reader{n}@example.org", subject="Заказ",
            text=f"«Якутские сказки», шифр КХ 84, с. {pages}."))
    run_once(setup)
    assert len(sent_to(setup, "storage@nlrs.example")) == 2
    # no token, no thread, and nothing in the text tells the two orders apart
    setup.server.deliver(mail(sender="storage@nlrs.example", subject="фото",
                              text="Якутские сказки", message_id="<amb-1@nlrs.example>",
                              files=[("a.jpg", "image/jpeg", jpeg("a")),
                                     ("b.jpg", "image/jpeg", jpeg("b"))]))
    run_once(setup)
    review = setup.command("review", "list")
    assert "2026-00001, 2026-00002" in review.stdout, review.stdout
    assert sent_to(setup, "reader1@example.org") == []
    done = setup.command("orders", "match", "<amb-1@nlrs.example>", "2026-00002")
    assert done.returncode == 0, done.stderr
    run_once(setup)  # sends what the match queued
    got = sent_to(setup, "reader2@example.org")
    assert [name for name, _data in attachments(got[0])] == ["a.jpg", "b.jpg"]
    assert order(setup, "2026-00002")["state"] == "delivered"
    assert order(setup, "2026-00001")["state"] == "requested"
    folders = message_ids_by_folder(setup.server)
    assert "<amb-1@nlrs.example>" in folders["Заказы"]
    assert "<amb-1@nlrs.example>" not in folders[setup.settings().mailbox.review_folder]
