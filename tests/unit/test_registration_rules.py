"""The registration conditions and actions through the real rule loader and Sorter."""

from __future__ import annotations

import shutil

from sqlalchemy import select

from mailproc.letter import decode_letter
from mailproc.outbound.models import OutboxMessage
from mailproc.registrations.models import RegistrationCase
from mailproc.sorting.runtime import Sorter
from mailproc.store.models import Message
from tests.unit.test_registration_samples import mail, photo, scan_pdf
from tests.unit.test_registration_service import REPO, app  # noqa: F401 - the fixture

RULES = """\
- name: Отзыв согласия
  description: Читатель отзывает согласие на обработку ПД
  when:
    all:
      - not: sender-department
      - asks-consent-withdrawal
  then:
    - set-category: registration-withdrawal
    - move-to-folder: На разбор
    - registration-withdraw

- name: Регистрационные документы
  description: Фото или сканы анкеты, заявления, согласия
  when:
    all:
      - attachment-family: [image, pdf]
      - text-any-of: [анкета, согласие]
  then:
    - set-category: registration
    - take-registration-documents

- name: Как зарегистрироваться
  description: Читатель спрашивает, как зарегистрироваться
  when:
    text-any-of: [как зарегистрироваться]
  then:
    - set-category: registration-forms
    - send-registration-forms
"""


def sorter_for(app):  # noqa: F811 - the fixture's name
    rules = app.settings.paths.rules
    shutil.copy(REPO / "rules" / "lists.yaml", f"{rules}/lists.yaml")
    with open(f"{rules}/30-registration.yaml", "w", encoding="utf-8") as fh:
        fh.write(RULES)
    sorter = Sorter(app.settings, app.db)
    assert sorter.problems == [] and sorter.ruleset is not None
    return sorter


def process(app, sorter, raw: bytes, uid: str):  # noqa: F811 - the fixture's name
    letter = decode_letter(raw)
    decision = sorter.decide(letter)
    with app.db.transaction() as s:
        row = Message(mailbox="test", uidvalidity=1, uid=uid, content_hash=letter.content_hash)
        s.add(row)
        s.flush()
        results = sorter.act(s, row, letter, decision)
    return decision, results


def test_documents_then_withdrawal_then_forms_by_rules(app):  # noqa: F811
    sorter = sorter_for(app)
    decision, results = process(app, sorter, mail(
        text="анкета и согласие", files=[("анкета.jpg", photo(), "image/jpeg"),
                                         ("согласие.pdf", scan_pdf(), "application/pdf")]), "1")
    assert decision.category == "registration" and results[-1]["state"] == "handed"

    # our "documents received" reply quoted back does not count as a withdrawal
    decision, _ = process(app, sorter, mail(
        text="Спасибо!\n\nБиблиотека пишет:\n> отзыв согласия возможен в любое время"), "2")
    assert decision.category != "registration-withdrawal"

    decision, results = process(app, sorter, mail(
        subject="Отзыв согласия", text="Прошу отозвать моё согласие на обработку персональных "
                                       "данных."), "3")
    assert decision.category == "registration-withdrawal" and decision.folder == "На разбор"
    with app.db.session() as s:
        assert s.scalar(select(RegistrationCase)).state == "withdrawn"

    decision, results = process(app, sorter, mail(text="Как зарегистрироваться в ЭБ?"), "4")
    assert results[-1]["forms"] == 3
    with app.db.session() as s:
        templates = [r.template for r in s.scalars(select(OutboxMessage))]
    assert templates[-2:] == ["librarians/registration_withdrawal", "reader/registration_forms"]
