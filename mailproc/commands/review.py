"""``mailproc review list|retry``: messages that went to the review folder, and why."""

from __future__ import annotations


from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.messages import message_json
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.scope import apps_by_source, mailbox_scope
from mailproc.store.models import Message


def register(sub) -> None:
    p = sub.add_parser("review", help="messages in the review folder")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    rsub.required = True
    lst = rsub.add_parser("list", help="list them with reasons")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_review)
    retry = rsub.add_parser("retry", help="process them again")
    retry.add_argument("id", nargs="?", type=int)
    retry.add_argument("--all", action="store_true")
    retry.set_defaults(func=retry_review)


def list_review(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = [message_json(m, app.settings.tz) for m in s.scalars(
            select(Message).where(Message.state.in_(("review", "review-pending")),
                                  mailbox_scope(app).messages())
            .order_by(Message.id))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "from", "subject", "reason"], empty="review folder is empty")
    return 0


def retry_review(args) -> int:
    if not args.all and args.id is None:
        raise MailprocError("review retry: give a message ID or --all")
    app = App.from_args(args)
    with app.db.session() as s:
        q = select(Message).where(Message.state == "review", mailbox_scope(app).messages())
        if not args.all:
            q = q.where(Message.id == args.id)
        rows = list(s.scalars(q))
    if not rows:
        raise MailprocError("nothing to retry; see mailproc review list")
    from mailproc.retry import retry_messages

    # each message with its own mailbox's settings and connection; one recorded under a
    # mailbox no longer in the settings with this command's
    boxes = apps_by_source(app)
    by_box: dict[str, list[Message]] = {}
    for row in rows:
        by_box.setdefault(row.mailbox if row.mailbox in boxes else "", []).append(row)
    for key, box_rows in by_box.items():
        for line in retry_messages(boxes.get(key, app), box_rows):
            print(line)
    return 0
