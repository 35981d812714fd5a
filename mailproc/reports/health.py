"""Extra figures for ``mailproc status``: what waits and when the scheduler runs next."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from mailproc.localtime import local_time


def next_digest(settings, now: datetime, queued_today: bool = False) -> datetime | None:
    """When the next digest goes: ``now`` if today's is due and not queued yet."""
    from mailproc.reports.digest import digest_moment, is_due, working_calendar

    if not settings.digest.enabled:
        return None
    if is_due(settings, now) and not queued_today:
        return now
    cal = working_calendar(settings)
    day = now.astimezone(settings.tz).date()
    for ahead in range(0, 15):
        d = day + timedelta(days=ahead)
        if cal.is_working(d) and digest_moment(settings, d) > now:
            return digest_moment(settings, d)
    return None


def next_mailings(settings, now: datetime, count: int = 3) -> list[dict]:
    from mailproc.errors import LoadError
    from mailproc.outreach.plan import load_plan
    from mailproc.outreach.schedule import next_issues

    try:
        plan = load_plan(settings.paths.rules, settings)
    except LoadError:
        return []
    found = [{"mailing": name, "at": local_time(t, settings.tz)}
             for name, spec in plan.mailings.items()
             for t in next_issues(spec, settings.tz, now, count=1)]
    return sorted(found, key=lambda m: m["at"])[:count]


def health_fields(app, now: datetime | None = None) -> dict:
    """Queue and outbox lengths, overdue orders, last message processed, next runs; the
    counts of the mailbox ``--mailbox`` names, else of every mailbox (mailproc.scope)."""
    from mailproc.orders.models import Order
    from mailproc.orders.service import overdue_orders
    from mailproc.outbound.models import OutboxMessage
    from mailproc.reports.digest import dedupe_key
    from mailproc.scope import mailbox_scope
    from mailproc.store.models import Message

    now = now or datetime.now(timezone.utc)
    scope = mailbox_scope(app)
    with app.db.session() as s:
        outbox = dict(s.execute(select(OutboxMessage.state, func.count())
                                .where(OutboxMessage.state.in_(("queued", "sending", "error",
                                                                "failed")),
                                       scope.outbox())
                                .group_by(OutboxMessage.state)).all())
        queue = s.scalar(select(func.count()).select_from(Message)
                         .where(Message.state == "decided", scope.messages()))
        last = s.scalar(select(func.max(Message.updated_at))
                        .where(Message.state == "done", scope.messages()))
        overdue = len(overdue_orders(s, now, scope.through_message(Order.source_message_pk)))
        queued_today = s.scalar(select(OutboxMessage.id).where(
            OutboxMessage.dedupe_key == dedupe_key(app.settings, now))) is not None
    digest = next_digest(app.settings, now, queued_today)
    return {
        "last_processed_at": local_time(last, app.settings.tz),
        "queue": queue,
        "outbox": {"queued": outbox.get("queued", 0), "sending": outbox.get("sending", 0),
                   "error": outbox.get("error", 0), "failed": outbox.get("failed", 0)},
        "overdue_orders": overdue,
        "next_runs": {"digest": local_time(digest, app.settings.tz),
                      "mailings": next_mailings(app.settings, now)},
    }
