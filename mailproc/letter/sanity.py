"""Letters mailproc refuses to act on, whatever the rules say: the review reason, or "".

* No header field at all (RFC 5322 section 3.6 requires at least From and Date): whatever
  arrived is not a mail message a rule could be sure of.
* Text no database can keep: NUL (U+0000) or a lone surrogate in any text the letter's
  rows are made of (subject, addresses and names, Message-ID and references, the text,
  forwarded letters). A subject ``=?x-evil?B?AAAA?=`` decodes to NULs.
  mailproc.store.storable replaces them on their way to PostgreSQL so that the review row
  can be written; the letter itself goes to review, on SQLite as on PostgreSQL, instead of
  being processed with text that is not what was sent. Attachment names are not checked:
  no name is ever used as written (mailproc.outbound.filenames rebuilds every name that
  leaves, NUL and other controls dropped), and a hostile name must not keep a department's
  scans from the reader (issue 17).
"""

from __future__ import annotations

from collections.abc import Iterator

from mailproc.letter.model import Letter
from mailproc.store.storable import unstorable

NO_HEADERS = ("в письме нет ни одного заголовка (ни From, ни Date, ни Subject): это не "
              "почтовое сообщение или оно повреждено")


def refusal(letter: Letter) -> str:
    """Why ``letter`` must go to review before any rule sees it; "" when it need not."""
    if not letter.headers:
        return NO_HEADERS
    bad = sorted({where for where, text in _texts(letter) if text and unstorable(text)},
                 key=_ORDER.index)
    if bad:
        return ("в письме есть символы, которые нельзя сохранить в базе данных (NUL, U+0000, "
                f"или одиночный суррогат UTF-16): {', '.join(bad)}; письмо не обработано")
    return ""


_ORDER = ["тема", "адрес или имя отправителя", "адреса получателей", "Message-ID",
          "In-Reply-To или References", "текст"]


def _texts(letter: Letter) -> Iterator[tuple[str, str]]:
    yield "тема", letter.subject
    yield "адрес или имя отправителя", letter.sender.email
    yield "адрес или имя отправителя", letter.sender.name
    for a in (*letter.to, *letter.cc, *letter.reply_to):
        yield "адреса получателей", a.email
        yield "адреса получателей", a.name
    yield "Message-ID", letter.message_id
    yield "In-Reply-To или References", letter.in_reply_to
    for ref in letter.references:
        yield "In-Reply-To или References", ref
    yield "текст", letter.text
    for inner in letter.forwarded:
        yield from _texts(inner)
