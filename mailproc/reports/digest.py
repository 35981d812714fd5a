"""The librarians' morning digest: what waits for a person, in one short Russian mail.

``build_digest`` only reads rows and returns a JSON-ready dict (the template's context);
``send_digest_if_due`` is what the scheduler calls every minute or so: on a working day, once
the digest time has passed, it queues one mail to the librarians through the outbox with the
dedupe key ``digest:YYYY-MM-DD``, so a restart, a second instance or a second call the same
day never sends a second digest (the outbox refuses the duplicate key).

"Since" is the previous working day's digest time, so Monday's digest covers the weekend.
Cases are named by their subject tag ("[НБ 2026-00042]"): searching the mailbox for it finds
every letter of the case, which is the link a mail client can follow.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from mailproc.orders import states as order_states
from mailproc.orders.models import Order
from mailproc.orders.service import overdue_orders
from mailproc.outbound.models import OutboxMessage, Suppression
from mailproc.outreach.models import MailingDelivery, MailingIssue
from mailproc.questions.models import QuestionCase
from mailproc.registrations import cases as reg_cases
from mailproc.registrations.models import RegistrationCase
from mailproc.registrations.sealed import shown
from mailproc.reports.labels import REGISTRATION_STATES, department_names
from mailproc.sorting.limits import ResponseLimit
from mailproc.tokens import Tokens
from mailproc.store.models import Message

log = logging.getLogger("mailproc.digest")

TEMPLATE = "librarians/digest"
#: items shown per list; the rest is counted ("и ещё 12")
LIMIT = 15

QUESTION_WAITING_RU = {
    "new": "нужен ответ библиотекаря", "drafted": "ответ лежит в «Черновиках»",
    "routed": "передан в отдел",
}
REVIEW_STATES = ("review", "review-pending")

#: why a loop of the daemon stalled (mailproc.faults reasons), for the librarians
STALL_REASONS_RU = (
    ("disk full", "диск сервера заполнен"), ("quota", "диск сервера заполнен"),
    ("read-only", "диск сервера доступен только для чтения"), ("I/O", "ошибка диска сервера"),
    ("database", "база данных недоступна"), ("storage", "ошибка диска сервера"),
    ("mailbox", "почтовый сервер недоступен"), ("job failed", "задание завершается с ошибкой"),
)


def _listing(items: list[dict], total: int | None = None) -> dict:
    return {"shown": items[:LIMIT], "count": len(items) if total is None else total,
            "more": max(0, (len(items) if total is None else total) - LIMIT)}


def working_calendar(settings):
    from mailproc.orders.workdays import WorkCalendar
    from mailproc.outreach.plan import parse_days

    days = parse_days(settings.digest.days)
    return WorkCalendar(settings.orders.holidays,
                        weekend=tuple(d for d in range(7) if d not in days))


def digest_moment(settings, day: date) -> datetime:
    hh, mm = (int(x) for x in settings.digest.time.split(":"))
    return datetime.combine(day, time(hh, mm), settings.tz)


def previous_digest(settings, now: datetime) -> datetime:
    """The previous working day's digest time (at most two weeks back)."""
    cal = working_calendar(settings)
    day = now.astimezone(settings.tz).date()
    for back in range(1, 15):
        d = day - timedelta(days=back)
        if cal.is_working(d):
            return digest_moment(settings, d)
    return now - timedelta(days=1)


def is_due(settings, now: datetime) -> bool:
    """A working day, and the digest time has passed in the library's zone."""
    local = now.astimezone(settings.tz)
    return (settings.digest.enabled and working_calendar(settings).is_working(local.date())
            and local >= digest_moment(settings, local.date()))


def dedupe_key(settings, now: datetime) -> str:
    return f"digest:{now.astimezone(settings.tz).date().isoformat()}"


# -- the sections -------------------------------------------------------------------------------


def _days(since: datetime | None, now: datetime) -> int:
    return max(0, (now - since).days) if since else 0


def registrations(session: Session, settings, since: datetime, now: datetime) -> dict:
    new = list(session.scalars(select(RegistrationCase)
                               .where(RegistrationCase.created_at >= since)
                               .where(RegistrationCase.created_at < now)
                               .order_by(RegistrationCase.id)))
    incomplete = list(session.scalars(
        select(RegistrationCase).where(RegistrationCase.state == "incomplete")
        .options(selectinload(RegistrationCase.documents)).order_by(RegistrationCase.id)))
    required = reg_cases.required_kinds(settings)
    complete = session.scalar(select(func.count()).select_from(RegistrationCase)
                              .where(RegistrationCase.state == "complete"))
    return {
        "new": _listing([{"tag": Tokens.subject_tag(c.token), "token": c.token,
                          "state": REGISTRATION_STATES.get(c.state, c.state)} for c in new]),
        "incomplete": _listing([{
            "tag": Tokens.subject_tag(c.token), "token": c.token, "days": _days(c.created_at, now),
            "missing": ", ".join(reg_cases.ru(reg_cases.missing_kinds(c, required)))}
            for c in incomplete]),
        "complete": complete,
    }


