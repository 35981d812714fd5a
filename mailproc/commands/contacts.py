"""``mailproc contacts import|list|show|export|pending|confirm|reject|unsubscribe``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.outreach.audience import all_groups, group_members, outbound_suppressed
from mailproc.outreach.columns import parse_map
from mailproc.outreach.importer import Progress, apply_import, parse_table
from mailproc.outreach.models import ConsentEvent, Contact, PendingImport
from mailproc.outreach.plan import load_plan
from mailproc.outreach.limits import TableLimits
from mailproc.outreach.tables import read_table
from mailproc.store.base import utcnow

EXPORT_COLUMNS = [("ФИО", "name"), ("Должность", "position"), ("Организация", "organisation"),
                  ("E-mail", "email"), ("Телефон", "phone"), ("Сегмент", "segment"),
                  ("Интересы", "interests"), ("Группы", "groups"), ("Согласие", "consent"),
                  ("Отписан", "unsubscribed")]


def register(sub) -> None:
    p = sub.add_parser("contacts", help="contact base: import, list, show, export, proposals")
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    csub.required = True

    imp = csub.add_parser("import", help="import contacts from a registry or list (XLSX, CSV)")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.add_argument("--map", action="append", default=[], metavar="HEADER=FIELD",
                     help="column mapping, e.g. --map 'ФИО сотрудника=name' (repeatable)")
    imp.add_argument("--consent", default="", metavar="SOURCE",
                     help="the contacts consented to mailings; SOURCE is the evidence, e.g. "
                          "'договор о сотрудничестве'")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=import_contacts)

    lst = csub.add_parser("list", help="list contacts")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--segment")
    lst.add_argument("--group")
    lst.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    lst.set_defaults(func=list_contacts)

    show = csub.add_parser("show", help="one contact with its consent history")
    show.add_argument("contact", help="e-mail or id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_contact)

    exp = csub.add_parser("export", help="export contacts as CSV (Russian headers) or JSON")
    exp.add_argument("--json", action="store_true")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.set_defaults(func=export_contacts)

    pend = csub.add_parser("pending", help="contact lists proposed from the mailbox")
    pend.add_argument("--json", action="store_true")
    pend.add_argument("id", nargs="?", type=int, help="show one proposal's rows")
    pend.set_defaults(func=list_pending)

    conf = csub.add_parser("confirm", help="import a proposed contact list")
    conf.add_argument("id", type=int)
    conf.add_argument("--consent", default="", metavar="SOURCE")
    conf.set_defaults(func=confirm_pending)

    rej = csub.add_parser("reject", help="drop a proposed contact list")
    rej.add_argument("id", type=int)
    rej.set_defaults(func=reject_pending)

    uns = csub.add_parser("unsubscribe", help="unsubscribe a contact (by hand or by token)")
    uns.add_argument("contact", nargs="?", help="e-mail or id")
    uns.add_argument("--token", help="the token of a one-click unsubscribe (RFC 8058)")
    uns.add_argument("--how", default="по просьбе, вручную", help="recorded as the reason")
    uns.set_defaults(func=unsubscribe_contact)


# -- import ------------------------------------------------------------------------------------


def import_contacts(args) -> int:
    app = App.from_args(args)
    path = Path(args.file)
    if not path.is_file():
        raise MailprocError(f"{args.file}: файл не найден")
    explicit = parse_map(app.settings.outreach.column_map) | parse_map(args.map)
    table = read_table(str(path), limits=TableLimits.from_settings(app.settings))
    progress = Progress(table.total)
    try:
        parsed = parse_table(table.rows, explicit, progress)
    finally:
        progress.close()
    session = app.db.session()
    try:
        session.begin()
        report = apply_import(session, parsed.records(), parsed.organisations.values(),
                              source=f"импорт {path.name}", consent_source=args.consent,
                              now=utcnow())
        if args.dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()
    data = {
        "file": path.name, "header_row": parsed.header_row, "rows": parsed.rows,
        "empty_rows": parsed.empty, "contacts": len(parsed.contacts),
        "created": report.created, "updated": report.updated,
        "organisations_created": report.organisations, "consented": report.consented,
        "without_consent": report.without_consent,
        "kept_unsubscribed": report.kept_unsubscribed,
        "merged": [{"row": r, "email": e, "first_row": f} for r, e, f in parsed.merged],
        "skipped": [{"row": r, "reason": why} for r, why in parsed.skipped],
        "unknown_columns": parsed.unknown_columns, "dry_run": args.dry_run,
    }
    if args.json:
        print_json(data)
    else:
        print_import_report(data)
    return 0


def print_import_report(d: dict) -> None:
    print(f"Файл {d['file']}: строка заголовков {d['header_row']}, строк с данными {d['rows']}")
    print(f"Контактов: {d['contacts']} (новых {d['created']}, обновлено {d['updated']}); "
          f"новых организаций: {d['organisations_created']}")
    print(f"С согласием на рассылку: {d['consented']}, без согласия: {d['without_consent']}")
    if d["kept_unsubscribed"]:
        print(f"Отписавшиеся остались отписанными: {d['kept_unsubscribed']}")
    if d["merged"]:
        print(f"Повторы адресов объединены: {len(d['merged'])}")
        for m in d["merged"][:20]:
            print(f"  строка {m['row']}: {m['email']} уже был в строке {m['first_row']}")
        if len(d["merged"]) > 20:
            print(f"  ... и ещё {len(d['merged']) - 20} (все: --json)")
    print(f"Пропущено строк: {len(d['skipped'])}")
    for s in d["skipped"]:
        print(f"  строка {s['row']}: {s['reason']}")
    if d["unknown_columns"]:
        print("Столбцы не распознаны и не загружены: " + ", ".join(d["unknown_columns"])
              + " (сопоставьте: --map 'Заголовок=поле')")
    if d["dry_run"]:
        print("Пробный запуск: ничего не записано.")


# -- list, show, export --------------------------------------------------------------------------


def _plan(app):
    return load_plan(app.settings.paths.rules, app.settings)


def contacts_json(app, session, contacts: list[Contact]) -> list[dict]:
    """Contacts with their groups (explicit and by filter), computed once per group."""
    groups = all_groups(session, _plan(app))
    membership: dict[int, list[str]] = {}
    for name, spec in groups.items():
        for c in group_members(session, spec, contacts):
            membership.setdefault(c.id, []).append(name)
    bounced = outbound_suppressed(session, [c.email for c in contacts])
    return [contact_json(c, membership.get(c.id, []), bounced.get(c.email, ""))
            for c in contacts]


def contact_json(c: Contact, groups: list[str], bounced: str = "") -> dict:
    return {
        "id": c.id, "name": c.name, "email": c.email, "position": c.position, "role": c.role,
        "organisation": c.organisation.name if c.organisation else "", "phone": c.phone,
        "segment": c.segment, "interests": list(c.interests or []), "groups": groups,
        "consent": c.consent, "consent_at": c.consent_at, "consent_source": c.consent_source,
        "unsubscribed": c.unsubscribed_at is not None, "unsubscribed_at": c.unsubscribed_at,
        "unsubscribed_how": c.unsubscribed_how, "suppressed": c.suppressed or bool(bounced),
        "suppressed_reason": c.suppressed_reason or bounced,
    }


def find_contact(session, ref: str) -> Contact:
    contact = session.get(Contact, int(ref)) if ref.isdigit() else session.scalar(
        select(Contact).where(Contact.email == ref.strip().lower()))
    if contact is None:
        raise MailprocError(f"контакт «{ref}» не найден; см. mailproc contacts list")
    return contact


def _selected(app, s, args) -> list[dict]:
    q = select(Contact).order_by(Contact.id)
    if getattr(args, "segment", None):
        q = q.where(Contact.segment == args.segment)
    rows = contacts_json(app, s, list(s.scalars(q).unique()))
    if getattr(args, "group", None):
        rows = [r for r in rows if args.group in r["groups"]]
    if getattr(args, "limit", 0):
        rows = rows[:args.limit]
    return rows


def list_contacts(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = _selected(app, s, args)
    if args.json:
        print_json(rows)
    else:
        print_table([{**r, "groups": ", ".join(r["groups"]),
                      "consent": "да" if r["consent"] else "нет"} for r in rows],
                    ["id", "name", "email", "organisation", "segment", "groups", "consent"])
    return 0


def show_contact(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        c = find_contact(s, args.contact)
        data = contacts_json(app, s, [c])[0]
        data["consent_history"] = [
            {"at": e.at, "granted": e.granted, "how": e.how}
            for e in s.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == c.id)
                               .order_by(ConsentEvent.id))]
    if args.json:
        print_json(data)
        return 0
    for key, value in data.items():
        if key != "consent_history" and value not in ("", None, [], False):
            print(f"{key + ':':18}{', '.join(value) if isinstance(value, list) else value}")
    for e in data["consent_history"]:
        print(f"  {e['at']:%Y-%m-%d %H:%M} {'согласие' if e['granted'] else 'отзыв'}: {e['how']}")
    return 0


def export_contacts(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = _selected(app, s, args)
    out = open(args.output, "w", encoding="utf-8-sig", newline="") if args.output else sys.stdout
    try:
        if args.json:
            import json

            json.dump(rows, out, ensure_ascii=False, indent=2, default=str)
            out.write("\n")
        else:
            writer = csv.writer(out, delimiter=";")
            writer.writerow([h for h, _ in EXPORT_COLUMNS])
            for r in rows:
                writer.writerow([_export_cell(r[k]) for _, k in EXPORT_COLUMNS])
    finally:
        if args.output:
            out.close()
    return 0


def _export_cell(value) -> str:
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, list):
        return "; ".join(value)
    return "" if value is None else str(value)


# -- proposals from the mailbox ------------------------------------------------------------------


def _pending(s, pending_id: int) -> PendingImport:
    p = s.get(PendingImport, pending_id)
    if p is None:
        raise MailprocError(f"предложения {pending_id} нет; см. mailproc contacts pending")
    return p


def list_pending(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        if args.id:
            p = _pending(s, args.id)
            data = {"id": p.id, "from": p.from_addr, "origin": p.origin, "state": p.state,
                    "rows": p.rows, "skipped": p.skipped}
            if args.json:
                print_json(data)
            else:
                print(f"Предложение {p.id} от {p.from_addr} ({p.origin}), {p.state}")
                print_table(p.rows, ["row", "name", "email", "position", "organisation"])
                for row, why in p.skipped:
                    print(f"  пропущена строка {row}: {why}")
            return 0
        rows = [{"id": p.id, "from": p.from_addr, "origin": p.origin, "contacts": len(p.rows),
                 "skipped": len(p.skipped), "state": p.state, "created_at": p.created_at}
                for p in s.scalars(select(PendingImport).order_by(PendingImport.id))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "state", "from", "origin", "contacts", "skipped"])
    return 0


def confirm_pending(args) -> int:
    from mailproc.outreach.proposals import confirm

    app = App.from_args(args)
    with app.db.transaction() as s:
        p = _pending(s, args.id)
        report = confirm(s, p, consent_source=args.consent, now=utcnow())
    print(f"Предложение {args.id} принято: новых контактов {report.created}, обновлено "
          f"{report.updated}, с согласием {report.consented}")
    return 0


def reject_pending(args) -> int:
    app = App.from_args(args)
    with app.db.transaction() as s:
        p = _pending(s, args.id)
        if p.state != "pending":
            raise MailprocError(f"предложение {args.id} уже рассмотрено ({p.state})")
        p.state, p.decided_at = "rejected", utcnow()
    print(f"Предложение {args.id} отклонено")
    return 0


def unsubscribe_contact(args) -> int:
    from mailproc.outreach.unsubscribe import unsubscribe, unsubscribe_by_token

    app = App.from_args(args)
    with app.db.transaction() as s:
        if args.token:
            contact = unsubscribe_by_token(s, app.settings, args.token, utcnow())
            if contact is None:
                raise MailprocError("токен отписки не подходит ни к одному контакту")
        elif args.contact:
            contact = find_contact(s, args.contact)
            unsubscribe(s, app.settings, contact, args.how, utcnow(), confirm=False)
        else:
            raise MailprocError("укажите контакт (адрес или номер) или --token")
        cid = contact.id
    print(f"Контакт {cid} отписан от рассылок")
    return 0
