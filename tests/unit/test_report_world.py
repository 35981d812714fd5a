"""A database filled the way the workflows fill it, for the digest and report tests.

Rows are made by the domain services themselves (orders: create, submit to the department,
deliver the department's photos; questions: the ``take_question`` action on real mail, ready
answers sent, cases routed, a librarian's answer; registrations: cases opened from mail and
moved through their states; bounces through ``suppress``), at chosen moments in November 2026
(and some in October, outside the reported month), so timings are known. Mailings are written
as the mailing sender writes its per-recipient log.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.letter import decode_letter
from mailproc.orders import states as st
from mailproc.orders.models import Order
from mailproc.orders.parse import ParsedRequest
from mailproc.orders.replies import deliver
from mailproc.orders.service import OrderEnv, cancel, create_order, submit
from mailproc.outbound.bounces import suppress
from mailproc.outbound.outbox import enqueue
from mailproc.outreach.models import Contact, MailingDelivery, MailingIssue
from mailproc.questions.models import InformationNeed, QuestionCase
from mailproc.questions.service import librarian_answered, take_question
from mailproc.registrations import cases as reg
from mailproc.registrations.vault import Vault, new_key
from mailproc.store.models import Message
from tests.unit.questions_helpers import World, mail as question_mail
from tests.unit.test_orders_helpers import jpeg, mail as order_mail

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
#: the digest's moment: Thursday 26 November 2026, 08:30 in Yakutsk
DIGEST_AT = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
#: November 2026 in Yakutsk, as naive UTC text the way SQLite stores it
NOV = ("2026-10-31 15:00:00", "2026-11-30 15:00:00")

FUNDS = ("КХ", "КМП", "КХ ОНКФ", "СБ")


def demo_text(name: str) -> str:
    raw = (REPO / "mailproc" / "demo" / "messages" / name).read_bytes()
    return decode_letter(raw).text


def at(day: int, hour: int = 2, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def make_world(tmp_path) -> World:
    w = World(tmp_path, default_mode="send")
    fill(w)
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One filled database per test module (building it takes a few seconds)."""
    w = make_world(tmp_path_factory.mktemp("world"))
    yield w
    w.db.dispose()


def fill(w: World) -> None:
    orders(w)
    questions(w)
    registrations(w)
    mailings(w)
    mailbox(w)


def _env(w: World, s, now: datetime) -> OrderEnv:
    return OrderEnv(s, w.settings, w.directory, w.tokens, now)


def _order(w: World, now: datetime, fund: str, n: int) -> int:
    req = ParsedRequest(author="Иванов И.И.", title=f"Якутские сказки, том {n}", fund_code=fund,
                        pages="15-17", pages_count=3)
    with w.db.transaction() as s:
        o = create_order(_env(w, s, now), req, reader_email=f"reader{n}@example.org")
        submit(_env(w, s, now), o)
        return o.id


def _deliver(w: World, order_id: int, now: datetime) -> None:
    with w.db.transaction() as s:
        o = s.get(Order, order_id)
        letter = decode_letter(order_mail(
            sender=o.department_address, subject="Фото страниц", text="Высылаем.",
            files=[(f"IMG_{p}.jpg", "image/jpeg", jpeg(f"{o.token} {p}")) for p in (15, 16, 17)]))
        deliver(_env(w, s, now), o, letter, skip_check=True)


def orders(w: World) -> None:
    # October: one delivered in November (counts as delivered, not as received), one not
    old = _order(w, at(20, month=10), "КХ", 100)
    _order(w, at(21, month=10), "КМП", 101)
    _deliver(w, old, at(3, 5))
    for i in range(12):
        created = at(2 + i, 1 + i % 5)
        oid = _order(w, created, FUNDS[i % len(FUNDS)], i)
        if i < 7:
            _deliver(w, oid, created + timedelta(hours=5 * (i + 1) + i * i))
        elif i == 7:
            with w.db.transaction() as s:
                cancel(_env(w, s, created + timedelta(hours=3)), s.get(Order, oid), "читатель")
        # 8..11 stay requested; those asked before 23 November are past their deadline


def _fix_clock(w: World, now: datetime) -> None:
    """Needs and the message row are stamped with the wall clock; put them at the case's moment."""
    with w.db.transaction() as s:
        case = s.scalar(select(QuestionCase).order_by(QuestionCase.id.desc()))
        case.created_at = now
        for need in s.scalars(select(InformationNeed).where(InformationNeed.case_id == case.id)):
            need.created_at = now
        s.get(Message, case.message_pk).received_at = now


def _ask(w: World, sender: str, subject: str, text: str, now: datetime) -> str:
    out = w.act(question_mail(sender, text, subject), take_question, now=now)
    _fix_clock(w, now)
    return out["case"]


