"""The statistics report's figures: plain queries over the rows of one period.

Each section counts what happened in the period by the timestamp that says it happened:
registrations received by ``created_at``, completed by ``completed_at``, cards by
``card_issued_at``; orders received by ``created_at`` and delivered by ``delivered_at``
(time to delivery = delivered_at - created_at, the wait the reader saw); questions received
by ``created_at`` and answered by ``answered_at``; mailings by the issue's ``created_at`` (the
moment it started going out). The result is a JSON-ready dict; text, JSON and HTML are views
of it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailproc.orders.models import Order
from mailproc.outreach.models import Contact, MailingDelivery, MailingIssue
from mailproc.questions.models import InformationNeed, QuestionCase
from mailproc.registrations.models import RegistrationCase
from mailproc.reports.period import Period
from mailproc.reports.stats import hours_between, summary
from mailproc.store.models import Message

#: who answered a question, from ``answered_by`` ("ready:KEY", "department:KEY", ...)
ANSWERERS = ("ready", "department", "librarian")
TOP_NEEDS = 10


def _in(column, period: Period):
    return (column >= period.start) & (column < period.end)


def _count(session: Session, model, column, period: Period) -> int:
    return session.scalar(select(func.count()).select_from(model).where(_in(column, period)))


def _grouped(session: Session, key, when, period: Period) -> dict[str, int]:
    rows = session.execute(select(key, func.count()).where(_in(when, period)).group_by(key))
    return {k or "": n for k, n in sorted(rows.all(), key=lambda r: (-r[1], r[0] or ""))}


def registrations(session: Session, period: Period) -> dict:
    R = RegistrationCase
    return {
        "received": _count(session, R, R.created_at, period),
        "complete": _count(session, R, R.completed_at, period),
        "handed": _count(session, R, R.handed_at, period),
        "cards_issued": _count(session, R, R.card_issued_at, period),
        "by_state": _grouped(session, R.state, R.created_at, period),
    }


def orders(session: Session, period: Period) -> dict:
    by_department: dict[str, dict[str, int]] = defaultdict(dict)
    for dept, state, n in session.execute(
            select(Order.department, Order.state, func.count())
            .where(_in(Order.created_at, period)).group_by(Order.department, Order.state)):
        by_department[dept or ""][state] = n
    delivered = session.execute(select(Order.department, Order.created_at, Order.delivered_at)
                                .where(_in(Order.delivered_at, period))).all()
    hours_by_dept: dict[str, list[float]] = defaultdict(list)
    for dept, created, done in delivered:
        hours_by_dept[dept or ""].append(hours_between(created, done))
    every = [h for hs in hours_by_dept.values() for h in hs]
    return {
        "received": _count(session, Order, Order.created_at, period),
        "by_state": _grouped(session, Order.state, Order.created_at, period),
        "by_department": {k: dict(sorted(v.items())) for k, v in sorted(by_department.items())},
        "delivered": len(delivered),
        "pages_delivered": session.scalar(select(func.coalesce(func.sum(Order.pages_delivered), 0))
                                          .where(_in(Order.delivered_at, period))),
        "delivery_hours": summary(every),
        "delivery_hours_by_department": {k: summary(v) for k, v in sorted(hours_by_dept.items())},
    }


def questions(session: Session, period: Period) -> dict:
    Q = QuestionCase
    answered = session.execute(select(Q.created_at, Q.answered_at, Q.answered_by)
                               .where(_in(Q.answered_at, period))).all()
    by = Counter((who or "").split(":", 1)[0] for _c, _a, who in answered)
    return {
        "received": _count(session, Q, Q.created_at, period),
        "by_topic": _grouped(session, Q.topic, Q.created_at, period),
        "by_department": _grouped(session, Q.department, Q.created_at, period),
        "by_state": _grouped(session, Q.state, Q.created_at, period),
        "answered": len(answered),
        "answered_by": {k: by.get(k, 0) for k in ANSWERERS},
        "answer_hours": summary([hours_between(c, a) for c, a, _w in answered]),
    }


def needs(session: Session, period: Period) -> dict:
    N = InformationNeed
    label = func.coalesce(func.nullif(N.title, ""), func.nullif(N.topic, ""), N.text)
    top = session.execute(
        select(N.kind, label, func.count()).where(_in(N.created_at, period))
        .group_by(N.kind, label).order_by(func.count().desc(), label).limit(TOP_NEEDS)).all()
    return {
        "total": _count(session, N, N.created_at, period),
        "by_kind": _grouped(session, N.kind, N.created_at, period),
        "top": [{"kind": k, "what": (w or "")[:200], "count": n} for k, w, n in top],
    }


def mailings(session: Session, period: Period) -> dict:
    rows = session.execute(
        select(MailingIssue.mailing, MailingDelivery.status, func.count())
        .join(MailingDelivery, MailingDelivery.issue_id == MailingIssue.id)
        .where(_in(MailingIssue.created_at, period))
        .group_by(MailingIssue.mailing, MailingDelivery.status)).all()
    by_mailing: dict[str, dict[str, int]] = defaultdict(dict)
    totals: Counter = Counter()
    for name, status, n in rows:
        by_mailing[name][status] = n
        totals[status] += n
    return {
        "issues": _count(session, MailingIssue, MailingIssue.created_at, period),
        "sent": totals.get("sent", 0),
        "bounced": totals.get("bounced", 0),
        "failed": totals.get("failed", 0),
        "by_mailing": {k: dict(sorted(v.items())) for k, v in sorted(by_mailing.items())},
        "unsubscribed": _count(session, Contact, Contact.unsubscribed_at, period),
    }


def messages(session: Session, period: Period) -> dict:
    return {
        "received": _count(session, Message, Message.received_at, period),
        "by_category": _grouped(session, Message.category, Message.received_at, period),
    }


def report_figures(session: Session, period: Period,
                   names: dict[str, dict[str, str]] | None = None) -> dict:
    """Every figure of the statistics report for one period, as a JSON-ready dict; ``names``
    (``{"departments": {key: name}, "topics": {key: title}}``) travels along for the views."""
    names = names or {}
    return {
        "period": period.to_json(),
        "names": {"departments": dict(names.get("departments", {})),
                  "topics": dict(names.get("topics", {}))},
        "messages": messages(session, period),
        "registrations": registrations(session, period),
        "orders": orders(session, period),
        "questions": questions(session, period),
        "needs": needs(session, period),
        "mailings": mailings(session, period),
    }
