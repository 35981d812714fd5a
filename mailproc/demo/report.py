"""Runs the demo mailbox through the real intake, one message at a time, and prints for a
librarian what the system made of each: the rule, the folder, what every action did, the mail
it sent; then everything that landed in the ``file:`` outbox folder.

Messages are delivered one by one (as mail arrives) so the outgoing mail of each is known:
the outbox rows a pass created belong to the message that pass processed. After each pass the
steps the daemon runs after intake follow: send the outbox, put proposed answers into Drafts,
replace registration letters by copies without their documents.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from mailproc.registrations.common import vault_or_none
from mailproc.registrations.sealed import is_sealed_letter, letter_of, shown
from mailproc.store.models import Message

#: filing actions: shown once as the message's folder and keywords, not as actions
FILING = {"set-category", "move-to-folder", "add-keyword"}

STATES_RU = {
    # orders
    "new": "новый", "needs_details": "ждёт уточнений от читателя",
    "requested": "запрос отправлен в отдел", "photographed": "отдел сфотографировал",
    "sent_to_lod": "передан в ЛОД на сканирование", "received": "получен от отдела",
    "delivered": "отправлен читателю", "cannot_fulfil": "выполнить нельзя",
    "cancelled": "отменён", "overdue": "отдел задерживает ответ",
    # registrations
    "incomplete": "комплект неполный", "handed": "документы переданы в ЦКО",
    "card_issued": "читательский билет выдан", "withdrawn": "согласие отозвано",
    "rejected": "отклонено",
    # questions
    "answered": "ответ отправлен", "drafted": "черновик ответа ждёт библиотекаря",
    "routed": "передан в отдел",
}

KINDS_RU = {"form": "анкета", "application": "заявление", "consent": "согласие",
            "other": "другой документ"}


def _state(value) -> str:
    return STATES_RU.get(value, value or "")


def describe(result: dict) -> str:
    """One line, in Russian, for what one action did."""
    name, r = result.get("name", ""), result
    said = r.get("result", "")
    if name == "create-order":
        if r.get("reader_followup"):
            return f"письмо читателя по заказу {r.get('order')} ({_state(r.get('state'))})"
        if "order" not in r:
            return f"заказ не создан: {said}"
        return f"создан заказ {r['order']}: {_state(r.get('state'))}"
    if name == "match-order":
        if "order" not in r:
            return "не ответ по заказу: письмо ждёт библиотекаря"
        files = f", файлов: {r['files']}" if r.get("files") else ""
        return f"ответ по заказу {r['order']}: {_state(r.get('state'))}{files}"
    if name == "take-registration-documents":
        if not r.get("documents"):
            return "документов во вложениях нет"
        kinds = ", ".join(KINDS_RU.get(k, k) for k in r.get("kinds", []))
        missing = ", ".join(KINDS_RU.get(k, k) for k in r.get("missing", []))
        tail = f"; не хватает: {missing}" if missing else ""
        return (f"регистрация {r.get('registration')}: документов принято {r['documents']} "
                f"({kinds}), зашифрованы; {_state(r.get('state'))}{tail}")
    if name == "registration-card-number":
        return (f"регистрация {r.get('registration')}: номер читательского билета записан "
                f"(зашифрован) и сообщён читателю")
    if name == "registration-withdraw":
        cases = ", ".join(r.get("registrations") or []) or "регистраций нет"
        return f"отзыв согласия записан, документы уничтожены ({cases}); библиотекари уведомлены"
    if name in ("answer-question", "question-reply", "route-question"):
        case = f"вопрос {r['case']}: " if r.get("case") else ""
        return case + (said if said != "выполнено" else _state(r.get("state")))
    if name == "handle-bounce":
        return (f"недоставка: отключено адресов {r.get('suppressed', 0)} из "
                f"{r.get('recipients', 0)}, писать на них больше не будем")
    extra = ", ".join(f"{k}: {v}" for k, v in r.items() if k not in ("name", "result"))
    return f"{name}: {said}" + (f" ({extra})" if extra else "")


def outbox_rows(s, after: int) -> list:
    """The outbox rows after ``after``, in the caller's session (on SQLite every session
    takes the write lock, so a second one would wait for the first)."""
    from mailproc.outbound.models import OutboxMessage

    return list(s.scalars(select(OutboxMessage).options(
        selectinload(OutboxMessage.attachments)).where(OutboxMessage.id > after)
        .order_by(OutboxMessage.id)))


def last_outbox_id(app) -> int:
    from mailproc.outbound.models import OutboxMessage

    with app.db.session() as s:
        return s.scalar(select(func.max(OutboxMessage.id))) or 0


def after_intake(app, source) -> dict:
    """What the daemon does after an intake pass: send, Drafts, registration originals."""
    from mailproc.outbound.sender import deliver_due
    from mailproc.questions.drafts import append_pending
    from mailproc.registrations.originals import tidy

    sent = deliver_due(app, source)
    drafts = append_pending(app.db, source, app.settings)
    tidied = tidy(app, source)
    return {"sent": sent, "drafts": drafts, "originals": tidied.get("redacted", 0)}


def _to(row) -> str:
    return ", ".join(row.recipients) or "-"


def print_message(name: str, m: Message, sent: list, box=None) -> None:
    """One message and what it caused; registration mail's sealed row opened with ``box``."""
    print(name)
    print(f"  от          {m.from_addr or '-'}")
    print(f"  тема        {shown(m.subject, box) or '(без темы)'}")
    letter = letter_of(m, box) if box is not None or not is_sealed_letter(m.letter) else {}
    atts = letter.get("attachments", []) if letter else []
    if atts:
        print("  вложения    " + ", ".join(a["name"] or "(без имени)" for a in atts))
    if m.category == "review":
        print(f"  НА РАЗБОР   {m.folder}: {m.reason}")
    else:
        keywords = " ".join(m.keywords or [])
        print(f"  правило     «{m.rule}» → категория {m.category}, папка «{m.folder or 'INBOX'}»"
              + (f", метки {keywords}" if keywords else ""))
    for decision in m.decisions[-1:]:
        for result in decision.results or []:
            if result.get("name") not in FILING:
                print(f"  сделано     {describe(result)}")
    for row in sent:
        files = f" [вложений: {len(row.attachments)}]" if row.attachments else ""
        if row.state == "suppressed":
            print(f"  не послано  → {_to(row)}: адрес отключён (недоставки)")
            continue
        subject = row.subject or f"текст убран после отправки: {row.template}"  # registration
        print(f"  письмо      → {_to(row)}: «{subject}»{files}")


