"""The registration conditions and actions rule files name (the sorting registry).

A shipped rule set uses them like this (rules/30-registration.yaml):

    - name: Отзыв согласия на обработку ПД
      when: {all: [{not: sender-department}, asks-consent-withdrawal]}
      then: [set-category: registration-withdrawal, move-to-folder: На разбор,
             registration-withdraw]
    - name: Номер ЧБ от ЦКО
      when: {all: [sender-address: [cko-registration@nlrs.example], carries-token]}
      then: [set-category: registration-card, registration-card-number]
    - name: Регистрационные документы
      when: ...the shipped conditions...
      then: [set-category: registration, move-to-folder: Регистрация, take-registration-documents]
"""

from __future__ import annotations

from mailproc.registrations.forms import send_forms
from mailproc.registrations.handoff import record_card_number
from mailproc.registrations.intake import take_documents
from mailproc.registrations.retention import withdraw
from mailproc.registrations.texts import asks_withdrawal
from mailproc.sorting.registry import action, condition
from mailproc.sorting.conditions import folded_words
from mailproc.sorting.text import Needles

#: a word every withdrawal holds (texts.py's _WITHDRAW, which reads folded text)
_WITHDRAW_WORDS = Needles("отзыв", "отозва", "аннулир", "удалит", "уничтож", "withdraw")


@condition("asks-consent-withdrawal",
           "Читатель отзывает согласие на обработку персональных данных или просит удалить "
           "свои данные (цитата нашего письма не считается)")
def asks_consent_withdrawal(letter, facts) -> bool:
    # most mail names none of the words: skip reading the own text and the regex
    return (_WITHDRAW_WORDS.in_(folded_words(letter, facts))
            and asks_withdrawal(letter.subject + "\n" + letter.text))


@action("take-registration-documents",
        "Принять регистрационные документы читателя (анкета, заявление, согласие): "
        "проверить, зашифровать, при полном комплекте передать в ЦКО", personal=True)
def take_registration_documents(ctx) -> dict:
    return take_documents(ctx)


@action("registration-card-number",
        "Ответ ЦКО с номером читательского билета: записать и сообщить читателю",
        personal=True)
def registration_card_number(ctx) -> dict:
    return record_card_number(ctx)


@action("registration-withdraw",
        "Читатель отзывает согласие на обработку ПД: уничтожить документы, сообщить "
        "библиотекарям", personal=True)
def registration_withdraw(ctx) -> dict:
    return withdraw(ctx)


@action("send-registration-forms",
        "Отправить читателю бланки регистрации (анкета, заявление, согласие) из templates/forms",
        responds=True)
def send_registration_forms(ctx) -> dict:
    why = ctx.refusal("бланки регистрации")
    if why:
        return {"result": f"не отправлено: {why}"}
    return send_forms(ctx)