def orders(session: Session, settings, now: datetime, names: dict[str, str]) -> dict:
    overdue = overdue_orders(session, now)
    open_states = [s for s in order_states.ALL if s not in order_states.FINAL]
    counts = dict(session.execute(select(Order.state, func.count())
                                  .where(Order.state.in_(open_states)).group_by(Order.state)).all())
    tz = settings.tz
    return {
        "overdue": _listing([{
            "tag": Tokens.subject_tag(o.token), "token": o.token,
            "department": names.get(o.department, o.department),
            "deadline": o.deadline_at.astimezone(tz).date() if o.deadline_at else None,
            "days_late": _days(o.deadline_at, now)} for o in overdue]),
        "by_state": [{"state": s, "title": order_states.TITLES.get(s, s), "count": counts[s]}
                     for s in open_states if counts.get(s)],
        "open": sum(counts.values()),
    }


def questions(session: Session, now: datetime, names: dict[str, str]) -> dict:
    rows = list(session.scalars(select(QuestionCase)
                                .where(QuestionCase.state.in_(tuple(QUESTION_WAITING_RU)))
                                .order_by(QuestionCase.created_at)))
    return _listing([{
        "tag": Tokens.subject_tag(q.token), "token": q.token, "state": q.state,
        "title": QUESTION_WAITING_RU[q.state], "topic": q.topic,
        "department": names.get(q.department, q.department),
        "days": _days(q.created_at, now)} for q in rows])


def review(session: Session, settings) -> dict:
    rows = list(session.scalars(select(Message).where(Message.state.in_(REVIEW_STATES))
                                .order_by(Message.received_at)))
    return _listing([{
        "id": m.id, "subject": (shown(m.subject) or "(без темы)")[:80],
        "received": m.received_at.astimezone(settings.tz) if m.received_at else None,
        "reason": (m.reason or "причина не записана")[:200]} for m in rows])


def trust(session: Session, settings, since: datetime) -> dict:
    """Sender authentication (mailproc.trust): whether department mail is verified at all, and
    the letters refused for claiming a department, ЦКО or the librarians without passing it
    (still in review, or received since the last digest)."""
    from mailproc.trust.policy import REFUSED_MARK

    rows = list(session.scalars(
        select(Message).where(Message.reason.contains(REFUSED_MARK, autoescape=True))
        .where(Message.state.in_(REVIEW_STATES) | (Message.received_at >= since))
        .order_by(Message.received_at)))
    return {"unverified": not settings.trust.authserv_ids,
            "refused": _listing([{
                "id": m.id, "subject": (m.subject or "(без темы)")[:80],
                "received": m.received_at.astimezone(settings.tz) if m.received_at else None,
                "reason": m.reason.removeprefix("MessageError: ")[:300]} for m in rows])}


def failures(session: Session, since: datetime, now: datetime) -> dict:
    failed = list(session.scalars(select(OutboxMessage)
                                  .where(OutboxMessage.state.in_(("failed", "error")))
                                  .where(OutboxMessage.updated_at >= since)
                                  .order_by(OutboxMessage.id)))
    suppressed = list(session.scalars(select(Suppression).where(Suppression.since >= since)
                                      .where(Suppression.suppressed.is_(True))
                                      .order_by(Suppression.id)))
    bounces = session.scalar(select(func.count()).select_from(Message)
                             .where(Message.category == "bounce")
                             .where(Message.received_at >= since)
                             .where(Message.received_at < now))
    return {
        "failed": _listing([{
            "id": r.id, "state": r.state, "kind": r.kind, "template": r.template,
            "to": ", ".join(sorted(r.recipients or {})),
            "tag": Tokens.subject_tag(r.token) if r.token else "",
            "error": (r.error or "")[:200]} for r in failed]),
        "suppressed": _listing([{"address": r.address, "reason": (r.reason or "")[:200]}
                                for r in suppressed]),
        "bounces": bounces,
    }


def limits(session: Session, since: datetime, now: datetime) -> dict:
    """Senders whose letters reached ``rules.responses_per_sender`` since the last digest:
    how many automatic messages were withheld (``sorting.limits``)."""
    rows = session.execute(
        select(ResponseLimit.sender, func.count(), func.max(ResponseLimit.limit))
        .where(ResponseLimit.at >= since, ResponseLimit.at < now)
        .group_by(ResponseLimit.sender).order_by(func.count().desc(), ResponseLimit.sender))
    items = [{"sender": sender, "withheld": n, "limit": limit} for sender, n, limit in rows]
    return {**_listing(items), "withheld": sum(i["withheld"] for i in items)}


def mailings(session: Session, settings, now: datetime) -> dict:
    tz = settings.tz
    today = now.astimezone(tz).date()
    y_start = datetime.combine(today - timedelta(days=1), time(0), tz)
    t_start = datetime.combine(today, time(0), tz)
    issues = list(session.scalars(select(MailingIssue).where(MailingIssue.created_at >= y_start)
                                  .where(MailingIssue.created_at < t_start)
                                  .order_by(MailingIssue.id)))
    yesterday = []
    for issue in issues:
        statuses = dict(session.execute(
            select(MailingDelivery.status, func.count())
            .where(MailingDelivery.issue_id == issue.id).group_by(MailingDelivery.status)).all())
        yesterday.append({"name": issue.mailing, "state": issue.state,
                          "recipients": sum(statuses.values()),
                          "sent": statuses.get("sent", 0), "bounced": statuses.get("bounced", 0),
                          "failed": statuses.get("failed", 0)})
    today_items, problem = planned_today(settings, now)
    return {"yesterday": yesterday, "today": today_items, "plan_problem": problem}


