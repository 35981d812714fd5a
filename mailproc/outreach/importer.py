"""Contacts from a registry or a staff list: parse (pure), then apply to the database.

Parsing turns every data row into contact records (and an organisation for registry rows),
or into a skipped row with the reason in Russian. Records are merged by e-mail: the first
non-empty value of a field wins, interests and groups are united. Applying never undoes a
withdrawal: an unsubscribed or suppressed contact stays so whatever a file says.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.outreach.columns import looks_like_header, map_headers
from mailproc.outreach.models import ConsentEvent, Contact, GroupMember, Organisation
from mailproc.outreach.normalise import (clean, normalise_email, normalise_phone, parse_yes,
                                         split_list)

HEADER_SEARCH_ROWS = 15  # registries often carry a title and a date above the header row


@dataclass
class ParsedImport:
    contacts: dict[str, dict] = field(default_factory=dict)  # email -> merged record
    organisations: dict[str, dict] = field(default_factory=dict)  # name -> record
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    merged: list[tuple[int, str, int]] = field(default_factory=list)  # (row, email, first row)
    unknown_columns: list[str] = field(default_factory=list)
    rows: int = 0  # data rows seen, empty ones excluded
    empty: int = 0
    header_row: int = 0

    def records(self) -> list[dict]:
        return list(self.contacts.values())


def parse_table(rows: Iterable[list], explicit: dict[str, str],
                progress: Callable[[int], None] | None = None) -> ParsedImport:
    """Find the header row, then parse every data row after it."""
    result = ParsedImport()
    mapping: dict[int, str] | None = None
    for number, row in enumerate(rows, start=1):
        if progress is not None and number % 250 == 0:
            progress(number)
        if mapping is None:
            if looks_like_header(row, explicit):
                mapping, result.unknown_columns = map_headers(row, explicit)
                result.header_row = number
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        values = {f: row[i] for i, f in mapping.items() if i < len(row)}
        if not any(clean(v) for v in values.values()):
            result.empty += 1
            continue
        result.rows += 1
        parse_row(result, number, values)
    if mapping is None:
        result.skipped.append((0, "не найдена строка заголовков: нужны столбцы хотя бы с ФИО "
                                  "или организацией и адресом электронной почты"))
    return result


def _person(values: dict, prefix: str) -> dict:
    return {part: values.get(prefix + part) for part in ("name", "position", "phone", "email")}


def parse_row(result: ParsedImport, number: int, values: dict) -> None:
    """One data row -> records merged into ``result``, or a skipped entry with the reason."""
    org_name = clean(values.get("organisation"))
    segment = clean(values.get("segment"))
    is_registry = any(clean(values.get(k)) for k in values if k.startswith(("head_", "resp_")))
    people: list[tuple[str, dict]] = []
    if is_registry:
        people = [("head", _person(values, "head_")), ("responsible", _person(values, "resp_"))]
    if clean(values.get("email")) or clean(values.get("name")) or not is_registry:
        people.append(("", _person(values, "")))

    problems: list[str] = []
    found: list[dict] = []
    for role, person in people:
        if not any(clean(v) for v in person.values()):
            continue
        email, problem = normalise_email(person["email"])
        if not email:
            who = {"head": "руководителя: ", "responsible": "ответственного: "}.get(role, "")
            problems.append(who + problem)
            continue
        found.append({
            "email": email, "name": clean(person["name"]), "position": clean(person["position"]),
            "phone": normalise_phone(person["phone"]), "role": role,
            "organisation": org_name, "segment": segment,
            "interests": split_list(values.get("interests")),
            "groups": split_list(values.get("groups")),
            "consent": parse_yes(values.get("consent")),
            "consent_date": clean(values.get("consent_date")), "row": number,
        })
    if is_registry and not org_name:
        result.skipped.append((number, "нет названия организации"))
        return
    if not found:
        result.skipped.append((number, "; ".join(problems) or "нет адреса электронной почты"))
        return
    if org_name:
        org = result.organisations.setdefault(org_name, {"name": org_name})
        for key in ("segment", "contract", *(f"{p}_{part}" for p in ("head", "resp")
                                             for part in ("name", "position"))):
            org.setdefault(key, "")
            org[key] = org[key] or clean(values.get(key))
        for p in ("head", "resp"):
            org.setdefault(f"{p}_phone", "")
            org[f"{p}_phone"] = org[f"{p}_phone"] or normalise_phone(values.get(f"{p}_phone"))
            org.setdefault(f"{p}_email", "")
            org[f"{p}_email"] = org[f"{p}_email"] or normalise_email(values.get(f"{p}_email"))[0]
    for record in found:
        merge_record(result, record)


def merge_record(result: ParsedImport, record: dict) -> None:
    first = result.contacts.get(record["email"])
    if first is None:
        result.contacts[record["email"]] = record
        return
    result.merged.append((record["row"], record["email"], first["row"]))
    for key, value in record.items():
        if key in ("interests", "groups"):
            first[key] = list(dict.fromkeys([*first[key], *value]))
        elif key != "row" and (first.get(key) in ("", None)) and value not in ("", None):
            first[key] = value


# ---------------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    created: int = 0
    updated: int = 0
    organisations: int = 0
    consented: int = 0
    without_consent: int = 0
    kept_unsubscribed: int = 0


def apply_import(session: Session, records: list[dict], organisations: Iterable[dict], *,
                 source: str, consent_source: str, now: datetime) -> ApplyReport:
    """Write merged records. ``consent_source`` non-empty grants consent to every contact the
    file does not say "нет" for, with that source as evidence."""
    report = ApplyReport()
    orgs = {o.name: o for o in session.scalars(select(Organisation))}
    for data in organisations:
        org = orgs.get(data["name"])
        if org is None:
            org = orgs[data["name"]] = Organisation(name=data["name"])
            session.add(org)
            report.organisations += 1
        for key, value in data.items():
            if value and key != "name":
                setattr(org, key, value)
    session.flush()
    emails = [r["email"] for r in records]
    existing: dict[str, Contact] = {}
    for start in range(0, len(emails), 500):
        chunk = emails[start:start + 500]
        existing.update({c.email: c for c in session.scalars(
            select(Contact).where(Contact.email.in_(chunk)))})
    for record in records:
        contact = existing.get(record["email"])
        if contact is None:
            contact = Contact(email=record["email"], source=source, interests=[])
            session.add(contact)
            existing[contact.email] = contact
            report.created += 1
        else:
            report.updated += 1
        for key in ("name", "position", "phone", "segment", "role"):
            if record.get(key):
                setattr(contact, key, record[key])
        if record.get("organisation"):
            contact.organisation = orgs.get(record["organisation"])
            if not contact.segment and contact.organisation is not None:
                contact.segment = contact.organisation.segment
        if record.get("interests"):
            contact.interests = list(dict.fromkeys([*(contact.interests or []),
                                                    *record["interests"]]))
        _apply_consent(session, contact, record, consent_source, source, now, report)
        for group in record.get("groups") or ():
            session.flush()
            if session.scalar(select(GroupMember).where(
                    GroupMember.group_name == group, GroupMember.contact_id == contact.id)) is None:
                session.add(GroupMember(group_name=group, contact_id=contact.id))
    session.flush()
    return report


def _apply_consent(session: Session, contact: Contact, record: dict, consent_source: str,
                   source: str, now: datetime, report: ApplyReport) -> None:
    said = record.get("consent")
    grant = said is True or (said is None and bool(consent_source))
    if grant and (contact.unsubscribed_at is not None or contact.suppressed):
        report.kept_unsubscribed += 1
        return
    if grant and not contact.consent:
        how = f"{consent_source or 'столбец «Согласие»'}; {source}, строка {record['row']}"
        if record.get("consent_date"):
            how += f"; дата согласия в файле: {record['consent_date']}"
        grant_consent(session, contact, how, now)
    elif said is False and contact.consent:
        withdraw_consent(session, contact, f"{source}, строка {record['row']}: «нет»", now)
    if contact.consent:
        report.consented += 1
    else:
        report.without_consent += 1


def grant_consent(session: Session, contact: Contact, how: str, now: datetime) -> None:
    contact.consent, contact.consent_at, contact.consent_source = True, now, how
    session.flush()
    session.add(ConsentEvent(contact_id=contact.id, at=now, granted=True, how=how))


def withdraw_consent(session: Session, contact: Contact, how: str, now: datetime,
                     unsubscribe: bool = False) -> None:
    contact.consent = False
    if unsubscribe:
        contact.unsubscribed_at, contact.unsubscribed_how = now, how
    session.flush()
    session.add(ConsentEvent(contact_id=contact.id, at=now, granted=False, how=how))


class Progress:
    """"строка 2500 из 5000" on stderr, redrawn in place; silent when stderr is not a terminal
    or the total is ``at_least`` or less (done before anyone waits)."""

    def __init__(self, total: int | None, stream=None, *, noun: str = "строка",
                 at_least: int = 500):
        self.stream = stream or sys.stderr
        self.total = total
        self.noun = noun
        self.enabled = self.stream.isatty() and (total is None or total > at_least)

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        if self.total:
            width = 30
            filled = int(width * min(done, self.total) / self.total)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {self.noun} {done} из {self.total}")
        else:
            self.stream.write(f"\r{self.noun} {done}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
