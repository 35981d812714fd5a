"""Sorting conditions for orders (pure: the letter and the facts only).

``order-request``: a reader's letter that reads as an order (pages with a title, a shelf mark
or a journal) or answers one of our order letters (an order token with its kind).
``order-reply``: a letter from a fund-holding department or the ЛОД duty that is about an
order: it carries an order token, or it brings photos/scans, or it says the item is missing or
passed to the ЛОД. ЦКО's and other departments' business is left to their own rules.
"""

from __future__ import annotations

import re

from mailproc.orders.matching import fresh_text, state_from_text
from mailproc.orders.parse import parse_request
from mailproc.sorting.registry import condition

_ASKS = re.compile(r"фрагмент|копи[юя]|скан|страниц|стр\.|с\.\s*\d", re.I)


def _order_token(facts) -> bool:
    return any(hit.kind == "o" for hit in facts.tokens)


def _fund_sender(letter, facts) -> bool:
    directory = facts.directory
    if directory is None:
        return False
    addr = letter.sender.email
    if directory.lod and addr == directory.lod:
        return True
    dept = directory.by_address(addr)
    return dept is not None and (bool(dept.funds) or dept.key in ("periodicals", "lod"))


def _is_staff(letter, facts) -> bool:
    directory = facts.directory
    return directory is not None and letter.sender.email in directory.staff_addresses()


@condition("order-request", "Письмо читателя похоже на заказ фрагмента или статьи "
           "(страницы и название, шифр или журнал) или отвечает на наше письмо о заказе")
def order_request(letter, facts) -> bool:
    if _is_staff(letter, facts):
        return False
    if _order_token(facts):
        return True
    req = parse_request(letter.subject, fresh_text(letter.text))
    if req.pages and (req.title or req.fund_code or req.journal):
        return True
    return bool(req.title and (req.fund_code or _ASKS.search(letter.text + letter.subject)))


@condition("order-reply", "Письмо отдела, хранящего фонд, или дежурного ЛОД о заказе: номер "
           "заказа, фото или скан, «нет в фонде», «передали в ЛОД»")
def order_reply(letter, facts) -> bool:
    if not _fund_sender(letter, facts):
        return False
    if facts.tokens:
        return _order_token(facts) or all(hit.kind in ("", "o") for hit in facts.tokens)
    if any(a.family in ("image", "pdf") for a in letter.all_attachments()):
        return True
    return bool(state_from_text(letter.text))
