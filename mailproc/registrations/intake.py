"""Taking registration documents from a reader's mail into the vault.

Runs as a sorting action in the message's transaction: every attachment is recognised,
checked, cleaned of EXIF and encrypted into the vault; then the case is either complete (and
goes to ЦКО at once) or the reader gets one answer naming exactly what is still missing. The
same transaction records that the letter is to be replaced in the mailbox by a copy without
its documents, which happens after the commit (mailproc.registrations.redaction).
"""

from __future__ import annotations

from sqlalchemy import event

from mailproc.letter.marks import is_automatic
from mailproc.registrations import cases, texts
from mailproc.registrations.common import outbox, vault
from mailproc.registrations.documents import (
    KIND_NAMES_RU,
    KIND_NAMES_RU_ACC,
    Readability,
    check_readable,
    classify,
    kinds_of,
    sanitize,
)
from mailproc.registrations.handoff import hand_off
from mailproc.registrations.models import RegistrationDocument
from mailproc.registrations.redaction import record_redaction
from mailproc.registrations.sealed import seal

ACCEPTED_FAMILIES = ("image", "pdf", "office")


def document_attachments(letter) -> list:
    """Attachments that may be documents: not signature logos inline in the HTML."""
    found = []
    for a in letter.all_attachments():
        if a.data is None or a.family not in ACCEPTED_FAMILIES:
            continue
        if a.inline and a.content_id and a.content_id.strip("<>") in (letter.html or ""):
            continue
        found.append(a)
    return found


def take_documents(ctx) -> dict:
    letter, session, settings, now = ctx.letter, ctx.session, ctx.settings, ctx.now
    if is_automatic(letter):  # a rule without "not: automatic" must not open a case
        return {"result": "автоматическое письмо: документы не принимаются"}
    files = document_attachments(letter)
    box = vault(settings)  # a missing key stops here, before anything is stored
    case = cases.find_case(session, getattr(ctx, "tokens", None), letter, box=box)
    if not files:
        return {"registration": case.token if case else None, "documents": 0}
    if case is None:
        case = cases.open_case(session, letter, now, settings.tz, box)
    cases.link_message(session, case, getattr(ctx, "message", None))
    required = cases.required_kinds(settings)
    held = {d.sha256 for d in case.documents if d.destroyed_at is None}
    fresh = []
    for a in files:
        if a.sha256 not in held:  # the same photo sent again is kept once
            held.add(a.sha256)
            fresh.append((a, _check(a)))
    words = texts.own_text(letter.subject + "\n" + letter.text)
    guesses = classify([(a.name, check.pages) for a, check in fresh], words,
                       have=cases.present_kinds(case))
    message_pk = ctx.message.id if getattr(ctx, "message", None) is not None else None
    written = _forget_on_rollback(session, box)
    added = []
    for position, ((a, check), (kinds, how)) in enumerate(zip(fresh, guesses)):
        clean, ctype = sanitize(a.data, a.family, a.type)
        doc = RegistrationDocument(
            case_id=case.id, message_pk=message_pk, position=position, kind=",".join(kinds),
            kind_how=how, name=seal(box, a.name), content_type=ctype, size=len(clean),
            sha256=a.sha256, pages=check.pages, readable=check.ok, problem=check.problem,
            received_at=now)
        session.add(doc)
        session.flush()
        doc.vault_path = box.put(f"{case.token}/{doc.id:06d}.bin", clean)
        written.append(doc.vault_path)
        cases.audit(session, case, "stored", at=now, document=doc,
                    detail=f"{doc.kind} ({how}), {len(clean)} bytes, readable={check.ok}",
                    reason="получено от читателя по почте")
        if "consent" in kinds and check.ok:
            cases.record_consent(session, settings, case, doc)
        added.append(doc)
    session.refresh(case, ["documents"])
    case.updated_at = now
    # the original goes out of the mailbox once this commits (mailproc.registrations.redaction)
    record_redaction(session, settings, case, getattr(ctx, "message", None), letter, now)
    missing = cases.missing_kinds(case, required)
    result = {"registration": case.token, "documents": len(added),
              "kinds": [d.kind for d in added]}
    if missing:
        cases.set_state(session, case, "incomplete", at=now,
                        reason="не хватает: " + ", ".join(missing))
        _tell_missing(ctx, case, missing, [d for d in added if not d.readable], box)
        result.update(state=case.state, missing=missing)
        return result
    cases.set_state(session, case, "complete", at=now, reason="все нужные документы получены")
    hand_off(ctx, case, box)
    result.update(state=case.state, missing=[])
    return result


def _check(a) -> Readability:
    if a.family == "office":
        return Readability(False, "пришлите, пожалуйста, фото или скан (изображение или PDF) "
                                  "подписанного документа")
    return check_readable(a.data, a.family)


def _forget_on_rollback(session, box) -> list[str]:
    """Vault files written in this transaction, destroyed again if it rolls back (the message
    then goes to review and is processed afresh), so no file outlives its row."""
    written: list[str] = []

    def destroy(_session) -> None:
        for relpath in written:
            box.destroy(relpath)
        written.clear()

    event.listen(session, "after_rollback", destroy, once=True)
    event.listen(session, "after_commit", lambda _s: written.clear(), once=True)
    return written


def _tell_missing(ctx, case, missing: list[str], unreadable: list, box) -> None:
    """One answer naming exactly what is missing; a kind sent but unreadable says why.
    (Automatic mail never gets here: take_documents refuses it first.)"""
    problems = {k: d.problem for d in unreadable for k in kinds_of(d.kind) if k in missing}
    named = [KIND_NAMES_RU[k] + (f" (присланный файл не читается: {problems[k]})"
                                 if k in problems else "") for k in missing]
    outbox(ctx, to=case.reader_email, template="reader/registration_missing",
           context={"reader_name": cases.address_form(cases.name_of(case, box)),
                    "missing": named,
                    "received": [KIND_NAMES_RU_ACC[k]
                                 for k in cases.ordered(cases.present_kinds(case))],
                    "forms_url": ctx.settings.registrations.forms_url},
           kind="reply", in_reply_to=ctx.letter, token=case.token, token_kind="r",
           auto_submitted="auto-replied", related=("registration", case.id),
           dedupe_key=f"registration-missing-{case.id}-{ctx.letter.content_hash[:16]}")
