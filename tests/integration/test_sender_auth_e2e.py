"""Sender authentication end to end: real Dovecot, real SMTP server, ``mailproc run --once``.

A reader orders pages; the storage department's address then sends the photos five times.
Four letters are forgeries a border server would let through: no verdict at all, a failing
verdict, a failing verdict under a passing one from a foreign authserv-id, a passing verdict
from the trusted id placed under a failing one (forged below the server's own). Each lands in
review with the Russian reason, nothing reaches the reader and the order stays requested. Only
the letter whose topmost verdict of the trusted authserv-id passes delivers the photos, byte for
byte. The same for a ЦКО card number (nothing relayed to the reader) and for a question a
department answers (nothing forwarded). Sorted by the shipped rules.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.config import TrustSettings
from mailproc.outbound.sender import deliver_due
from mailproc.registrations.models import RegistrationCase
from tests.integration.test_orders_e2e import attachments, order, run_once, sent_to
from tests.integration.test_orders_e2e import setup as orders_setup  # noqa: F401 - fixture
from tests.integration.test_questions_e2e import parsed
from tests.integration.test_questions_e2e import setup as questions_setup  # noqa: F401
from tests.integration.test_registration_flow import CKO, TODAY, Clock
from tests.integration.test_registration_flow import setup as registration_setup  # noqa: F401
from tests.servers.mailproc import message_ids_by_folder
from tests.servers.smtp import smtp_server  # noqa: F401 - the fixture
from tests.unit.questions_helpers import mail as question_mail
from tests.unit.test_orders_helpers import jpeg, mail
from tests.unit.test_registration_samples import CARD, READER as REGISTERING, photo, scan_pdf
from tests.unit.test_registration_samples import mail as registration_mail

pytestmark = pytest.mark.integration

READER = "anna.petrova@example.org"
TRUSTED = "mail.nlrs.example"
REASON = ("письмо от имени «Отдел хранения документов» (storage@nlrs.example) не прошло "
          "проверку подлинности: ")
WARNING = "sender authentication is off"


@pytest.fixture
def setup(orders_setup):  # noqa: F811
    orders_setup.env["MAILPROC_TRUST_AUTHSERV_IDS"] = TRUSTED
    return orders_setup


def with_headers(raw: bytes, *headers: tuple[str, str]) -> bytes:
    """The headers the library's server (and the forger) wrote, on top, in this order."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + raw


def review(setup) -> dict[str, str]:
    done = setup.command("review", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["subject"]: row["reason"] for row in json.loads(done.stdout)}