def questions(w: World) -> None:
    texts = [("Временный доступ", demo_text("01-question-temporary-access.eml")),
             ("ЛитРес", demo_text("02-question-litres.eml")),
             ("Краеведение", demo_text("03-question-local-history.eml")),
             ("Групповой абонемент", demo_text("13-question-group-subscription.eml")),
             ("Вопрос", "Добрый день! Подскажите, пожалуйста, есть ли у вас оцифрованная книга "
                        "Кулаковский А.Е. «Сон шамана»? Хотелось бы прочитать её онлайн.")]
    _ask(w, "early@example.org", *texts[0], now=at(28, 3, month=10))
    for i in range(10):
        subject, text = texts[i % len(texts)]
        _ask(w, f"q{i}@example.org", subject, text, now=at(3 + 2 * i, 1 + i % 4))
    with w.db.transaction() as s:  # a librarian answers the oldest case still waiting
        case = s.scalar(select(QuestionCase).where(QuestionCase.state == "new")
                        .order_by(QuestionCase.id))
        if case is not None:
            librarian_answered(s, case, "librarian@nlrs.example",
                               case.created_at + timedelta(hours=30))


def registrations(w: World) -> None:
    plan = [(at(1, month=10), "card_issued"), (at(4), "card_issued"), (at(9), "handed"),
            (at(12), "complete"), (at(18), "incomplete"), (at(24, 6), "incomplete"),
            (at(25, 4), "incomplete"), (at(20), "withdrawn")]
    box = Vault(Path(w.settings.vault.dir), [new_key()])  # the names are sealed with it
    for n, (opened, final) in enumerate(plan):
        letter = decode_letter(question_mail(f"reg{n}@example.org", "Документы на регистрацию",
                                             "Регистрация"))
        with w.db.transaction() as s:
            case = reg.open_case(s, letter, opened, w.settings.tz, box)
            path = {"card_issued": ["complete", "handed", "card_issued"],
                    "handed": ["complete", "handed"], "complete": ["complete"],
                    "withdrawn": ["withdrawn"]}.get(final, [])
            for k, state in enumerate(path, 1):
                reg.set_state(s, case, state, at=opened + timedelta(days=k))


def mailings(w: World) -> None:
    with w.db.transaction() as s:
        people = [Contact(email=f"teacher{i}@school.example", consent=True) for i in range(4)]
        s.add_all(people)
        s.flush()
        people[3].unsubscribed_at = at(12)
        for name, when, statuses in (
                ("сервисы-эб-учителям", at(10, 1), ["sent", "sent", "bounced", "sent"]),
                ("краеведение", at(25, 1), ["sent", "failed", "sent"]),
                ("сервисы-эб-учителям", at(20, 1, month=10), ["sent", "sent"])):
            issue = MailingIssue(mailing=name, scheduled_at=when, state="done", created_at=when,
                                 recipients=len(statuses), finished_at=when)
            s.add(issue)
            s.flush()
            for person, status in zip(people, statuses):
                s.add(MailingDelivery(issue_id=issue.id, contact_id=person.id,
                                      email=person.email, status=status))


def mailbox(w: World) -> None:
    with w.db.transaction() as s:
        for n, (reason, when) in enumerate((("вложение не открывается", at(24, 7)),
                                            ("LoadError: правило не загрузилось", at(25, 1)))):
            s.add(Message(mailbox="INBOX", uidvalidity=1, uid=f"r{n}", content_hash=f"h{n}",
                          subject=f"Документы {n}", from_addr=f"x{n}@example.org",
                          received_at=when, category="review", state="review", reason=reason))
        row = enqueue(s, w.settings, to="gone@example.org", template="librarians/notice",
                      context={"title": "t", "lines": [], "what_to_do": "-"}, kind="notice")
        row.state, row.error = "failed", "550 5.1.1 mailbox unavailable"
        suppress(s, "gone@example.org", "550 5.1.1 mailbox unavailable", hard=True, limit=3)
        s.add(Message(mailbox="INBOX", uidvalidity=1, uid="b1", content_hash="hb",
                      subject="Undelivered Mail", from_addr="mailer-daemon@mx.example",
                      received_at=at(25, 3), category="bounce", state="done"))


def test_the_world_has_every_kind_of_row(world):
    with world.db.session() as s:
        states = {o.state for o in s.scalars(select(Order))}
        q_states = {q.state for q in s.scalars(select(QuestionCase))}
    assert {st.DELIVERED, st.REQUESTED, st.CANCELLED} <= states
    assert "answered" in q_states and len(q_states) >= 2
