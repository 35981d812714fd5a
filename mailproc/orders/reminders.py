"""Reminders: an order ``requested`` past its department's deadline gets ONE reminder to the
department and becomes ``overdue`` (shown by ``orders list`` and the digest). The reminder is
threaded to our request and carries the token, so the answer to it matches like any reply."""

from __future__ import annotations

from datetime import datetime
from sqlalchemy import select

from mailproc.orders import states as st
from mailproc.orders.models import Order, OrderRef
from mailproc.orders.service import OrderEnv, order_context, record


def remind_in(env: OrderEnv) -> list[str]:
    """Remind for every order due at ``env.now``; returns their tokens."""
    due = list(env.session.scalars(select(Order).where(
        Order.state == st.REQUESTED, Order.deadline_at < env.now,
        Order.reminded_at.is_(None)).order_by(Order.id)))
    for order in due:
        request = env.session.scalar(select(OrderRef.message_id).where(
            OrderRef.order_id == order.id, OrderRef.purpose == "request"))
        dept = env.directory.department(order.department) if env.directory else None
        row = env.outbox(
            to=order.department_address, template="department/reminder", kind="request",
            context={**order_context(order), "order": order_context(order),
                     "department": dept.name if dept else order.department,
                     "department_key": order.department,
                     "sent_on": order.requested_at.astimezone(env.settings.tz).date(),
                     "days_waiting": (env.now - order.requested_at).days,
                     "deadline": order.deadline_at.astimezone(env.settings.tz).date()},
            headers={"In-Reply-To": request, "References": request} if request else None,
            token=order.token, token_kind="o", related=("order", order.id),
            dedupe_key=f"order:{order.token}:reminder")
        if row is not None:
            env.session.add(OrderRef(message_id=row.message_id, order_id=order.id,
                                     purpose="reminder", to_addr=order.department_address))
        order.reminded_at = env.now
        record(env, order, "reminded", st.OVERDUE)
    return [o.token for o in due]


def remind_due(app, now: datetime) -> list[str]:
    """The scheduler's call: one transaction, reminders queued in the outbox."""
    with app.db.transaction() as s:
        return remind_in(OrderEnv.from_app(app, s, now, actor="scheduler"))
