"""The shipped rules hand each kind of mail to the right domain action, in the right order:
case replies before the generic department rule, registration before orders and questions,
questions last. Pure deciding (rules/ as shipped, offline facts), no database."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from mailproc.letter import decode_letter
from mailproc.sorting.evaluate import decide
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.loader import load_rules
from mailproc.tokens import Tokens

ROOT = Path(__file__).resolve().parents[2]
TOKENS = Tokens(b"shipped-rules-key", "nlrs.ru")
JPEG = b"\xff\xd8\xff\xe0" + bytes(2000)


@pytest.fixture(scope="module")
def ruleset():
    return load_rules(ROOT / "rules", templates_dir=ROOT / "templates")


def letter(sender: str, subject: str, text: str, *, in_reply_to: str = "", photos: int = 0):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "personbibl@nlrs.ru", subject
    m["Message-ID"] = "<t1@example.org>"
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    m.set_content(text)
    for n in range(photos):
        m.add_attachment(JPEG, maintype="image", subtype="jpeg", filename=f"IMG_{n}.jpg")
    return decode_letter(bytes(m))


def sorted_by(ruleset, got) -> tuple[str, str]:
    """(the deciding rule, the one domain action it runs)."""
    decision = decide(ruleset, got, offline_facts(got, TOKENS))
    domain = [a.name for a in decision.actions
              if a.name not in ("set-category", "move-to-folder", "add-keyword")]
    return decision.rule, ",".join(domain)


QUESTION_MAIL = TOKENS.message_id("2026-00010", "q")
REGISTRATION_MAIL = TOKENS.message_id("2026-00011", "r")
ORDER_MAIL = TOKENS.message_id("2026-00012", "o")


@pytest.mark.parametrize("sender, subject, text, kw, rule, action", [
    # a department answers a routed question: forwarded, not left in «Ответы отделов»
    ("regbib@nlrs.example", "Re: вопрос", "Нашли две статьи.", {"in_reply_to": QUESTION_MAIL},
     "Ответы отделов по вопросам читателей", "question-reply"),
    # ...and with only the subject tag: the generic department rule still forwards it
    ("bo@nlrs.example", "Re: вопрос [НБ 2026-00010]", "Список во вложении.", {"photos": 1},
     "Ответы отделов", "question-reply"),
    # ЦКО's answer to the hand-off, and ЦКО's answer to a routed technical question
    ("cko-registration@nlrs.example", "Re: документы", "Номер читательского билета 1234567.",
     {"in_reply_to": REGISTRATION_MAIL}, "Номер читательского билета от ЦКО",
     "registration-card-number"),
    ("cko@nlrs.example", "Re: пароль", "Пароль сброшен.", {"in_reply_to": QUESTION_MAIL},
     "Ответы отделов по вопросам читателей", "question-reply"),
    # the fund answers an order with photos
    ("storage@nlrs.example", "фото", "Высылаем.", {"in_reply_to": ORDER_MAIL, "photos": 2},
     "Ответы отделов по заказам", "match-order"),
    # a reader answers our "how to register" in the question's thread with the documents
    ("reader@example.org", "Re: Регистрация", "Отправляю анкету и согласие.",
     {"in_reply_to": QUESTION_MAIL, "photos": 2}, "Регистрационные документы",
     "take-registration-documents"),
    # ...or asks for the forms it mentions
    ("reader@example.org", "Re: Регистрация", "Пришлите, пожалуйста, бланки.",
     {"in_reply_to": QUESTION_MAIL}, "Просьба прислать бланки регистрации",
     "send-registration-forms"),
    # the missing consent, as a reply to our registration letter, with no words at all
    ("reader@example.org", "Re: письмо", "", {"in_reply_to": REGISTRATION_MAIL, "photos": 1},
     "Регистрационные документы", "take-registration-documents"),
    ("reader@example.org", "Re: письмо", "А когда будет номер билета?",
     {"in_reply_to": REGISTRATION_MAIL}, "Переписка по регистрации", ""),
    ("reader@example.org", "Персональные данные", "Отзываю согласие на обработку моих "
     "персональных данных.", {}, "Отзыв согласия на обработку ПД", "registration-withdraw"),
    ("reader@example.org", "Заказ", "Пришлите, пожалуйста, с. 10-12 из книги «Якутские "
     "сказки», шифр КХ2 84.", {}, "Заказы фрагментов от читателей", "create-order"),
    # a reader's follow-up in a question's thread joins the question (no automatic answer)
    ("reader@example.org", "Re: вопрос", "Спасибо! А можно ещё?",
     {"in_reply_to": QUESTION_MAIL}, "Вопросы читателей", "answer-question"),
])
def test_each_kind_of_mail_reaches_its_action(ruleset, sender, subject, text, kw, rule, action):
    assert sorted_by(ruleset, letter(sender, subject, text, **kw)) == (rule, action)
