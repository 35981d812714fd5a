"""The hand-off to ЦКО (instruction 2.10) and ЦКО's answer with the card number (2.11).

The documents leave the vault only in memory (a chunk at a time), as attachments of one outbox message to ЦКО's
responsible person, which carries the case token (kind "r") so the answer finds its case. The
answer is matched by that token, by the thread, or by the reader's full name; the card number
is kept encrypted and told to the reader with the card-number template.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from sqlalchemy import select, update

from mailproc.errors import MessageError
from mailproc.logs import about
from mailproc.registrations import cases, texts
from mailproc.registrations.common import attachment_name, cko_address, outbox, vault
from mailproc.registrations.documents import names_ru
from mailproc.registrations.models import RegistrationCase

log = logging.getLogger("mailproc.registrations")

HANDOFF_TEMPLATE = "cko/registration_handoff"
HANDOFF_REASON = "передача в ЦКО для регистрации читателя (инструкция 2.10)"


def hand_off(ctx, case: RegistrationCase, box=None) -> None:
    from mailproc.outbound.outbox import OutAttachment

    box = box or vault(ctx.settings)
    now = ctx.now
    to = cko_address(ctx)
    docs = [d for d in case.documents if d.readable and d.destroyed_at is None]
    attachments = []
    for index, doc in enumerate(docs, 1):
        # sealed with the vault's key till sent; moved from the vault chunk by chunk, so the
        # clear bytes are never whole in memory here
        attachments.append(OutAttachment(
            attachment_name(names_ru(doc.kind).capitalize(), index, doc.content_type),
            doc.content_type, None, sensitive=True,
            pieces=functools.partial(box.chunks, doc.vault_path), size=doc.size))
        cases.audit(ctx.session, case, "handed", at=now, document=doc, detail=f"to {to}",
                    reason=HANDOFF_REASON)
    row = outbox(ctx, to=to, template=HANDOFF_TEMPLATE,
                 context={"reader_name": cases.name_of(case, box) or case.reader_email,
                          "documents": [names_ru(d.kind) + (f" ({d.pages} стр.)"
                                                             if d.pages > 1 else "")
                                        for d in docs]},
                 kind="request", attachments=attachments, token=case.token, token_kind="r",
                 auto_submitted="auto-generated", related=("registration", case.id),
                 dedupe_key=f"registration-handoff-{case.id}")
    del attachments  # the clear bytes live no longer than this call
    if row is None:
        raise MessageError(f"регистрация {case.token}: адрес ЦКО {to} в списке подавления "
                           f"(недоставки); проверьте rules/departments.yaml и mailproc outbox "
                           f"suppressed")
    _no_sent_copy(ctx.session, case)
    case.handoff_message_id = getattr(row, "message_id", "") or ""
    case.purge_after = now + timedelta(seconds=ctx.settings.registrations.retention)
    cases.set_state(ctx.session, case, "handed", at=now, reason=HANDOFF_REASON)
    outbox(ctx, to=case.reader_email, template="reader/registration_received",
           context={"reader_name": cases.address_form(cases.name_of(case, box)),
                    "documents": cases.ru(cases.ordered(cases.present_kinds(case)))},
           kind="reply", in_reply_to=getattr(ctx, "letter", None), token=case.token,
           token_kind="r", auto_submitted="auto-replied", related=("registration", case.id),
           dedupe_key=f"registration-received-{case.id}")
    log.info("registration case %s handed to CKO with %d documents", case.token, len(docs),
             extra=about(case=case.token))


def _no_sent_copy(session, case: RegistrationCase) -> None:
    """The hand-off carries the documents in clear: a copy in the shared mailbox's Sent folder
    would put them back in every librarian's mail client, which removing the originals is
    meant to prevent. Marking its rows (all parts) as copied makes the sender skip the copy.
    (Even if one were made, the outbox leaves sensitive attachments out of Sent copies.)"""
    from mailproc.outbound.models import OutboxMessage

    session.flush()
    session.execute(update(OutboxMessage).where(
        OutboxMessage.related_type == "registration", OutboxMessage.related_id == case.id,
        OutboxMessage.template == HANDOFF_TEMPLATE).values(copied=True)
        .execution_options(synchronize_session="fetch"))


def find_handed_case(session, tokens, letter, box) -> RegistrationCase | None:
    """The case ЦКО answers: by token, by thread (our hand-off's Message-ID), by name (the
    handed cases' names opened with the vault key ``box``)."""
    handed = ("handed",)
    case = cases.find_case_by_token(session, tokens, letter, handed)
    if case is not None:
        return case
    thread = {letter.in_reply_to, *letter.references} - {""}
    if thread:
        case = session.scalar(select(RegistrationCase).where(
            RegistrationCase.handoff_message_id.in_(thread),
            RegistrationCase.state.in_(handed)))
        if case is not None:
            return case
    own = texts.own_text(letter.text)
    matches = [c for c in session.scalars(select(RegistrationCase).where(
        RegistrationCase.state.in_(handed))) if c.reader_name and texts.name_in_text(
        cases.name_of(c, box), own)]
    return matches[0] if len(matches) == 1 else None


def record_card_number(ctx) -> dict:
    letter, session, now = ctx.letter, ctx.session, ctx.now
    box = vault(ctx.settings)
    case = find_handed_case(session, getattr(ctx, "tokens", None), letter, box)
    if case is None:
        raise MessageError("ответ ЦКО не удалось связать с регистрацией: нет номера дела "
                           "[НБ ГГГГ-NNNNN] и ФИО читателя не найдено среди переданных в ЦКО")
    number = texts.card_number(letter.text)
    if not number:
        raise MessageError(f"ответ ЦКО по регистрации {case.token}: не найден номер "
                           f"читательского билета; внесите его вручную")
    box = vault(ctx.settings)
    cases.link_message(session, case, getattr(ctx, "message", None))  # names the reader
    case.card_number_enc = box.encrypt_text(number)
    cases.audit(session, case, "card-number", at=now, actor=letter.sender.email,
                reason="номер читательского билета получен от ЦКО (инструкция 2.11)")
    cases.set_state(session, case, "card_issued", at=now, reason="ЦКО выдал читательский билет")
    outbox(ctx, to=case.reader_email, template="reader/card_issued",
           context={"reader_name": cases.address_form(cases.name_of(case, box)),
                    "card_number": number},
           kind="notice", token=case.token, token_kind="r", auto_submitted="auto-generated",
           related=("registration", case.id), dedupe_key=f"registration-card-{case.id}")
    cases.audit(session, case, "card-number-sent", at=now, detail="to the reader",
                reason="сообщение читателю номера ЧБ (инструкция 2.11)")
    log.info("registration case %s: card number recorded (encrypted), reader told",
             case.token, extra=about(case=case.token))
    return {"registration": case.token, "state": case.state}