def planned_today(settings, now: datetime) -> tuple[list[dict], str]:
    """Issues of rules/mailings.yaml that fall due later today (window applied)."""
    from mailproc.errors import LoadError
    from mailproc.outreach.plan import load_plan
    from mailproc.outreach.schedule import next_issues

    tz = settings.tz
    local = now.astimezone(tz)
    start = datetime.combine(local.date(), time(0), tz)
    try:
        plan = load_plan(settings.paths.rules, settings)
    except LoadError as exc:
        return [], "; ".join(exc.problems[:3])
    out = []
    for name, spec in sorted(plan.mailings.items()):
        for t in next_issues(spec, tz, start - timedelta(seconds=1), count=3):
            if t.astimezone(tz).date() == local.date():
                out.append({"name": name, "title": spec.title or name,
                            "time": t.astimezone(tz).strftime("%H:%M")})
    out.sort(key=lambda m: m["time"])
    return out, ""


def _stall_loop_ru(name: str) -> str:
    kind, _, rest = name.partition(" ")
    if kind == "intake":
        return f"чтение почтового ящика {rest}" if rest != "default" else "чтение почтового ящика"
    if kind == "sender":
        return "отправка писем"
    if kind == "job":
        return f"плановое задание «{rest}»"
    return f"служебный цикл «{name}»"


def stalls(settings, since: datetime, now: datetime) -> dict:
    """The daemon's stalls (mailproc.heartbeat) since the previous digest, from its state
    file (mailproc.runstate): what stopped, from when to when, why, in Russian."""
    from mailproc import runstate
    from mailproc.heartbeat import stalls_between

    state = runstate.read(runstate.path_in(settings.data_dir)) or {}
    utc = (since.astimezone(timezone.utc).isoformat(timespec="seconds"),
           now.astimezone(timezone.utc).isoformat(timespec="seconds"))
    items = []
    for record in stalls_between(state.get("stalls", []), *utc):
        error = record.get("error") or ""
        why = next((ru for needle, ru in STALL_REASONS_RU if needle in error), "")
        items.append({"what": _stall_loop_ru(record["loop"]),
                      "from": datetime.fromisoformat(record["from"]),
                      "to": datetime.fromisoformat(record["to"]) if record.get("to") else None,
                      "why": why})
    return _listing(items)


def build_digest(session: Session, settings, now: datetime) -> dict:
    """The digest's context: every section, from the rows as they are at ``now``."""
    since = previous_digest(settings, now)
    names = department_names(settings)
    digest = {
        "day": now.astimezone(settings.tz).date(),
        "since": since,
        "registrations": registrations(session, settings, since, now),
        "orders": orders(session, settings, now, names),
        "questions": questions(session, now, names),
        "review": review(session, settings),
        "trust": trust(session, settings, since),
        "failures": failures(session, since, now),
        "limits": limits(session, since, now),
        "mailings": mailings(session, settings, now),
        "stalls": stalls(settings, since, now),
    }
    digest["attention"] = (digest["orders"]["overdue"]["count"] + digest["questions"]["count"]
                           + digest["review"]["count"]
                           + digest["registrations"]["incomplete"]["count"]
                           + digest["failures"]["failed"]["count"]
                           + digest["stalls"]["count"])
    return digest


def recipient(settings) -> str:
    return settings.digest.to or settings.mail.librarians_address


def queue_digest(session: Session, settings, now: datetime) -> OutboxMessage | None:
    """Queue the digest for ``now``'s day; the same day again returns the row already queued."""
    key = dedupe_key(settings, now)
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if existing is not None:
        return existing
    from mailproc.outbound.outbox import enqueue

    context = build_digest(session, settings, now)
    row = enqueue(session, settings, to=recipient(settings), template=TEMPLATE, context=context,
                  kind="digest", dedupe_key=key)
    log.info("digest queued for %s: outbox %s, %d items need attention", key[7:],
             row.id if row is not None else "-", context["attention"])
    return row


def send_digest_if_due(app, now: datetime | None = None) -> int | None:
    """For the scheduler: queue today's digest once it is due and return its outbox id; None
    when not due or queued before (so a restart after 08:30 does not send it again)."""
    now = now or datetime.now(timezone.utc)
    if not is_due(app.settings, now):
        return None
    key = dedupe_key(app.settings, now)
    try:
        with app.db.transaction() as s:
            if s.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
                return None
            row = queue_digest(s, app.settings, now)
            return row.id if row is not None else None
    except IntegrityError:  # a second instance queued it in the same instant: the key held
        log.info("digest for %s queued by another instance", key[7:])
        return None
