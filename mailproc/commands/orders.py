"""``mailproc orders list|show|create|cancel|match|remind``: fragment and article orders."""

from __future__ import annotations

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.localtime import local_time
from mailproc.orders import states as st
from mailproc.scope import mailbox_scope
from mailproc.store.base import utcnow


def register(sub) -> None:
    p = sub.add_parser("orders", help="fragment and article orders")
    osub = p.add_subparsers(dest="action", metavar="ACTION")
    osub.required = True
    lst = osub.add_parser("list", help="list orders, newest first")
    lst.add_argument("--state", choices=st.ALL)
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--limit", type=int, default=200)
    lst.set_defaults(func=list_orders)
    show = osub.add_parser("show", help="one order with its history")
    show.add_argument("token")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_order)
    create = osub.add_parser("create", help="create an order and send it to its department")
    create.add_argument("--reader", required=True, metavar="EMAIL")
    create.add_argument("--name", default="", help="the reader's name")
    create.add_argument("--card", default="", help="reader card number")
    create.add_argument("--text", default="", help="the request as the reader wrote it; "
                        "fields below override what is read from it")
    for name in ("author", "title", "year", "shelf-mark", "fund", "journal", "issue", "pages",
                 "notes"):
        create.add_argument(f"--{name}", default="")
    create.add_argument("--book-pages", type=int, default=0, help="pages in the whole book")
    create.add_argument("--article", action="store_true")
    create.add_argument("--scan", action="store_true", help="a scan is wanted, not photos")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=create_cmd)
    cancel = osub.add_parser("cancel", help="cancel an order")
    cancel.add_argument("token")
    cancel.add_argument("--note", default="")
    cancel.set_defaults(func=cancel_cmd)
    match = osub.add_parser("match", help="resolve a review case: this message is for TOKEN; "
                            "delivery then proceeds")
    match.add_argument("message_id", help="the Message-ID (or message number) in review")
    match.add_argument("token")
    match.add_argument("--skip-page-check", action="store_true",
                       help="send even if the number of pages differs from the order "
                            "(you have looked at the files)")
    match.set_defaults(func=match_cmd)
    remind = osub.add_parser("remind", help="send due reminders to departments now")
    remind.set_defaults(func=remind_cmd)


def order_json(o, tz, now=None) -> dict:
    now = now or utcnow()

    def local(t):
        return local_time(t, tz)

    return {
        "token": o.token, "state": o.state, "kind": o.kind, "reader": o.reader_email,
        "reader_name": o.reader_name, "card": o.reader_card, "author": o.author,
        "title": o.title or o.journal, "year": o.year, "shelf_mark": o.shelf_mark,
        "fund": o.fund_code, "journal": o.journal, "issue": o.issue, "pages": o.pages,
        "pages_count": o.pages_count, "book_pages": o.book_pages, "scan": o.wants_scan,
        "missing": o.missing, "notes": o.notes, "department": o.department,
        "created_at": local(o.created_at), "requested_at": local(o.requested_at),
        "deadline_at": local(o.deadline_at), "delivered_at": local(o.delivered_at),
        "overdue": o.state == st.OVERDUE or (o.state in st.AWAITING_DEPARTMENT
                                            and o.deadline_at is not None
                                            and o.deadline_at < now),
    }


def list_orders(args) -> int:
    from mailproc.orders.models import Order

    app = App.from_args(args)
    with app.db.session() as s:
        q = (select(Order).where(mailbox_scope(app).through_message(Order.source_message_pk))
             .order_by(Order.id.desc()).limit(args.limit))
        if args.state:
            q = q.where(Order.state == args.state)
        rows = [order_json(o, app.settings.tz) for o in s.scalars(q)]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            r["state"] = r["state"] + (" (!)" if r["overdue"] and r["state"] != st.OVERDUE else "")
        print_table(rows, ["token", "state", "department", "reader", "title", "pages",
                           "deadline_at"], empty="no orders")
    return 0


def _get(s, token):
    from mailproc.orders.service import get_order

    order = get_order(s, token)
    if order is None:
        raise MailprocError(f"no order {token}; see mailproc orders list")
    return order


def show_order(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        order = _get(s, args.token)
        tz = app.settings.tz
        data = order_json(order, tz)
        data["events"] = [{"at": local_time(e.at, tz), "event": e.event,
                           "from": e.state_from, "to": e.state_to,
                           "actor": e.actor, "message": e.message_pk, "note": e.note}
                          for e in order.events]
    if args.json:
        print_json(data)
        return 0
    for key, value in data.items():
        if key != "events" and value not in ("", None, 0, False):
            print(f"{key + ':':14} {value}")
    print("history:")
    print_table(data["events"], ["at", "event", "from", "to", "actor", "note"])
    return 0


def _env(app, s):
    from mailproc.orders.service import OrderEnv

    return OrderEnv.from_app(app, s, utcnow(), actor="librarian")


def create_cmd(args) -> int:
    from mailproc.orders.parse import missing_fields, normalise_fund, parse_pages, parse_request
    from mailproc.orders.service import create_order, submit

    req = parse_request("", args.text)
    for field, value in (("author", args.author), ("title", args.title), ("year", args.year),
                         ("shelf_mark", args.shelf_mark), ("journal", args.journal),
                         ("issue", args.issue)):
        if value:
            setattr(req, field, value)
    if args.fund:
        req.fund_code = normalise_fund(args.fund)
    if args.pages:
        req.pages, req.pages_count = parse_pages(args.pages)
    if args.book_pages:
        req.book_pages = args.book_pages
    if args.article:
        req.kind = "article"
    req.wants_scan = req.wants_scan or args.scan
    req.missing = missing_fields(req)
    app = App.from_args(args)
    with app.db.transaction() as s:
        env = _env(app, s)
        order = create_order(env, req, reader_email=args.reader, reader_name=args.name,
                             reader_card=args.card, notes=args.notes)
        result = submit(env, order)
    if args.json:
        print_json(result)
    else:
        print(f"order {result['order']}: {result['state']}"
              + (f", missing: {result['missing']}" if result.get("missing") else ""))
    return 0


def cancel_cmd(args) -> int:
    from mailproc.orders.service import cancel

    app = App.from_args(args)
    with app.db.transaction() as s:
        order = _get(s, args.token)
        cancel(_env(app, s), order, args.note)
    print(f"order {args.token}: cancelled")
    return 0


def match_cmd(args) -> int:
    from mailproc.orders.manual import match_by_hand

    result = match_by_hand(App.from_args(args), args.message_id, args.token,
                           skip_check=args.skip_page_check)
    print(f"message {result['message']} -> order {result['order']}: {result.get('state')}, "
          f"filed in {result['folder']}")
    return 0


def remind_cmd(args) -> int:
    from mailproc.orders.reminders import remind_due

    tokens = remind_due(App.from_args(args), utcnow())
    print(f"reminders queued: {len(tokens)}" + (f" ({', '.join(tokens)})" if tokens else ""))
    return 0
