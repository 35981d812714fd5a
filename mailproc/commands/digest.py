"""``mailproc digest``: show the librarians' morning digest, or queue it with ``--send``.

Without ``--send`` nothing is written: the digest is rendered from the template and printed.
``--send`` queues it in the outbox under the day's dedupe key (a digest the scheduler already
queued that day is not queued twice); the daemon or ``mailproc run --once`` delivers it.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from mailproc.app import App
from mailproc.commands.output import print_json
from mailproc.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("digest", help="the librarians' daily digest: print it or --send it")
    p.add_argument("--send", action="store_true", help="queue it for the librarians' address")
    p.add_argument("--date", metavar="YYYY-MM-DD",
                   help="build it as on that day at the digest time (default: now)")
    p.add_argument("--json", action="store_true", help="print the digest's figures as JSON")
    p.set_defaults(func=run)


def moment(app: App, text: str | None) -> datetime:
    from mailproc.reports.digest import digest_moment

    if not text:
        return datetime.now(timezone.utc)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text}: expected YYYY-MM-DD") from None
    return digest_moment(app.settings, day)


def run(args) -> int:
    from mailproc.outbound.outbox import from_json, templates_for, to_json
    from sqlalchemy import select

    from mailproc.outbound.models import OutboxMessage
    from mailproc.reports.digest import (TEMPLATE, build_digest, dedupe_key, queue_digest,
                                         recipient)

    app = App.from_args(args)
    now = moment(app, args.date)
    if args.send:
        with app.db.transaction() as s:
            before = s.scalar(select(OutboxMessage).where(
                OutboxMessage.dedupe_key == dedupe_key(app.settings, now)))
            if before is not None:
                print(f"digest for {now.astimezone(app.settings.tz).date()} was queued before: "
                      f"outbox {before.id} ({before.state})")
                return 0
            row = queue_digest(s, app.settings, now)
            done = (row.id, row.state) if row is not None else None
        if done is None:
            print(f"digest not queued: {recipient(app.settings)} is suppressed")
            return 1
        print(f"digest queued as outbox {done[0]} ({done[1]}) for {recipient(app.settings)}")
        return 0
    with app.db.session() as s:
        context = build_digest(s, app.settings, now)
    if args.json:
        print_json(to_json(context))
        return 0
    rendered = templates_for(app.settings).render(TEMPLATE, from_json(to_json(context)))
    print(f"Тема: {rendered.subject}\n\n{rendered.text}")
    return 0
