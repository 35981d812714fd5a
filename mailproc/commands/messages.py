"""``mailproc messages list|show``: what was processed and why it went where it went."""

from __future__ import annotations

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.localtime import local_time
from mailproc.registrations.common import vault_or_none
from mailproc.registrations.sealed import is_sealed_letter, letter_of, shown
from mailproc.scope import mailbox_scope
from mailproc.store.models import Message


def register(sub) -> None:
    p = sub.add_parser("messages", help="list processed messages, show one")
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    lst = msub.add_parser("list", help="list processed messages, newest first")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--category")
    lst.add_argument("--state")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=list_messages)
    show = msub.add_parser("show", help="one message with its decision")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_message)


def message_json(m: Message, tz, box=None) -> dict:
    return {
        "id": m.id, "message_id": m.message_id, "from": m.from_addr,
        "subject": shown(m.subject, box),
        "category": m.category, "rule": m.rule, "folder": m.folder, "state": m.state,
        "reason": m.reason, "received_at": local_time(m.received_at, tz),
        "mailbox": m.mailbox, "uid": m.uid, "size": m.size,
    }


def list_messages(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        q = (select(Message).where(mailbox_scope(app).messages())
             .order_by(Message.id.desc()).limit(args.limit))
        if args.category:
            q = q.where(Message.category == args.category)
        if args.state:
            q = q.where(Message.state == args.state)
        rows = [message_json(m, app.settings.tz) for m in s.scalars(q)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "state", "category", "folder", "from", "subject"])
    return 0


def show_message(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        m = s.get(Message, args.id)
        if m is None:
            raise MailprocError(f"no message {args.id}; see mailproc messages list")
        box = vault_or_none(app.settings) if is_sealed_letter(m.letter) else None
        data = message_json(m, app.settings.tz, box)
        data["decisions"] = [
            {"decided_at": local_time(d.decided_at, app.settings.tz), "category": d.category,
             "rule": d.rule,
             "trace": d.trace, "actions": d.actions, "results": d.results}
            for d in m.decisions
        ]
        data["letter"] = letter_of(m, box) if box is not None or not is_sealed_letter(
            m.letter) else {"sealed": shown(m.letter["sealed"])}
    if args.json:
        print_json(data)
        return 0
    for key in ("id", "message_id", "from", "subject", "category", "rule", "folder", "state",
                "reason", "received_at"):
        if data.get(key):
            print(f"{key + ':':13}{data[key]}")
    for d in data["decisions"]:
        print(f"decision at {d['decided_at']}: {d['category']} by {d['rule'] or 'builtin'}")
        for t in d["trace"]:
            print(f"  rule {t.get('rule')}: hit {t.get('hit', [])} miss {t.get('miss', [])}")
        for a, r in zip(d["actions"], d["results"] or [{}] * len(d["actions"])):
            print(f"  action {a['name']} {a.get('args', {})} -> {r.get('result', '')}")
    return 0
