"""The questions workflow's actions for rule files (registered in the sorting registry).

``answer-question``  a reader's question: open (or join) its case, then a ready answer, a
                     department or a librarian, and record information needs;
``route-question``   send the question to a named department (a rule that already knows);
``question-reply``   a letter in a question's thread: a department's answer is sent on to the
                     reader, a librarian's own answer closes the case; otherwise nothing;
``record-need``      only record information needs (2.9), e.g. from organisations' mail.
"""

from __future__ import annotations

from mailproc.letter.marks import is_automatic
from mailproc.questions import cases as C
from mailproc.questions import service
from mailproc.sorting.registry import action, condition


@condition("question-thread", "Письмо из переписки по вопросу читателя (номер вопроса в "
           "подписанном Message-ID или в служебной отметке)")
def question_thread(letter, facts) -> bool:
    """Pure: the signed Message-ID and the body marker carry the kind; a bare subject tag
    does not (orders share the token shape), so it is left to ``answer-question``."""
    return any(hit.kind == C.KIND for hit in facts.tokens)


@action("answer-question",
        "Вопрос читателя: готовый ответ (сразу или черновиком), передача в отдел или ждать "
        "библиотекаря; записать информационные потребности",
        {"route": "bool?", "needs": "bool?", "answer": "bool?"}, responds=True)
def answer_question(ctx, route=True, needs=True, answer=True) -> dict:
    return service.take_question(ctx, route=route, needs=needs, answer=answer)


@action("route-question", "Передать вопрос читателя в отдел (с номером вопроса)",
        {"department": "department"}, responds=True)
def route_question(ctx, department) -> dict:
    letter = ctx.letter
    if is_automatic(letter):
        return {"result": "автоматическое письмо: вопрос не заводится"}
    key = department if isinstance(department, str) else department.key
    found = C.find_case(ctx.session, letter, ctx.tokens)
    if found is not None:
        return service.take_reply(ctx, found)
    case = C.open_case(ctx.session, letter, ctx.message.id, ctx.now, ctx.settings.tz)
    out = service.route_case(ctx, case, key, "правило передачи в отдел")
    return {"case": case.token, **out, "state": case.state}


@action("question-reply",
        "Письмо в переписке по вопросу читателя: ответ отдела переслать читателю, ответ "
        "библиотекаря закрывает вопрос", responds=True)
def question_reply(ctx) -> dict:
    found = C.find_case(ctx.session, ctx.letter, ctx.tokens,
                        service.department_addresses(ctx))
    if found is None:
        return {"result": "не относится к вопросам читателей"}
    return service.take_reply(ctx, found)


@action("record-need", "Записать информационные потребности (что оцифровать, каких разделов "
        "и подписных ресурсов не хватает)")
def record_need(ctx) -> dict:
    book = service.answer_book(ctx.settings)
    return {"needs": service.record_needs(ctx, None, book)}
