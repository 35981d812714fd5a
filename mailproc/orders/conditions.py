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
from mailproc.orders.parse import journal_of, pages_of, shelf_of, title_of
from mailproc.sorting.conditions import folded_words
from mailproc.sorting.registry import condition
from mailproc.sorting.text import Needles

#: what a title or pages cannot do without (parse.py): a digit, an opening quote, an initial
#: («Г.», _CATALOGUE) or the words «название»/«заглавие» (_TITLE_LABEL, re.I)
_MAY_CITE = re.compile(r'[\d«"“„]|[А-ЯЁ]\.')
_TITLE_WORDS = Needles("названи", "заглави", ignorecase=True)
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
    """The sender is a department, the ЛОД duty or ЦКО (Directory.staff_addresses, without
    building that set for every letter: its addresses are all lower case)."""
    directory = facts.directory
    if directory is None:
        return False
    addr = letter.sender.email
    if addr != addr.lower():
        return addr in directory.staff_addresses()
    if directory.by_address(addr) is not None:
        return True
    if directory.lod and addr == directory.lod.lower():
        return True
    return bool(directory.cko) and addr == directory.cko.address.lower()


@condition("order-request", "Письмо читателя похоже на заказ фрагмента или статьи "
           "(страницы и название, шифр или журнал) или отвечает на наше письмо о заказе")
def order_request(letter, facts) -> bool:
    if _is_staff(letter, facts):
        return False
    if _order_token(facts):
        return True
    subject, text = letter.subject, letter.text
    if not (_MAY_CITE.search(subject) or _MAY_CITE.search(text)
            or _TITLE_WORDS.in_(folded_words(letter, facts))):
        return False  # no title and no pages can be read: most letters stop here
    # parse_request's answer to "pages and (title or fund or journal), or title and (fund or
    # asks for a copy)", reading only the parts that decide it, the cheap ones first
    whole = f"{letter.subject}\n{fresh_text(letter.text)}"
    journal = journal_of(whole)
    journal = journal.group(1).strip() if journal else ""
    title, _author = title_of(whole, journal)
    if title:
        if shelf_of(whole)[1] or pages_of(whole)[0]:
            return True
        return bool(_ASKS.search(letter.text + letter.subject))
    return bool(pages_of(whole)[0]) and bool(journal or shelf_of(whole)[1])


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
