"""Unsubscribing: by the List-Unsubscribe mailto (RFC 2369), by one-click (RFC 8058) through
a token, or by a reply saying "отписаться". Recognising is pure; applying writes.

Every mailing carries ``List-Unsubscribe: <mailto:MAILBOX?subject=unsubscribe%20TOKEN>``
(``outreach.listheaders``), and the HTTPS one-click link when a public address is set
(``outreach.oneclick``). TOKEN is signed (``outreach.listtoken``: contact and list), so
nobody can unsubscribe someone else; the older token, an HMAC of the recipient's address,
is still recognised for mail sent before it. Unsubscribing from one mailing withdraws the
consent to all of them (the reader asked us to stop writing; 38-ФЗ art. 18); the list it came
from is recorded. A withdrawal is recorded as a consent event with how it came, and the
contact gets one confirmation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.outreach.importer import withdraw_consent
from mailproc.outreach.listtoken import PATTERN as TOKEN_PATTERN
from mailproc.outreach.listtoken import verify_token
from mailproc.outreach.models import Contact, MailingDelivery

log = logging.getLogger("mailproc.outreach")

CONFIRMATION_TEMPLATE = "mailing/unsubscribed"
_MAILTO_SUBJECT = re.compile(
    rf"^\s*(?:re:\s*)?unsubscribe\s+(?P<token>{TOKEN_PATTERN}|[0-9a-f]{{20}})\s*$", re.I)
_WORDS = re.compile(r"\b(отписаться|отпишите|отписываюсь|отпишитесь|unsubscribe|"
                    r"исключите\s+(меня\s+)?из\s+рассылки|не\s+присылайте|"
                    r"больше\s+не\s+(присылать|присылайте|писать|пишите))\b", re.I)
_QUOTE_START = re.compile(r"^(>|-{2,}\s*(original|исходное|пересылаемое)|.*\b(пишет|wrote)\s*:\s*$"
                          r"|от:|from:)", re.I)


@dataclass(frozen=True)
class UnsubscribeRequest:
    how: str  # "mailto" or "reply"
    token: str = ""
    thread: tuple[str, ...] = ()  # In-Reply-To and References, to find the mailing


def own_words(text: str, limit: int = 15) -> str:
    """What the sender wrote above the quoted mailing (a reply quotes our text, which itself
    tells how to unsubscribe: that must not count)."""
    lines: list[str] = []
    for line in (text or "").splitlines():
        if _QUOTE_START.match(line.strip()):
            break
        if line.strip():
            lines.append(line.strip())
        if len(lines) >= limit:
            break
    return "\n".join(lines)


def recognise(letter) -> UnsubscribeRequest | None:
    """An unsubscribe request, or None. Pure."""
    thread = tuple(m for m in [letter.in_reply_to, *letter.references] if m)
    m = _MAILTO_SUBJECT.match(letter.subject or "")
    if m:
        return UnsubscribeRequest("mailto", m.group("token").lower(), thread)
    words = own_words(letter.text)
    if _WORDS.search(words) or (_WORDS.search(letter.subject or "") and len(words) < 200):
        return UnsubscribeRequest("reply", "", thread)
    return None


def token_for(settings, address: str) -> str:
    from mailproc.outbound.outbox import unsubscribe_token

    return unsubscribe_token(settings, address)


def find_contact(session: Session, settings, request: UnsubscribeRequest,
                 sender: str) -> Contact | None:
    """Whose request: the token's owner, else the recipient of the mailing replied to, else
    the sender's address."""
    signed = verify_token(settings, request.token) if request.token else None
    if signed is not None:
        return session.get(Contact, signed.contact_id)
    if "." in request.token:
        return None  # a signed token that does not verify: forged or altered
    if request.token:
        by_sender = session.scalar(select(Contact).where(Contact.email == sender.lower()))
        if by_sender is not None and token_for(settings, by_sender.email) == request.token:
            return by_sender
        for contact in session.scalars(select(Contact)):  # forwarded from another address
            if token_for(settings, contact.email) == request.token:
                return contact
        return None
    if request.thread:
        delivery = session.scalar(select(MailingDelivery).where(
            MailingDelivery.message_id.in_(list(request.thread))).limit(1))
        if delivery is not None:
            return session.get(Contact, delivery.contact_id)
    return session.scalar(select(Contact).where(Contact.email == sender.lower()))


def unsubscribe(session: Session, settings, contact: Contact, how: str, now: datetime,
                confirm: bool = True, dedupe: str = "") -> bool:
    """Withdraw consent and unsubscribe; queue one confirmation. False when already done."""
    if contact.unsubscribed_at is not None:
        return False
    withdraw_consent(session, contact, how, now, unsubscribe=True)
    for d in session.scalars(select(MailingDelivery).where(
            MailingDelivery.contact_id == contact.id, MailingDelivery.status == "planned")):
        d.status, d.reason = "skipped", "отписался"
    if confirm:
        from mailproc.outbound.outbox import enqueue

        enqueue(session, settings, to=contact.email, template=CONFIRMATION_TEMPLATE,
                context={"contact": {"name": contact.name, "email": contact.email},
                         "how": how}, kind="notice", auto_submitted="auto-replied",
                related=("contact", contact.id),
                dedupe_key=f"unsubscribed:{contact.id}:{dedupe or now.isoformat()}")
    log.info("contact %s unsubscribed", contact.id)
    return True


def unsubscribe_by_token(session: Session, settings, token: str, now: datetime,
                         how: str = "одним щелчком (RFC 8058)") -> Contact | None:
    """For a one-click web handler: POST with the token from List-Unsubscribe. None when
    the token names nobody (forged, altered, or the contact was deleted)."""
    token = token.strip().lower()
    contact = find_contact(session, settings, UnsubscribeRequest("one-click", token), "")
    if contact is not None:
        signed = verify_token(settings, token)
        if signed is not None:
            how = f"{how}, рассылка «{signed.mailing}»"
        unsubscribe(session, settings, contact, how, now, dedupe=f"token:{token}")
    return contact
