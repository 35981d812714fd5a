"""``mailproc registrations list|show|consents|set-doc|close|purge``: the registration cases.

What is printed never includes document contents or card numbers (shown masked); looking at
the documents is ``mailproc vault export``, which is audited.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime, timezone

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError, SourceUnavailable
from mailproc.localtime import local_time
from mailproc.registrations import cases
from mailproc.registrations.common import vault_or_none
from mailproc.registrations.sealed import shown
from mailproc.registrations.models import (
    KINDS,
    STATES,
    ConsentRecord,
    RegistrationAudit,
    RegistrationCase,
    RegistrationDocument,
)
from mailproc.scope import mailbox_scope


def register(sub) -> None:
    p = sub.add_parser("registrations", help="registration cases: list, show, correct, purge")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    rsub.required = True
    lst = rsub.add_parser("list", help="cases, newest first")
    lst.add_argument("--state", choices=STATES)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_cases)
    show = rsub.add_parser("show", help="one case: documents, consent, audit trail")
    show.add_argument("case", help="case token such as 2026-00042")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_case)
    cons = rsub.add_parser("consents", help="the consent register")
    cons.add_argument("--json", action="store_true")
    cons.set_defaults(func=list_consents)
    fix = rsub.add_parser("set-doc", help="correct the recognised kind of a document")
    fix.add_argument("case")
    fix.add_argument("doc", type=int, help="document id (see registrations show)")
    fix.add_argument("--kind", required=True, type=doc_kinds, metavar="KIND[,KIND]",
                     help="form, application, consent or other; several for one scan: "
                          "form,consent")
    fix.add_argument("--by", default="", help="who corrects it (default: the login name)")
    fix.add_argument("--json", action="store_true")
    fix.set_defaults(func=set_doc)
    close = rsub.add_parser("close", help="reject a case or record a withdrawal by hand")
    close.add_argument("case")
    close.add_argument("--state", required=True, choices=("rejected", "withdrawn"))
    close.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    close.add_argument("--by", default="", help="who (default: the login name)")
    close.add_argument("--json", action="store_true")
    close.set_defaults(func=close_case)
    purge = rsub.add_parser("purge", help="destroy documents whose retention time has passed")
    purge.add_argument("--now", help="ISO time to purge as of (default: now)")
    purge.add_argument("--json", action="store_true")
    purge.set_defaults(func=purge_cases)


def doc_kinds(text: str) -> str:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds):
        raise argparse.ArgumentTypeError("write form, application, consent or other, or "
                                         "several separated by commas")
    return ",".join(kinds)


def actor(args) -> str:
    return getattr(args, "by", "") or getpass.getuser()


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def case_json(c: RegistrationCase, tz, box=None) -> dict:
    def _iso(value):
        return local_time(value, tz)

    return {
        "token": c.token, "state": c.state, "reader_email": c.reader_email,
        "reader_name": shown(c.reader_name, box), "created_at": _iso(c.created_at),
        "completed_at": _iso(c.completed_at), "handed_at": _iso(c.handed_at),
        "card_issued_at": _iso(c.card_issued_at), "closed_at": _iso(c.closed_at),
        "purge_after": _iso(c.purge_after), "destroyed_at": _iso(c.destroyed_at),
        "card_number": "***" if c.card_number_enc else "",
        "kinds": sorted(cases.present_kinds(c)),
    }


def _in_scope(app, case_id):
    """Cases (by ``case_id``) with a document from the ``--mailbox`` mailbox."""
    return mailbox_scope(app).through_message(
        case_id, via=(RegistrationDocument.case_id, RegistrationDocument.message_pk))


def list_cases(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        q = (select(RegistrationCase)
             .where(_in_scope(app, RegistrationCase.id))
             .order_by(RegistrationCase.id.desc()))
        if args.state:
            q = q.where(RegistrationCase.state == args.state)
        rows = [case_json(c, app.settings.tz) for c in s.scalars(q)]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            r["kinds"] = ",".join(r["kinds"])
        print_table(rows, ["token", "state", "reader_email", "kinds", "handed_at",
                           "destroyed_at"], empty="(нет дел регистрации)")
    return 0


def show_case(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        c = cases.by_token(s, args.case)
        if c is None:
            raise MailprocError(f"no registration case {args.case}; see mailproc registrations "
                                f"list")
        box = vault_or_none(app.settings)  # None: sealed names show as "(зашифровано)"
        tz = app.settings.tz
        data = case_json(c, tz, box)
        data["documents"] = [
            {"id": d.id, "kind": d.kind, "how": d.kind_how, "name": shown(d.name, box),
             "type": d.content_type, "size": d.size, "pages": d.pages, "readable": d.readable,
             "problem": d.problem, "received_at": local_time(d.received_at, tz),
             "destroyed_at": local_time(d.destroyed_at, tz),
             "original_removed_at": local_time(d.original_removed_at, tz)} for d in c.documents]
        data["consents"] = [consent_json(r, tz) for r in s.scalars(
            select(ConsentRecord).where(ConsentRecord.case_id == c.id))]
        data["audit"] = [
            {"at": local_time(a.at, tz), "actor": a.actor, "action": a.action, "document": a.document_id,
             "detail": a.detail, "reason": a.reason}
            for a in s.scalars(select(RegistrationAudit).where(
                RegistrationAudit.case_id == c.id).order_by(RegistrationAudit.id))]
    if args.json:
        print_json(data)
        return 0
    for key in ("token", "state", "reader_email", "reader_name", "created_at", "handed_at",
                "card_issued_at", "purge_after", "destroyed_at", "card_number"):
        if data.get(key):
            print(f"{key + ':':16}{data[key]}")
    print("documents:")
    print_table(data["documents"], ["id", "kind", "how", "readable", "problem", "size",
                                    "destroyed_at"], empty="  (none)")
    print("audit:")
    print_table(data["audit"], ["at", "actor", "action", "document", "detail", "reason"])
    return 0


def consent_json(r: ConsentRecord, tz) -> dict:
    return {"case_id": r.case_id, "document": r.document_id, "reader_email": r.reader_email,
            "received_at": local_time(r.received_at, tz), "purpose": r.purpose,
            "valid_until": local_time(r.valid_until, tz),
            "withdrawn_at": local_time(r.withdrawn_at, tz),
            "destroyed_at": local_time(r.destroyed_at, tz)}


def list_consents(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = [consent_json(r, app.settings.tz) for r in s.scalars(
            select(ConsentRecord).where(_in_scope(app, ConsentRecord.case_id))
            .order_by(ConsentRecord.id))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["case_id", "reader_email", "received_at", "valid_until",
                           "withdrawn_at", "destroyed_at"], empty="(реестр согласий пуст)")
    return 0


def set_doc(args) -> int:
    from mailproc.registrations.retention import set_document_kind

    app = App.from_args(args)
    try:
        result = set_document_kind(app, args.case, args.doc, args.kind, actor=actor(args))
    except LookupError as exc:
        raise MailprocError(str(exc)) from None
    if args.json:
        print_json(result)
    else:
        print(f"{result['registration']}: документ {result['document']} — {result['kind']}; "
              f"состояние дела: {result['state']}")
    return 0


def close_case(args) -> int:
    from mailproc.registrations import retention

    app = App.from_args(args)
    try:
        result = retention.close_case(app, args.case, args.state, actor=actor(args),
                                      reason=args.reason)
    except (LookupError, ValueError) as exc:
        raise MailprocError(str(exc)) from None
    if args.json:
        print_json(result)
    else:
        print(f"{result['registration']}: {result['state']}")
    return 0


def purge_cases(args) -> int:
    from mailproc.registrations.redaction import run_removals
    from mailproc.registrations.retention import purge_due

    app = App.from_args(args)
    now = parse_now(args.now)
    result = purge_due(app, now)
    try:
        with app.source() as source:
            result.update(run_removals(app, source, now))
    except SourceUnavailable as exc:  # the documents are purged; the mailbox waits till next time
        print(f"mailproc: mailbox not available, its copies are left for the next run ({exc})",
              file=sys.stderr)
        result["removed"] = 0
    if args.json:
        print_json(result)
    else:
        print(f"documents destroyed in {result['cases']} case(s); {result['removed']} "
              f"message(s) of those cases deleted from the shared mailbox")
    return 0