def test_only_the_trusted_topmost_pass_delivers(setup):
    setup.server.deliver(mail(
        sender=f"Анна Петрова <{READER}>", subject="Заказ фрагмента",
        text="Здравствуйте! Пришлите, пожалуйста, Иванов И.И. «Якутские сказки», 1985 г., "
             "шифр КХ2 84(2Рос=Як)-4, с. 15-17.", message_id="<req-1@example.org>"))
    first = setup.command("run", "--once")
    assert first.returncode == 0, first.stderr
    assert WARNING not in first.stderr  # [trust] authserv_ids is set
    request = sent_to(setup, "storage@nlrs.example")[0]
    assert order(setup, "2026-00001")["state"] == "requested"

    photos = [(f"IMG_{i}.jpg", "image/jpeg", jpeg(f"page {i}", 20_000)) for i in (15, 16, 17)]
    ar = "Authentication-Results"
    received = ("Received", f"from mx.evil.example (mx.evil.example [203.0.113.9]) by {TRUSTED}")
    fail = (ar, f"{TRUSTED}; spf=fail smtp.mailfrom=nlrs.example; dkim=none; "
                f"dmarc=fail (p=reject dis=none) header.from=nlrs.example")
    good = (ar, f"{TRUSTED}; spf=pass smtp.mailfrom=nlrs.example; dkim=pass "
                f"header.d=nlrs.example; dmarc=pass (p=reject dis=none) header.from=nlrs.example")
    foreign = (ar, "mx.evil.example; dmarc=pass header.from=nlrs.example")
    variants = {  # subject -> headers on top, and the reason's tail
        "no verdict": ((received,), "почтовый сервер (mail.nlrs.example) не оставил заключения "
                                    "(Authentication-Results)"),
        "failing": ((received, fail), "DMARC fail, SPF fail"),
        "foreign above": ((foreign, received, fail), "DMARC fail, SPF fail"),
        "forged below": ((received, fail, good), "DMARC fail, SPF fail"),
    }
    for name, (headers, _why) in variants.items():
        setup.server.deliver(with_headers(mail(
            sender="storage@nlrs.example", subject=f"Re: {request['Subject']} {name}",
            text="Высылаем.", in_reply_to=request["Message-ID"], files=photos,
            message_id=f"<{name.replace(' ', '-')}@evil.example>"), *headers))
    run_once(setup)
    assert sent_to(setup, READER) == []
    shown = order(setup, "2026-00001")
    assert shown["state"] == "requested"
    assert [e["to"] for e in shown["events"]] == ["new", "requested"]
    reasons = review(setup)
    for name, (_headers, why) in variants.items():
        got = [r for s, r in reasons.items() if s.endswith(name)]
        assert got == [f"{REASON}{why}"], (name, reasons)
    folders = message_ids_by_folder(setup.server)
    assert sorted(folders[setup.settings().mailbox.review_folder]) == sorted(
        f"<{n.replace(' ', '-')}@evil.example>" for n in variants)

    # the real one: the server's own verdict on top passes
    setup.server.deliver(with_headers(mail(
        sender="storage@nlrs.example", subject=f"Re: {request['Subject']}", text="Высылаем.",
        in_reply_to=request["Message-ID"], files=photos, message_id="<dept-1@nlrs.example>"),
        good, ("Received", f"from relay.nlrs.example (relay.nlrs.example [10.0.0.5]) by "
                           f"{TRUSTED}")))
    run_once(setup)
    delivered = sent_to(setup, READER)
    assert len(delivered) == 1
    assert attachments(delivered[0]) == [(n, data) for n, _t, data in photos]
    assert order(setup, "2026-00001")["state"] == "delivered"
    assert "<dept-1@nlrs.example>" in message_ids_by_folder(setup.server)["Заказы"]