def outbox_folder_summary(folder: Path) -> list[str]:
    """Every file the ``file:`` transport wrote: recipient, subject, attachment names."""
    lines = []
    files = sorted(folder.glob("*.eml"), key=lambda p: int(p.stem)) if folder.is_dir() else []
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        names = [p.get_filename() or "(без имени)" for p in msg.iter_attachments()]
        lines.append(f"  {path.name:>7}  → {msg['To']}: «{msg['Subject']}»"
                     + (f" [{', '.join(names)}]" if names else ""))
    return lines


def run_and_report(app, samples: list[tuple[str, bytes]], notes=()) -> int:
    settings = app.settings
    print(f"mailproc demo: {len(samples)} писем из демонстрационного ящика "
          f"({settings.mailbox.url}), правила из {settings.paths.rules}")
    for note in notes:
        print(f"примечание: {note}")
    print()
    processed = review = drafts = originals = 0
    with app.source() as source:
        for name, raw in samples:
            before = last_outbox_id(app)
            uid = source.append("INBOX", raw)
            stats = app.intake(source).run_once()
            after = after_intake(app, source)
            processed, review = processed + stats.processed, review + stats.review
            drafts, originals = drafts + after["drafts"], originals + after["originals"]
            with app.db.session() as s:
                m = s.scalar(select(Message).options(selectinload(Message.decisions))
                             .where(Message.uid == uid))
                if m is None:
                    print(f"{name}\n  не обработано\n")
                    continue
                print_message(name, m, outbox_rows(s, before), vault_or_none(settings))
            if after["originals"]:
                print(f"  в ящике     письмо заменено копией без документов (строка с номером "
                      f"дела вместо каждого; документы — в защищённом хранилище)")
            print()
    outbox = settings.smtp.url.removeprefix("file:")
    print(f"Папка исходящих {outbox}:")
    print("\n".join(outbox_folder_summary(Path(outbox))) or "  (пусто)")
    print()
    print(f"обработано писем: {processed}, на разбор: {review}; черновиков ответов в папке "
          f"«{settings.mailbox.drafts_folder}»: {drafts}; писем с документами заменено в ящике "
          f"копиями без документов: {originals}")
    print(f"база данных: {settings.database.url}")
    return 0
