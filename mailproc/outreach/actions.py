"""Outreach's conditions and actions for the rule files (see rules/05-outreach.yaml)."""

from __future__ import annotations

from mailproc.errors import MessageError
from mailproc.letter.marks import is_automatic
from mailproc.outreach import proposals
from mailproc.outreach.unsubscribe import find_contact, recognise, unsubscribe
from mailproc.sorting.registry import action, condition
from mailproc.sorting.conditions import folded_words
from mailproc.sorting.text import Needles

#: a word every unsubscribe request holds (unsubscribe.py's _MAILTO_SUBJECT and _WORDS)
_UNSUBSCRIBE_WORDS = Needles("unsubscribe", "отпи", "исключите", "присылайте", "больше",
                             ignorecase=True)


@condition("unsubscribe-request",
           "Просьба отписаться от рассылок: письмо по ссылке List-Unsubscribe или ответ "
           "со словом «отписаться»")
def unsubscribe_request(letter, facts) -> bool:
    if not _UNSUBSCRIBE_WORDS.in_(folded_words(letter, facts)):
        return False  # most mail: no regex run (deciding stays cheap next to decoding)
    request = recognise(letter)
    if request is None:
        return False
    # "отписаться" counts only in a reply to mail we sent: a reader asking how to turn off
    # the personal account's notices is not leaving our mailings
    # the mailto request may come from a client robot; a reply must come from a person
    return request.how == "mailto" or (
        not is_automatic(letter) and any(facts.our_message(m) for m in request.thread))


@condition("staff-list", "В письме таблица с ФИО и адресами (вложение XLSX/CSV или таблица в "
                         "тексте) — список сотрудников для групп")
def staff_list(letter, facts) -> bool:
    return proposals.has_table(letter)


@action("unsubscribe", "Отписать отправителя от рассылок, записать отзыв согласия и отправить "
                       "подтверждение")
def unsubscribe_action(ctx) -> dict:
    ctx.session.flush()  # the message row's id names the request in the consent record
    request = recognise(ctx.letter)
    if request is None:
        raise MessageError("отписка: в письме нет просьбы отписаться")
    contact = find_contact(ctx.session, ctx.settings, request, ctx.letter.sender.email)
    if contact is None:
        raise MessageError("отписка: отправителя нет в базе контактов; найдите контакт и "
                           "отпишите его командой mailproc contacts unsubscribe")
    how = {"mailto": "письмо по ссылке List-Unsubscribe",
           "reply": "ответ «отписаться»"}[request.how]
    done = unsubscribe(ctx.session, ctx.settings, contact,
                       f"{how}, сообщение {ctx.message.id}", ctx.now,
                       dedupe=f"message:{ctx.message.id}")
    return {"contact": contact.id, "unsubscribed": done, "already": not done}


@action("propose-contacts-import",
        "Предложить импорт контактов из таблицы в письме; библиотекарь подтверждает командой "
        "mailproc contacts confirm")
def propose_contacts_import(ctx) -> dict:
    ctx.session.flush()
    try:
        pending = proposals.propose(ctx.session, ctx.settings, ctx.letter, ctx.message.id)
    except Exception as exc:  # noqa: BLE001 - a broken table goes to a person, not the log
        raise MessageError(f"список контактов не прочитан: {exc}") from exc
    return {"pending_import": pending.id, "contacts": len(pending.rows),
            "skipped": len(pending.skipped)}
