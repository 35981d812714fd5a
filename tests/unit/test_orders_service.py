"""Orders in a real (SQLite) database with the real outbox: tokens, states, the cap, the
request to the department, reminders, and 200 orders answered in random order."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.letter import decode_letter
from mailproc.orders import states as st
from mailproc.orders.models import Order, OrderEvent, OrderRef
from mailproc.orders.parse import ParsedRequest, parse_request
from mailproc.orders.reminders import remind_in
from mailproc.orders.replies import handle_reply
from mailproc.orders.service import OrderEnv, cancel, create_order, submit
from mailproc.outbound.models import OutboxMessage
from mailproc.store import open_database
from mailproc.tokens import Tokens
from tests.unit.test_orders_helpers import five_departments, jpeg, mail, order_settings

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)  # Thursday 11:00 in Yakutsk


@pytest.fixture
def world(tmp_path):
    settings = order_settings(tmp_path)
    db = open_database(settings.database.url)
    yield settings, db, five_departments(), Tokens.from_settings(settings)
    with db.session() as s:  # every letter the test caused rendered from the shipped templates
        broken = [(r.template, r.error) for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.state == "error"))]
    db.dispose()
    assert not broken


def env_for(world, session, now=NOW, message_pk=None):
    settings, _db, directory, tokens = world
    return OrderEnv(session, settings, directory, tokens, now, message_pk=message_pk)


def book(fund="КХ", title="Якутские сказки", pages="15-17", count=3, **kw) -> ParsedRequest:
    return ParsedRequest(author="Иванов И.И.", title=title, fund_code=fund, pages=pages,
                         pages_count=count, **kw)


def test_tokens_are_sequential_and_race_free(world):
    settings, db, *_ = world
    got: list[str] = []
    lock = threading.Lock()

    def make():
        for _ in range(10):
            with db.transaction() as s:
                o = create_order(env_for(world, s), book(), reader_email="r@example.org")
                token = o.token
            with lock:
                got.append(token)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"2026-{n:05d}" for n in range(1, 41)]


def test_request_goes_to_the_fund_department_with_token(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        order = create_order(env_for(world, s), book(fund="КМП"), reader_email="R@Example.org")
        result = submit(env_for(world, s), order)
    assert result == {"order": "2026-00001", "state": "requested", "department": "sandaly"}
    with db.session() as s:
        order = s.scalar(select(Order))
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.template ==
                                                   "department/fragment_request"))
        ref = s.scalar(select(OrderRef))
        assert list(row.recipients) == ["sandaly@nlrs.example"]
        assert row.token == "2026-00001" and row.token_kind == "o"
        assert ref.message_id == row.message_id and ref.order_id == order.id
        assert row.message_id.startswith("<mp.o2026-00001.")
        assert order.reader_email == "r@example.org"
        # Thursday + 2 working days = Monday 30 Nov, end of day in Yakutsk
        assert order.deadline_at == datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)
        assert [e.state_to for e in order.events] == ["new", "requested"]


def test_every_log_line_of_an_order_names_it_by_its_token(world, caplog):
    """Issue 22: "order None created" (the row id is None until the flush); the token is
    there from the start and is what librarians see, also as the line's ``order`` field."""
    _settings, db, *_ = world
    with caplog.at_level("INFO", logger="mailproc.orders"), db.transaction() as s:
        submit(env_for(world, s, message_pk=7),
               create_order(env_for(world, s, message_pk=7), book(), reader_email="r@example.org"))
    lines = [r for r in caplog.records if r.name == "mailproc.orders"]
    assert [r.getMessage() for r in lines] == ["order 2026-00001 created: new -> new",
                                               "order 2026-00001 requested: new -> requested"]
    assert [(r.order, r.message_pk) for r in lines] == [("2026-00001", 7)] * 2


