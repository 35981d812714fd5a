"""``rules.responses_per_sender`` holds for forwards and hand-offs, not only for replies.

Service level, as the Sorter runs actions: real SQLite, real outbox rows and templates. Six
questions from one address that all go to a department used to give three replies but six
forwards to the department; now every outbox row the sender's letters cause counts, what is
withheld is recorded, and the morning digest says so in Russian.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.orders.actions import create_order_action
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.outbox import templates_for
from mailproc.questions import actions
from mailproc.questions.models import QuestionCase
from mailproc.reports.digest import build_digest
from mailproc.sorting.limits import ResponseLimit
from tests.unit.questions_helpers import NOW, World, mail

READER = "flood@reader.example"
LOCAL = "Помогите найти краеведческую литературу о селе Чурапча, вопрос {n}."


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def rows(world) -> list[OutboxMessage]:
    with world.db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_six_routed_questions_cause_at_most_the_limit(world):
    results = [world.act(mail(READER, LOCAL.format(n=n), f"Краеведение {n}"),
                         actions.answer_question) for n in range(6)]
    queued = rows(world)
    assert len(queued) == 3  # the default limit: 3 messages a day caused by one sender
    assert all(r.cause == READER for r in queued)
    to_department = [r for r in queued if r.headers["to"][0][1] == "regbib@nlrs.example"]
    to_reader = [r for r in queued if r.headers["to"][0][1] == READER]
    assert len(to_department) == 2 and len(to_reader) == 1
    assert [r["state"] for r in results] == ["routed", "routed"] + ["new"] * 4
    assert results[2]["result"].startswith("вопрос не передан в отдел «Отдел региональной "
                                           "библиографии»: лимит автоматических ответов")
    with world.db.session() as s:
        waiting = s.scalars(select(QuestionCase).where(QuestionCase.state == "new")).all()
        assert len(waiting) == 4 and all("ждёт библиотекаря" in c.reason for c in waiting)
        hits = s.scalars(select(ResponseLimit).order_by(ResponseLimit.id)).all()
    # the second question's notice to the reader, then the four questions not routed
    assert [(h.sender, h.limit) for h in hits] == [(READER, 3)] * 5
    assert hits[0].withheld == "уведомление читателю о передаче вопроса в отдел"
    assert hits[1].withheld == "передача вопроса в отдел «Отдел региональной библиографии»"


def test_the_digest_says_who_reached_the_limit(world):
    for n in range(6):
        world.act(mail(READER, LOCAL.format(n=n), f"Краеведение {n}"), actions.answer_question)
    world.act(mail("other@reader.example", LOCAL.format(n=9)), actions.answer_question,
              now=NOW + timedelta(minutes=1))
    with world.db.session() as s:
        context = build_digest(s, world.settings, NOW + timedelta(hours=2))
    assert context["limits"]["count"] == 1 and context["limits"]["withheld"] == 5
    text = templates_for(world.settings).render("librarians/digest", context).text
    assert "ЛИМИТ АВТОМАТИЧЕСКИХ ПИСЕМ: 1 отправитель, не отправлено 5 писем" in text
    assert f"- {READER}: не отправлено 5 писем (лимит 3 в сутки)" in text


def test_the_librarys_own_addresses_are_not_limited(world):
    staff = "regbib@nlrs.example"  # a department's address (rules/departments.yaml)
    for n in range(5):
        world.act(mail(staff, LOCAL.format(n=n), f"Краеведение {n}"), actions.answer_question)
    assert all(r.cause == "" for r in rows(world))
    with world.db.session() as s:
        assert s.scalars(select(ResponseLimit)).all() == []


def test_an_order_past_the_limit_goes_to_review_with_nothing_sent(world):
    texts = [f"Пришлите, пожалуйста, «Якутские сказки», шифр КХ2 84, с. {p}." for p in
             ("1-2", "3-4", "5-6", "7-8")]
    for text in texts[:3]:
        world.act(mail(READER, text, "Заказ"), create_order_action)
    assert len(rows(world)) == 3  # three requests to the storage department
    with pytest.raises(MessageError) as err:
        world.act(mail(READER, texts[3], "Заказ"), create_order_action)
    assert str(err.value).startswith("лимит автоматических ответов и передач по письмам этого "
                                     "отправителя (3 за сутки) достигнут: заказ не создан")
    assert len(rows(world)) == 3
