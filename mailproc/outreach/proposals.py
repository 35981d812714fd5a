"""Staff lists that arrive by mail become proposed imports a librarian confirms.

An organisation's responsible person mails a list of staff (XLSX/CSV attached, or a table in
the body). Nothing enters the contact base unseen: the parsed rows wait in
``pending_imports`` until ``mailproc contacts confirm ID``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailproc.errors import MailprocError
from mailproc.outreach.columns import parse_map
from mailproc.outreach.importer import ApplyReport, ParsedImport, apply_import, parse_table
from mailproc.outreach.limits import TableLimits
from mailproc.outreach.models import PendingImport
from mailproc.outreach.tables import html_table, read_table, text_table

TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv")


def table_attachments(letter) -> list:
    return [a for a in letter.all_attachments()
            if a.name.lower().endswith(TABLE_SUFFIXES) and a.data is not None]


def has_table(letter) -> bool:
    """Pure: an XLSX/CSV attachment or a table of at least a header and a row in the body."""
    if any(a.name.lower().endswith(TABLE_SUFFIXES) for a in letter.all_attachments()):
        return True
    return bool(text_table(letter.text) or (letter.html and len(html_table(letter.html)) >= 2))


def parse_letter(letter, settings) -> tuple[str, ParsedImport]:
    """(origin, parsed rows) of the best table in the letter; raises MailprocError if none."""
    explicit = parse_map(settings.outreach.column_map)
    best: tuple[str, ParsedImport] | None = None
    limits = TableLimits.from_settings(settings)
    candidates = [(f"вложение «{a.name}»", read_table(a.name, a.data, limits).rows)
                  for a in table_attachments(letter)]
    if letter.html:
        candidates.append(("таблица в письме", iter(html_table(letter.html))))
    candidates.append(("таблица в тексте письма", iter(text_table(letter.text))))
    for origin, rows in candidates:
        parsed = parse_table(rows, explicit)
        if parsed.header_row and (best is None or len(parsed.contacts) > len(best[1].contacts)):
            best = (origin, parsed)
    if best is None or not best[1].contacts:
        raise MailprocError("в письме нет таблицы с ФИО и адресами электронной почты")
    return best


def propose(session: Session, settings, letter, message_pk: int | None) -> PendingImport:
    origin, parsed = parse_letter(letter, settings)
    row = PendingImport(message_pk=message_pk, from_addr=letter.sender.email, origin=origin,
                        rows=parsed.records(), skipped=[list(x) for x in parsed.skipped])
    session.add(row)
    session.flush()
    return row


def confirm(session: Session, pending: PendingImport, *, consent_source: str,
            now: datetime) -> ApplyReport:
    if pending.state != "pending":
        raise MailprocError(f"предложение {pending.id} уже рассмотрено ({pending.state})")
    organisations = {r["organisation"]: {"name": r["organisation"], "segment": r["segment"]}
                     for r in pending.rows if r.get("organisation")}
    report = apply_import(session, pending.rows, organisations.values(),
                          source=f"письмо от {pending.from_addr} ({pending.origin}), "
                                 f"предложение {pending.id}",
                          consent_source=consent_source, now=now)
    pending.state, pending.decided_at = "confirmed", now
    return report