def test_unclear_request_asks_the_reader(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        order = create_order(env_for(world, s), parse_request("", "Пришлите про олонхо"),
                             reader_email="r@example.org")
        submit(env_for(world, s), order)
    with db.session() as s:
        order = s.scalar(select(Order))
        assert order.state == st.NEEDS_DETAILS
        row = s.scalar(select(OutboxMessage))
        assert row.template == "reader/order_needs_details"
        assert list(row.recipients) == ["r@example.org"]
        assert len(row.context["missing"]) == 3


def test_over_the_cap_is_refused_before_any_department(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        first = create_order(env_for(world, s), book(pages="1-20", count=20, book_pages=100),
                             reader_email="r@example.org")
        submit(env_for(world, s), first)
        second = create_order(env_for(world, s), book(pages="50-60", count=11, book_pages=100),
                              reader_email="r@example.org")
        result = submit(env_for(world, s), second)
    assert result["over_cap"] and result["state"] == st.CANNOT_FULFIL
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [r.template for r in rows] == ["department/fragment_request",
                                              "reader/order_over_cap"]
        assert rows[1].context["cap"] == {"book_pages": 100, "limit": 30, "before": 20,
                                          "requested": 11, "left": 10, "percent": 30}


def test_cap_counts_per_reader(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        for reader in ("a@example.org", "b@example.org"):
            o = create_order(env_for(world, s), book(pages="1-30", count=30, book_pages=100),
                             reader_email=reader)
            assert submit(env_for(world, s), o)["state"] == st.REQUESTED


def test_one_reminder_then_overdue(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        submit(env_for(world, s), create_order(env_for(world, s), book(),
                                               reader_email="r@example.org"))
    with db.transaction() as s:
        assert remind_in(env_for(world, s, NOW + timedelta(days=3))) == []  # Sunday
    with db.transaction() as s:
        assert remind_in(env_for(world, s, NOW + timedelta(days=5))) == ["2026-00001"]
    with db.transaction() as s:
        assert remind_in(env_for(world, s, NOW + timedelta(days=9))) == []
    with db.session() as s:
        order = s.scalar(select(Order))
        assert order.state == st.OVERDUE
        reminders = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.template == "department/reminder")))
        request = s.scalar(select(OrderRef.message_id).where(OrderRef.purpose == "request"))
        assert len(reminders) == 1
        assert reminders[0].headers["extra"]["In-Reply-To"] == request


def test_cancel_keeps_history(world):
    _settings, db, *_ = world
    with db.transaction() as s:
        o = create_order(env_for(world, s), book(), reader_email="r@example.org")
        submit(env_for(world, s), o)
        cancel(env_for(world, s), o, "reader asked")
    with db.session() as s:
        events = list(s.scalars(select(OrderEvent).order_by(OrderEvent.id)))
        assert [(e.event, e.state_to) for e in events] == [
            ("created", "new"), ("requested", "requested"), ("cancelled", "cancelled")]
        assert events[-1].note == "reader asked"
    with db.transaction() as s, pytest.raises(MessageError):
        cancel(env_for(world, s), s.scalar(select(Order)))


def _open(world, reader, fund, title, pages, count):
    _settings, db, *_ = world
    with db.transaction() as s:
        o = create_order(env_for(world, s), book(fund=fund, title=title, pages=pages,
                                                 count=count), reader_email=reader)
        submit(env_for(world, s), o)
        return o.token


def _reply(world, raw: bytes):
    _settings, db, *_ = world
    letter = decode_letter(raw)
    with db.transaction() as s:
        return handle_reply(env_for(world, s), letter)


def test_no_files_answers_move_the_order(world):
    a = _open(world, "a@example.org", "КХ", "Якутские сказки", "1-2", 2)
    b = _open(world, "b@example.org", "КМ", "Олонхо", "3-4", 2)
    got = _reply(world, mail(sender="storage@nlrs.example", subject=f"Re: [НБ {a}]",
                             text="Этой книги нет в фонде."))
    assert got["state"] == st.CANNOT_FULFIL
    got = _reply(world, mail(sender="sandaly@nlrs.example", subject=f"Re: [НБ {b}]",
                             text="Передали в ЛОД, скан будет завтра."))
    assert got["state"] == st.SENT_TO_LOD
    with pytest.raises(MessageError, match="no photo or scan"):
        _reply(world, mail(sender="sandaly@nlrs.example", subject=f"Re: [НБ {b}]",
                           text="Уточните, пожалуйста."))


def test_department_business_that_is_no_order_is_left_alone(world):
    got = _reply(world, mail(sender="storage@nlrs.example", text="Совещание в 15:00"))
    assert got["result"] == "not an order reply"


def test_failed_check_never_reaches_the_reader(world):
    _settings, db, *_ = world
    token = _open(world, "a@example.org", "КХ", "Якутские сказки", "1-20", 20)
    with pytest.raises(MessageError, match=f"order {token}: files not sent.*1 page"):
        _reply(world, mail(sender="storage@nlrs.example", subject=f"Re: [НБ {token}]",
                           files=[("p1.jpg", "image/jpeg", jpeg("x"))]))
    with db.session() as s:
        assert s.scalar(select(OutboxMessage).where(
            OutboxMessage.template == "reader/scan_delivered")) is None


WORDS = ("якутские сказки олонхо предания легенды шаманы кочевники алмазы реки тайга север "
         "народы песни обряды ремесла кони олени охота рыболовство лето зима праздники ысыах "
         "хомус эпос герои боги духи").split()


def test_two_hundred_orders_five_departments_db(world, capsys):
    """Every reply with a token or thread header matched right; the rest right or review;
    the files delivered always belong to that reader's order."""
    _settings, db, directory, tokens = world
    rnd = random.Random(6)
    funds = {"storage": "КХ", "sandaly": "КМ", "onkf": "КХ ОНКФ", "periodicals": "ПЕР",
             "rare": "РК"}
    orders = {}
    for n in range(200):
        dept = list(funds)[n % 5]
        title = " ".join(rnd.sample(WORDS, 2)).capitalize()
        a = rnd.randint(1, 200)
        token = _open(world, f"reader{n}@example.org", funds[dept], title, f"{a}-{a + 2}", 3)
        orders[token] = (dept, title, f"{a}-{a + 2}", f"reader{n}@example.org")
    with db.session() as s:
        request_ids = {o.token: r.message_id for r, o in s.execute(
            select(OrderRef, Order).join(Order, OrderRef.order_id == Order.id))}
    kinds = ["thread", "signed", "subject", "marker", "words", "vague", "spoof"]
    plan = [(t, rnd.choice(kinds)) for t in orders]
    rnd.shuffle(plan)
    counts: Counter = Counter()
    for token, kind in plan:
        dept, title, pages, _reader = orders[token]
        files = [(f"IMG_{i}.jpg", "image/jpeg", jpeg(f"{token}/{i}")) for i in range(3)]
        sender, kw = f"{dept}@nlrs.example", {"subject": "Фото", "text": "Высылаем."}
        if kind == "thread":
            kw["in_reply_to"] = request_ids[token]
        elif kind == "signed":
            kw["references"] = tokens.message_id(token, "o")
        elif kind == "subject":
            kw["subject"] = f"RE: Запрос [НБ {token}]"
        elif kind == "marker":
            kw["text"] = f"Вот.\n\n> Служебная отметка: mailproc-case:o{token}"
        elif kind == "words":
            kw["text"] = f"Высылаем фото: «{title}», с. {pages}"
        elif kind == "spoof":
            sender, kw["subject"] = "mallory@example.com", f"Re: [НБ {token}]"
        try:
            got = _reply(world, mail(sender=sender, files=files, **kw))
        except MessageError:
            assert kind in ("words", "vague", "spoof"), f"{kind} reply for {token} to review"
            counts[f"{kind}: review"] += 1
            continue
        assert got["order"] == token, f"{kind} reply for {token} matched {got['order']}"
        counts[f"{kind}: delivered"] += 1
    with db.session() as s:
        delivered = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.template == "reader/scan_delivered")))
        by_id = {o.id: o for o in s.scalars(select(Order))}
        for row in delivered:
            order = by_id[row.related_id]
            assert list(row.recipients) == [orders[order.token][3]]
            assert order.state == st.DELIVERED
            assert len(row.attachments) == 3
            wanted = {hashlib.sha256(jpeg(f"{order.token}/{i}")).hexdigest() for i in range(3)}
            assert {a.sha256 for a in row.attachments} == wanted
    assert counts["spoof: delivered"] == 0
    assert len(delivered) == sum(n for k, n in counts.items() if k.endswith("delivered"))
    with capsys.disabled():
        print("\n200 orders in a database, 5 departments, replies in random order:")
        for line, n in sorted(counts.items()):
            print(f"  {line:24} {n}")