def test_without_trusted_ids_department_mail_is_accepted_and_start_up_warns_once(setup):
    del setup.env["MAILPROC_TRUST_AUTHSERV_IDS"]
    setup.server.deliver(mail(
        sender=READER, subject="Заказ", text="«Якутские сказки», шифр КХ2 84, с. 15-16."))
    done = setup.command("run", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(WARNING) == 1, done.stderr
    request = sent_to(setup, "storage@nlrs.example")[0]
    setup.server.deliver(mail(sender="storage@nlrs.example", subject="фото", text="Вот.",
                              in_reply_to=request["Message-ID"],
                              files=[("a.jpg", "image/jpeg", jpeg("a"))]))
    run_once(setup)
    assert [n for n, _d in attachments(sent_to(setup, READER)[0])] == ["a.jpg"]


# -- a department's answer to a routed question, a librarian's close ------------------------


@pytest.fixture
def questions(questions_setup):  # noqa: F811
    questions_setup.env["MAILPROC_TRUST_AUTHSERV_IDS"] = TRUSTED
    return questions_setup


def test_forged_answers_to_a_question_are_not_forwarded_and_do_not_close_it(questions):
    setup = questions
    question = question_mail(READER, "Помогите найти краеведческую литературу о селе Чурапча.",
                             "Краеведческий запрос", name="Анна Петрова")
    setup.server.deliver(question)
    run_once(setup)
    to_dept = parsed([r.raw for r in setup.smtp.wait_for(2)
                      if r.rcpt_tos == ["regbib@nlrs.example"]][0])
    [(token,)] = setup.sql("SELECT token FROM question_cases")
    scan = b"%PDF-1.4\n% list of articles\n" + bytes(range(256))
    fail = ("Authentication-Results",
            f"{TRUSTED}; dkim=pass header.d=evil.example; dmarc=fail header.from=nlrs.example")
    forged_dept = question_mail("regbib@nlrs.example", "Нашли три статьи, список во вложении.",
                                f"Re: {to_dept['Subject']}", in_reply_to=to_dept["Message-ID"],
                                attachment=("Список статей.pdf", scan))
    forged_librarian = question_mail("personbibl@nlrs.example", "Ответили по телефону.",
                                     "Re: Краеведческий запрос",
                                     in_reply_to=parsed(question)["Message-ID"])
    setup.server.deliver(with_headers(forged_dept, fail))
    setup.server.deliver(forged_librarian)
    run_once(setup)
    assert len(setup.smtp.messages) == 2  # the routed question and the reader's notice only
    [(state, answered_by)] = setup.sql("SELECT state, answered_by FROM question_cases")
    assert (state, answered_by) == ("routed", "")
    reasons = sorted(review(setup).values())
    assert reasons == [
        "письмо от имени «Отдел региональной библиографии» (regbib@nlrs.example) "
        "не прошло проверку подлинности: DMARC fail, DKIM pass для чужого домена evil.example",
        "письмо от имени «библиотекари (адрес почтового ящика)» "
        "(personbibl@nlrs.example) не прошло проверку подлинности: почтовый сервер "
        "(mail.nlrs.example) не оставил заключения (Authentication-Results)"]

    # the department's real answer, signed by its own domain
    setup.server.deliver(with_headers(forged_dept.replace(b"Message-ID: <", b"Message-ID: <r"),
                                      ("Authentication-Results",
                                       f"{TRUSTED}; dkim=pass header.d=nlrs.example")))
    run_once(setup)
    forwarded = [m for m in map(parsed, [r.raw for r in setup.smtp.wait_for(3)
                                         if r.rcpt_tos == [READER]])
                 if list(m.iter_attachments())]
    assert len(forwarded) == 1
    [att] = list(forwarded[0].iter_attachments())
    assert att.get_content() == scan
    assert setup.sql("SELECT answered_by FROM question_cases") == [("department:regional",)]
    assert token


# -- ЦКО's card number ----------------------------------------------------------------------


@pytest.fixture
def registration(registration_setup):  # noqa: F811
    mp, app, smtp = registration_setup
    trusted = dataclasses.replace(app.settings, trust=TrustSettings(authserv_ids=(TRUSTED,)))
    return mp, App(trusted), smtp


def intake(app, now) -> int:
    Clock.value = now
    with app.source() as source:
        stats = app.intake(source).run_once()
        deliver_due(app, source)
    return stats.review


def test_a_forged_card_number_from_cko_is_not_relayed(registration):
    mp, app, smtp = registration
    mp.server.deliver(registration_mail(
        subject="Регистрация", text="Высылаю анкету и согласие.", date=TODAY,
        files=[("анкета.jpg", photo(seed=31), "image/jpeg"),
               ("согласие.pdf", scan_pdf(seed=32), "application/pdf")]))
    assert intake(app, TODAY) == 0
    [to_cko] = [m for m in smtp.wait_for(2) if m.rcpt_tos == [CKO]]
    answer = registration_mail(
        sender=CKO, name="ЦКО", subject="Re: " + to_cko.message["Subject"],
        text=f"Читатель зарегистрирована, номер читательского билета {CARD}.",
        in_reply_to=to_cko.message["Message-ID"], date=TODAY)
    mp.server.deliver(with_headers(answer, ("Authentication-Results",
                                            f"{TRUSTED}; dmarc=fail header.from=nlrs.example")))
    assert intake(app, TODAY) == 1
    assert not [m for m in smtp.messages if CARD.encode() in m.raw]
    with app.db.session() as s:
        case = s.scalar(select(RegistrationCase))
        assert (case.state, case.card_number_enc) == ("handed", "")
    assert list(review(mp).values()) == [
        "письмо от имени «Центр комплексного обслуживания (ЦКО)» "
        f"({CKO}) не прошло проверку подлинности: DMARC fail"]

    mp.server.deliver(with_headers(answer.replace(b"Message-ID: <", b"Message-ID: <ok"),
                                   ("Authentication-Results",
                                    f"{TRUSTED}; dmarc=pass header.from=nlrs.example")))
    assert intake(app, TODAY) == 0
    [card] = [m for m in smtp.wait_for(4) if m.rcpt_tos == [REGISTERING] and "билет" in
              m.message["Subject"]]
    assert f"Номер вашего читательского билета: {CARD}" in \
        card.message.get_body(("plain",)).get_content()
