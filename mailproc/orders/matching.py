"""Which order a department's reply belongs to: a pure function over the reply's facts and
the candidate orders, returning the order with the evidence, or "ambiguous", or "none".

Evidence, strongest first:

1. **thread**: In-Reply-To/References names a Message-ID we sent about the order
   (RFC 5322 3.6.4); we keep every such ID, so this needs no signature;
2. **signed token**: a Message-ID of ours whose HMAC checks, seen in the thread headers;
3. **subject tag** ``[НБ 2026-00042]`` or **body marker**: anyone can type these, so they
   count only when the sender is the order's own department or the ЛОД duty;
4. **words**: with no token at all, the open orders of the sender's department are compared
   by title, author, shelf mark and page words in the text and attachment names. Only words
   that point at exactly one candidate count; two orders named, or none, is "ambiguous" and a
   librarian picks.

A spoofed reply (right tag, wrong sender) therefore finds nothing and never reaches a reader.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailproc.orders.parse import PAGES_RE, SHELF_RE, parse_pages
from mailproc.orders.states import AWAITING_DEPARTMENT
from mailproc.tokens import TokenHit

SHOWN = 8  # candidate tokens named in a review reason
_WORD = re.compile(r"[0-9a-zа-я]+")
#: words too common in titles and replies to tell orders apart
STOP = frozenset("""книга книги книгу сборник статья статьи журнал газета история истории
том часть выпуск издание якутск москва наука фото скан сканы страницы страниц заказ заказу
здравствуйте добрый день высылаем отправляем пожалуйста спасибо уважением""".split())


def stems(text: str) -> set[str]:
    """Crude Russian stems: lower case, ё as е, words of 4+ letters cut to 5 letters."""
    out = set()
    for w in _WORD.findall(text.lower().replace("ё", "е")):
        if len(w) >= 4 and w not in STOP and not w.isdigit() or (w.isdigit() and len(w) == 4):
            out.add(w[:5])
    return out


def page_words(text: str) -> set[str]:
    """Page ranges written in the text, normalised: "с. 15–27" -> "pp:15-27"."""
    return {"pp:" + parse_pages(m.group(1))[0] for m in PAGES_RE.finditer(text)}


def order_words(*, title: str, author: str, journal: str = "", shelf_mark: str = "",
                pages: str = "") -> frozenset[str]:
    words = stems(f"{title} {author} {journal}")
    if shelf_mark:
        words.add("shelf:" + "".join(shelf_mark.lower().split()))
    if pages:
        words.add("pp:" + pages)
    return frozenset(words)


def reply_words(*, subject: str, text: str, attachment_names: Iterable[str]) -> frozenset[str]:
    names = " ".join(attachment_names)
    whole = f"{subject}\n{text}\n{names}"
    words = stems(whole) | page_words(whole)
    words |= {"shelf:" + "".join(m.lower().split()) for m in _shelf_marks(whole)}
    return frozenset(words)


def _shelf_marks(text: str) -> list[str]:
    return [m.group(1) for m in SHELF_RE.finditer(text)]


@dataclass(frozen=True)
class OrderView:
    """What the matcher needs to know of an order."""

    token: str
    state: str
    department: str
    department_addresses: frozenset[str]
    words: frozenset[str] = frozenset()
    ref_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReplyFacts:
    sender: str  # lower-case address
    sender_department: str  # department key of the sender, "" when none
    is_lod: bool  # the sender is the ЛОД duty
    thread_ids: tuple[str, ...]  # In-Reply-To first, then References newest first
    tokens: tuple[TokenHit, ...]  # as Tokens.find_in_letter returns them
    words: frozenset[str] = frozenset()


@dataclass
class Match:
    outcome: str  # "match" | "ambiguous" | "none"
    token: str = ""
    how: str = ""  # "thread", "signed-token", "subject", "marker", "words"
    candidates: tuple[str, ...] = ()
    evidence: list[str] = field(default_factory=list)
    refused_tokens: tuple[str, ...] = ()  # tags seen from a sender who may not use them

    def reason(self) -> str:
        """One English line for the review list."""
        if self.outcome == "ambiguous":
            named = ", ".join(self.candidates[:SHOWN])
            more = len(self.candidates) - SHOWN
            return ("several orders fit: " + named + (f" and {more} more" if more > 0 else "")
                    + "; choose with: mailproc orders match MESSAGE_ID TOKEN")
        if self.outcome == "none":
            why = "; ".join(self.evidence) or "no token, no thread header, no open order fits"
            return f"department reply matches no open order ({why})"
        return f"order {self.token} by {self.how}"


def _allowed_sender(reply: ReplyFacts, order: OrderView) -> bool:
    return reply.is_lod or reply.sender in order.department_addresses


def match_reply(reply: ReplyFacts, orders: Sequence[OrderView]) -> Match:
    by_token = {o.token: o for o in orders}
    evidence: list[str] = []
    by_ref = {ref: o for o in orders for ref in o.ref_ids}
    for mid in reply.thread_ids:
        order = by_ref.get(mid)
        if order is not None:
            return Match("match", order.token, "thread", (order.token,),
                         [f"replies to our message {mid}"])
    for hit in reply.tokens:
        order = by_token.get(hit.token)
        if order is None or hit.kind not in ("", "o"):
            continue
        if hit.how == "message-id":
            return Match("match", order.token, "signed-token", (order.token,),
                         [f"signed token {hit.token} in the thread headers"])
        if _allowed_sender(reply, order):
            return Match("match", order.token, hit.how, (order.token,),
                         [f"{hit.how} token {hit.token} from the order's department"])
        evidence.append(f"{hit.how} token {hit.token} ignored: the sender is not the "
                        f"department the order went to")
    if evidence:
        return Match("none", evidence=evidence,
                     refused_tokens=tuple(h.token for h in reply.tokens if h.how != "message-id"))
    return _match_by_words(reply, [o for o in orders if o.state in AWAITING_DEPARTMENT
                                   and (reply.is_lod or o.department == reply.sender_department)])


def _match_by_words(reply: ReplyFacts, candidates: list[OrderView]) -> Match:
    if not candidates:
        return Match("none", evidence=["no open order for the sender's department"])
    df = Counter(w for o in candidates for w in o.words & reply.words)
    unique = {o.token: sorted(w for w in o.words & reply.words if df[w] == 1)
              for o in candidates}
    named = [t for t, words in unique.items() if words]
    if len(named) == 1:
        token = named[0]
        return Match("match", token, "words", (token,),
                     [f"words only order {token} has: {', '.join(unique[token])}"])
    if named:
        return Match("ambiguous", candidates=tuple(sorted(named)),
                     evidence=["the text names several open orders"])
    shared = sorted(o.token for o in candidates if o.words & reply.words)
    return Match("ambiguous", candidates=tuple(shared or sorted(o.token for o in candidates)),
                 evidence=["no word in the reply tells the open orders apart"])


#: replies without files that change an order's state; checked on the reply's own text only
_MISSING = re.compile(r"нет в фонде|не найден|не нашли|отсутству|утерян|списан|"
                      r"не можем (?:выполнить|найти)|невозможно выполнить|на руках у читател", re.I)
_TO_LOD = re.compile(r"переда(?:л[иа]?|н[аоы]?|ем|ли|ём)\s+(?:\w+\s+)?(?:в|на)\s+(?:ЛОД|оцифровк|сканирован)"
                     r"|нуж(?:ен|но|на)\s+скан|требуется\s+скан|отправил[иа]?\s+в\s+ЛОД", re.I)
_QUOTE_START = re.compile(
    r"^\s*>|^-{2,}\s*(?:Original Message|Исходное сообщение|Пересылаемое сообщение)"
    r"|^.{0,120}(?:пишет|написал\(а\)|написал|wrote)\s*:\s*$|^mailproc-case:", re.I | re.M)


def fresh_text(text: str) -> str:
    """The reply's own words: everything before the first quoted line or quote header."""
    m = _QUOTE_START.search(text)
    return text[:m.start()] if m else text


def state_from_text(text: str) -> str:
    """"cannot_fulfil", "sent_to_lod" or "" for a reply that carries no files."""
    own = fresh_text(text)
    if _MISSING.search(own):
        return "cannot_fulfil"
    if _TO_LOD.search(own):
        return "sent_to_lod"
    return ""
