"""``mailproc outbox list|retry|suppressed|send``: what mailproc sends and what waits."""

from __future__ import annotations

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError, TemplateError
from mailproc.localtime import local_time
from mailproc.mailboxes import names
from mailproc.outbound.models import OutboxMessage, Suppression
from mailproc.outbound.outbox import rerender
from mailproc.scope import mailbox_scope
from mailproc.store.base import utcnow


def register(sub) -> None:
    p = sub.add_parser("outbox", help="messages queued, sent, failed; suppressed addresses")
    osub = p.add_subparsers(dest="action", metavar="ACTION")
    osub.required = True
    lst = osub.add_parser("list", help="outbox rows, newest first")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--state", help="queued, sending, sent, failed, error, suppressed")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=list_outbox)
    retry = osub.add_parser("retry", help="send a failed or broken row again (re-renders it)")
    retry.add_argument("id", type=int)
    retry.set_defaults(func=retry_row)
    sup = osub.add_parser("suppressed", help="addresses no longer sent to")
    sup.add_argument("--json", action="store_true")
    sup.set_defaults(func=list_suppressed)
    send = osub.add_parser("send", help="send what is due now and exit")
    send.set_defaults(func=send_due)


def outbox_json(r: OutboxMessage, tz) -> dict:
    return {
        "id": r.id, "state": r.state, "mailbox": r.mailbox, "kind": r.kind,
        "template": r.template,
        "to": ", ".join(r.recipients), "subject": r.subject, "message_id": r.message_id,
        "attempts": r.attempts, "error": r.error, "part": f"{r.part}/{r.parts}",
        "recipients": r.recipients,
        "related": f"{r.related_type}:{r.related_id}" if r.related_type else "",
        "created_at": local_time(r.created_at, tz),
        "next_attempt_at": local_time(r.next_attempt_at, tz),
        "sent_at": local_time(r.sent_at, tz),
    }


def list_outbox(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        q = (select(OutboxMessage).where(mailbox_scope(app).outbox())
             .order_by(OutboxMessage.id.desc()).limit(args.limit))
        if args.state:
            q = q.where(OutboxMessage.state == args.state)
        rows = [outbox_json(r, app.settings.tz) for r in s.scalars(q)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "state", "kind", "template", "to", "subject", "error"])
    return 0


def retry_row(args) -> int:
    app = App.from_args(args)
    with app.db.transaction() as s:
        row = s.get(OutboxMessage, args.id)
        if row is None:
            raise MailprocError(f"no outbox row {args.id}; see mailproc outbox list")
        if row.state in ("sent", "sending", "suppressed"):
            raise MailprocError(f"outbox row {args.id} is {row.state}; only queued, failed and "
                                f"error rows can be retried")
        if row.state == "error":
            try:  # with the templates of the mailbox it was queued for, if still there
                own = row.mailbox in names(app.settings)
                rerender(app.for_mailbox(row.mailbox).settings if own else app.settings, row)
            except TemplateError as exc:
                row.error = "\n".join(exc.problems)
                raise
        row.state = "queued"
        row.error = ""
        row.attempts = 0
        row.created_at = row.next_attempt_at = utcnow()  # a fresh retry deadline
        row.recipients = {a: ({"state": "queued", "answer": ""}
                              if r.get("state") == "failed" else r)
                          for a, r in row.recipients.items()}
    print(f"outbox {args.id}: queued again")
    return 0


def list_suppressed(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = [{"address": r.address, "reason": r.reason, "soft_bounces": r.soft_bounces,
                 "since": local_time(r.since, app.settings.tz), "outbox": r.outbox_pk}
                for r in s.scalars(select(Suppression).where(Suppression.suppressed.is_(True))
                                   .order_by(Suppression.address))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["address", "since", "soft_bounces", "reason"])
    return 0


def send_due(args) -> int:
    from mailproc.cluster import SentRouter
    from mailproc.outbound.sender import deliver_due

    app = App.from_args(args)
    router = SentRouter(list(app.mailbox_apps().values()))  # each copy to its own mailbox
    try:
        print(deliver_due(app, router))
    finally:
        router.close()
    return 0