def test_overdue_list_for_the_digest(world):
    from mailproc.orders.service import overdue_orders

    _settings, db, *_ = world
    for _ in range(2):
        with db.transaction() as s:
            submit(env_for(world, s), create_order(env_for(world, s), book(),
                                                   reader_email="r@example.org"))
    later = NOW + timedelta(days=5)
    with db.transaction() as s:
        cancel(env_for(world, s), s.scalar(select(Order).where(Order.token == "2026-00002")))
    with db.session() as s:
        assert overdue_orders(s, NOW) == []
        assert [o.token for o in overdue_orders(s, later)] == ["2026-00001"]
    with db.transaction() as s:
        remind_in(env_for(world, s, later))
    with db.session() as s:
        assert [(o.token, o.state) for o in overdue_orders(s, later)] == [("2026-00001", "overdue")]


def test_librarian_may_skip_the_page_count_but_not_the_file_checks(world):
    token = _open(world, "a@example.org", "КХ", "Якутские сказки", "1-20", 20)
    one = mail(sender="storage@nlrs.example", files=[("p1.jpg", "image/jpeg", jpeg("x"))])
    empty = mail(sender="storage@nlrs.example", files=[("p1.jpg", "image/jpeg", b"")])
    _settings, db, *_ = world
    with db.transaction() as s, pytest.raises(MessageError, match="is empty"):
        handle_reply(env_for(world, s), decode_letter(empty), forced_token=token,
                     skip_check=True)
    with db.transaction() as s:
        got = handle_reply(env_for(world, s), decode_letter(one), forced_token=token,
                           skip_check=True)
    assert got["state"] == st.DELIVERED and got["matched_by"] == "librarian"
