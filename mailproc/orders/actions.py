"""Sorting actions for orders: ``create-order`` for a reader's request, ``order-reply`` for a
department's or the ЛОД duty's answer. Both run in the message's transaction; a MessageError
sends the message to review with its reason and undoes everything the action did.

Automatic mail (RFC 3834 auto-replies, bounces) never creates or changes an order.
"""

from __future__ import annotations

from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.keywords import ORDER
from mailproc.letter.marks import is_automatic
from mailproc.orders import conditions  # noqa: F401 - registers order-request, order-reply
from mailproc.orders import states as st
from mailproc.orders.matching import fresh_text
from mailproc.orders.models import Order
from mailproc.orders.parse import ParsedRequest, missing_fields, parse_request
from mailproc.orders.replies import handle_reply
from mailproc.orders.service import OrderEnv, create_order, index_words, record, submit
from mailproc.sorting.registry import action

_FILLABLE = ("author", "title", "year", "shelf_mark", "fund_code", "journal", "issue", "pages",
             "pages_count", "book_pages")


def _automatic(letter) -> str:
    if is_automatic(letter):
        return "automatic mail never creates or changes an order"
    return ""


@action("create-order", "Создать заказ фрагмента или статьи из письма читателя")
def create_order_action(ctx) -> dict:
    why = _automatic(ctx.letter)
    if why:
        return {"result": why}
    env = OrderEnv.from_ctx(ctx)
    letter = ctx.letter
    known = _known_order(env, letter)
    if known is not None:
        if known.state == st.NEEDS_DETAILS:
            _within_limit(ctx)
            return _complete_details(env, known, letter)
        return {"order": known.token, "state": known.state, "reader_followup": True}
    _within_limit(ctx)
    reader = letter.reply_to[0] if letter.reply_to else letter.sender
    req = parse_request(letter.subject, fresh_text(letter.text))
    order = create_order(env, req, reader_email=reader.email, reader_name=reader.name,
                         reader_message_id=letter.message_id, reader_subject=letter.subject)
    result = submit(env, order, in_reply_to=letter)
    ctx.keywords.append(ORDER.keyword)
    return result


def _within_limit(ctx) -> None:
    """An order sends mail (the request to the department, or a question to the reader):
    past ``rules.responses_per_sender`` nothing is half done, the letter goes to review."""
    why = ctx.refusal("заказ: запрос в отдел или письмо читателю")
    if why:
        raise MessageError(f"{why} достигнут: заказ не создан, в отдел ничего не ушло; "
                           f"разберите письмо завтра (mailproc review retry) или создайте "
                           f"заказ вручную (mailproc orders create)")


def _known_order(env: OrderEnv, letter) -> Order | None:
    """The reader's own order this letter answers (it carries the order's token).

    A token with the order kind (signed Message-ID, body marker) of someone else's order is a
    forgery or a mix-up: review. A bare subject tag may be another kind of case (tokens of
    registrations and questions look the same), so it alone is not held against the letter.
    """
    hits = env.tokens.find_in_letter(letter)
    if not hits:
        return None
    orders = list(env.session.scalars(select(Order).where(
        Order.token.in_({h.token for h in hits}))))
    sender = letter.sender.email.lower()
    mine = [o for o in orders if o.reader_email == sender]
    if mine:
        return mine[0]
    foreign = sorted({h.token for h in hits if h.kind == "o"} & {o.token for o in orders})
    if foreign:
        raise MessageError(f"letter carries the token of order {', '.join(foreign)}, which "
                           f"belongs to another reader; not treated as an order")
    return None


def _complete_details(env: OrderEnv, order: Order, letter) -> dict:
    """Fill what was missing from the reader's answer, then try again."""
    more = parse_request(letter.subject, fresh_text(letter.text))
    for name in _FILLABLE:
        if not getattr(order, name) and getattr(more, name):
            setattr(order, name, getattr(more, name))
    if more.kind == "article":
        order.kind = "article"
    merged = ParsedRequest(**{n: getattr(order, n) for n in _FILLABLE}, kind=order.kind)
    order.missing = ",".join(missing_fields(merged))
    index_words(env.session, order)
    record(env, order, "reader-answered", note=f"still missing: {order.missing}"
           if order.missing else "")
    return submit(env, order, in_reply_to=letter)


@action("match-order", "Ответ отдела или ЛОД по заказу: найти заказ, проверить и переслать "
        "фото или скан читателю")
def order_reply_action(ctx) -> dict:
    why = _automatic(ctx.letter)
    if why:
        return {"result": why}
    result = handle_reply(OrderEnv.from_ctx(ctx), ctx.letter)
    folder = result.pop("folder", "")
    if folder:
        ctx.folder = folder
    return result
