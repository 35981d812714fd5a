"""``mailproc status``: counts by category and state, the review queue, the mailbox; of
the one mailbox ``--mailbox NAME`` names, else of every mailbox. With the daemon running,
each of its loops (intake per mailbox, the sender, the scheduled jobs) with its state, last
progress and last error, and which of them are stalled (mailproc.heartbeat), read from the
daemon's state file (mailproc.runstate)."""

from __future__ import annotations

from sqlalchemy import func, select

from mailproc.app import App
from mailproc.commands.output import print_json
from mailproc.config import redact
from mailproc.localtime import local_time
from mailproc.registrations.redaction import left_in_clear
from mailproc.scope import mailbox_scope
from mailproc.store.models import Message


def register(sub) -> None:
    p = sub.add_parser("status", help="what mailproc has done and what waits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def collect(app: App) -> dict:
    scope = mailbox_scope(app)
    with app.db.session() as s:
        by_category = dict(s.execute(
            select(Message.category, func.count()).where(scope.messages())
            .group_by(Message.category)).all())
        by_state = dict(s.execute(
            select(Message.state, func.count()).where(scope.messages())
            .group_by(Message.state)).all())
        last = s.scalar(select(func.max(Message.received_at)).where(scope.messages()))
        in_clear = left_in_clear(s)
    from mailproc.daemon import read_state

    daemon = read_state(app)
    connection = daemon.get("mailbox", "unknown")
    if scope.name and daemon.get("running"):
        connection = daemon.get("mailboxes", {}).get(scope.name, connection)
    return {
        "mailbox": redact(app.settings.mailbox.url),  # a password from the environment: ***
        "mailbox_name": scope.name,
        "connection": connection,
        "daemon_running": daemon.get("running", False),
        "daemon_pid": daemon.get("pid") if daemon.get("running") else None,
        "messages_by_category": by_category,
        "messages_by_state": by_state,
        "review": by_state.get("review", 0) + by_state.get("review-pending", 0),
        "last_message_at": local_time(last, app.settings.tz),
        # letters with registration documents the server could not let mailproc delete
        "registration_letters_in_clear": in_clear,
        "loops": daemon.get("loops", {}) if daemon.get("running") else {},
        "stalled": daemon.get("stalled", []) if daemon.get("running") else [],
        **_health(app),
        "rules": _rules(app, scope.name),
    }


def _rules(app: App, scoped: str) -> dict:
    """Each mailbox's rules (mailproc.sorting.state), by mailbox name."""
    from mailproc.sorting.state import rules_state

    apps = {scoped: app} if scoped else app.mailbox_apps()
    return {name: rules_state(box.settings, app.db) for name, box in apps.items()}


def _health(app: App) -> dict:
    from mailproc.reports.health import health_fields

    return health_fields(app)


def run(args) -> int:
    data = collect(App.from_args(args))
    if args.json:
        print_json(data)
        return 0
    name = f" ({data['mailbox_name']})" if data["mailbox_name"] else ""
    print(f"mailbox:        {data['mailbox']}{name}")
    print(f"connection:     {data['connection']}")
    print(f"last message:   {data['last_message_at'] or '-'}")
    print(f"review queue:   {data['review']}")
    if data["registration_letters_in_clear"]:
        print(f"WARNING:        {data['registration_letters_in_clear']} registration letter(s) "
              f"with documents left in the mailbox: the IMAP server has no UIDPLUS "
              f"(see registrations.without_uidplus in docs/admin.md)")
    from mailproc.sorting.state import says

    for name, state in data["rules"].items():
        label = "rules:" if len(data["rules"]) == 1 else f"rules ({name}):"
        print(f"{label:<16}{says(state)}")
    print(f"last processed: {data['last_processed_at'] or '-'}")
    print(f"to file:        {data['queue']}")
    print("outbox:         " + ", ".join(f"{k} {v}" for k, v in data["outbox"].items()))
    print(f"overdue orders: {data['overdue_orders']}")
    if data["stalled"]:
        print("STALLED:        " + ", ".join(data["stalled"]))
    for name, beat in data["loops"].items():
        error = f", {beat['error']}" if beat["error"] else ""
        print(f"loop {name}: {beat['state']} since {beat['since']}, last progress "
              f"{beat['last_progress_at']}{error}{' - STALLED' if beat['stalled'] else ''}")
    print(f"next digest:    {data['next_runs']['digest'] or '-'}")
    for m in data["next_runs"]["mailings"]:
        print(f"next mailing:   {m['at']} {m['mailing']}")
    for k, v in sorted(data["messages_by_category"].items()):
        print(f"category {k or '-'}: {v}")
    for k, v in sorted(data["messages_by_state"].items()):
        print(f"state {k}: {v}")
    return 0
