"""Orders in the database: create, move between states, ask departments, deliver to readers.

Everything here runs inside the caller's transaction (a message's, or a command's), so an
order, its events and the mail it causes commit or vanish together. Mail goes through the
outbox only; nothing here talks to a server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailproc.errors import MessageError
from mailproc.logs import about
from mailproc.orders import states as st
from mailproc.orders.cap import CapCheck, check_cap
from mailproc.orders.matching import order_words
from mailproc.orders.models import Order, OrderEvent, OrderRef, OrderWord
from mailproc.orders.parse import MISSING_RU, ParsedRequest, work_key
from mailproc.orders.routing import route
from mailproc.orders.workdays import WorkCalendar
from mailproc.store.counters import next_token

log = logging.getLogger("mailproc.orders")


def load_directory_for(settings):
    from mailproc.sorting.directory import load_directory

    return load_directory(Path(settings.paths.rules) / "departments.yaml")


@dataclass
class OrderEnv:
    """What order operations need; built from an action's context or from the App."""

    session: Session
    settings: Any
    directory: Any  # mailproc.sorting.directory.Directory
    tokens: Any  # mailproc.tokens.Tokens
    now: datetime
    message_pk: int | None = None
    actor: str = "mailproc"
    enqueue: Any = None

    @classmethod
    def from_ctx(cls, ctx) -> "OrderEnv":
        return cls(ctx.session, ctx.settings, ctx.directory, ctx.tokens, ctx.now,
                   getattr(ctx.message, "id", None), enqueue=ctx.enqueue)

    @classmethod
    def from_app(cls, app, session: Session, now: datetime, *, actor: str,
                 message_pk: int | None = None) -> "OrderEnv":
        """For commands and the scheduler: the departments file as it is now."""
        from mailproc.tokens import Tokens

        directory = load_directory_for(app.settings)
        return cls(session, app.settings, directory, Tokens.from_settings(app.settings), now,
                   message_pk=message_pk, actor=actor)

    def outbox(self, **kw):
        enqueue = self.enqueue
        if enqueue is None:
            from mailproc.outbound.outbox import enqueue
        return enqueue(self.session, self.settings, **kw)

    @property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.settings.orders.holidays)


# -- state and history ------------------------------------------------------------------------


def record(env: OrderEnv, order: Order, event: str, state: str | None = None,
           note: str = "") -> None:
    """Keep one change; a state move not in the table is a bug and raises."""
    old = order.state
    if state is not None and state != old:
        if not st.can_move(old, state):
            raise MessageError(f"order {order.token}: cannot go from {old} to {state}")
        order.state = state
    order.updated_at = env.now
    env.session.add(OrderEvent(order=order, at=env.now, event=event, state_from=old,
                               state_to=order.state, message_pk=env.message_pk,
                               actor=env.actor, note=note))
    # the token, not the row id: the id is None until the flush after "created"
    log.info("order %s %s: %s -> %s", order.token, event, old, order.state,
             extra=about(order=order.token, message_pk=env.message_pk))


def create_order(env: OrderEnv, req: ParsedRequest, *, reader_email: str, reader_name: str = "",
                 reader_card: str = "", notes: str = "", reader_message_id: str = "",
                 reader_subject: str = "") -> Order:
    year = env.now.astimezone(env.settings.tz).year
    order = Order(
        token=next_token(env.session, "o", year), state=st.NEW, kind=req.kind,
        reader_email=reader_email.lower(), reader_name=reader_name,
        reader_card=reader_card or req.card, author=req.author, title=req.title,
        year=req.year, shelf_mark=req.shelf_mark, fund_code=req.fund_code,
        journal=req.journal, issue=req.issue, work_key=work_key(req.author, req.title),
        pages=req.pages, pages_count=req.pages_count, book_pages=req.book_pages,
        wants_scan=req.wants_scan, notes=notes, missing=",".join(req.missing),
        reader_message_id=reader_message_id, reader_subject=reader_subject,
        source_message_pk=env.message_pk, created_at=env.now, updated_at=env.now)
    env.session.add(order)
    record(env, order, "created", note=f"missing: {order.missing}" if order.missing else "")
    env.session.flush()
    index_words(env.session, order)
    return order


def index_words(session: Session, order: Order) -> None:
    """(Re)write the order's words in ``order_words`` (see matching.order_words)."""
    session.execute(delete(OrderWord).where(OrderWord.order_id == order.id))
    session.add_all(OrderWord(order_id=order.id, word=w[:120]) for w in sorted(words_of(order)))


def words_of(order: Order) -> frozenset[str]:
    return order_words(title=order.title, author=order.author, journal=order.journal,
                       shelf_mark=order.shelf_mark, pages=order.pages)


def display_title(order: Order) -> str:
    """The title as letters name the item: an article without one by its journal and issue."""
    if order.title:
        return order.title
    if order.journal:
        return f"{order.journal}" + (f", № {order.issue}" if order.issue else "") \
            + (f", {order.year}" if order.year else "")
    return "(без названия)"


def order_context(order: Order) -> dict:
    """What templates see of an order (names as the shipped templates use them)."""
    return {
        "token": order.token, "kind": order.kind, "state": order.state,
        "state_title": st.TITLES.get(order.state, order.state),
        "reader_name": order.reader_name or "уважаемый читатель",
        # templates write "{{ author }}. {{ title }}": no second full stop after initials
        "reader_card": order.reader_card, "author": order.author.rstrip(". "),
        "title": display_title(order), "year": order.year,
        "shelfmark": order.shelf_mark or order.fund_code, "fund_code": order.fund_code,
        "journal": order.journal, "issue": order.issue, "pages": order.pages or "по заказу",
        "pages_count": order.pages_count, "book_pages": order.book_pages,
        "scan_needed": order.wants_scan, "notes": order.notes,
    }


def _reader_thread(order: Order) -> dict[str, str]:
    if not order.reader_message_id:
        return {}
    return {"In-Reply-To": order.reader_message_id, "References": order.reader_message_id}


def notify_reader(env: OrderEnv, order: Order, template: str, *, in_reply_to=None,
                  attachments=(), **extra):
    """Mail the reader about the order, threaded to their request, carrying the order token
    so their answer finds the order."""
    return env.outbox(
        to=order.reader_email, template=template, kind="reply",
        context={**order_context(order), "order": order_context(order), **extra},
        in_reply_to=in_reply_to,
        headers=None if in_reply_to is not None else _reader_thread(order),
        attachments=attachments, token=order.token, token_kind="o",
        auto_submitted="auto-replied", related=("order", order.id),
        dedupe_key=f"order:{order.token}:{template}:{env.message_pk or env.now.isoformat()}")


# -- submitting: details, the cap, routing, the request ---------------------------------------


def pages_before(session: Session, order: Order) -> int:
    """Pages of the same work this reader already has or has on order (the 30% cap)."""
    if not order.work_key.strip("|"):
        return 0
    rows = session.execute(select(Order.state, Order.pages_count, Order.pages_delivered).where(
        Order.reader_email == order.reader_email, Order.work_key == order.work_key,
        Order.id != order.id, Order.state.in_(st.COUNTS_FOR_CAP)))
    return sum((delivered or count) if state == st.DELIVERED else count
               for state, count, delivered in rows)


def cap_for(env: OrderEnv, order: Order) -> CapCheck:
    return check_cap(kind=order.kind, book_pages=order.book_pages, requested=order.pages_count,
                     before=pages_before(env.session, order), share=env.settings.orders.cap_share)


def submit(env: OrderEnv, order: Order, *, in_reply_to=None) -> dict:
    """Take a new order as far as it can go: ask the reader what is missing, refuse it over
    the cap, or send the request to the department that holds the fund."""
    if order.missing:
        record(env, order, "needs-details", st.NEEDS_DETAILS, note=order.missing)
        notify_reader(env, order, "reader/order_needs_details", in_reply_to=in_reply_to,
                      missing=[MISSING_RU[m] for m in order.missing.split(",") if m])
        return {"order": order.token, "state": order.state, "missing": order.missing}
    if order.state == st.NEEDS_DETAILS:
        record(env, order, "details-complete", st.NEW)
    cap = cap_for(env, order)
    if not cap.allowed:
        record(env, order, "over-cap", st.CANNOT_FULFIL,
               note=f"{cap.before}+{cap.requested} pages > {cap.limit} of {cap.book_pages}")
        notify_reader(env, order, "reader/order_over_cap", in_reply_to=in_reply_to,
                      # what the reader has asked for from this book in all, this included
                      requested_pages=cap.before + cap.requested, total_pages=cap.book_pages,
                      allowed_pages=cap.limit, cap={"book_pages": cap.book_pages, "limit": cap.limit,
                           "before": cap.before, "requested": cap.requested, "left": cap.left,
                           "percent": round(env.settings.orders.cap_share * 100)})
        return {"order": order.token, "state": order.state, "over_cap": True}
    dept = route(env.directory, fund_code=order.fund_code, kind=order.kind,
                 articles_department=env.settings.orders.articles_department)
    if dept is None or not dept.address:
        raise MessageError(f"order for fund code {order.fund_code or '(none)'}: no department "
                           f"with an address holds it in rules/departments.yaml; add the code "
                           f"there, then retry")
    send_request(env, order, dept)
    return {"order": order.token, "state": order.state, "department": dept.key}


def send_request(env: OrderEnv, order: Order, dept) -> None:
    order.department = dept.key
    order.department_address = dept.address
    days = dept.deadline_days or env.settings.orders.deadline_days
    order.requested_at = env.now
    order.deadline_at = env.calendar.deadline(env.now, days, env.settings.tz)
    row = env.outbox(
        to=dept.address, template="department/fragment_request", kind="request",
        context={**order_context(order), "order": order_context(order),
                 "department": dept.name, "department_key": dept.key,
                 "deadline": order.deadline_at.astimezone(env.settings.tz).date(),
                 "lod": env.directory.lod},
        token=order.token, token_kind="o", related=("order", order.id),
        dedupe_key=f"order:{order.token}:request")
    if row is not None:
        env.session.add(OrderRef(message_id=row.message_id, order_id=order.id,
                                 purpose="request", to_addr=dept.address))
    record(env, order, "requested", st.REQUESTED, note=f"to department {dept.key}")


def cancel(env: OrderEnv, order: Order, note: str = "") -> None:
    if order.state in st.FINAL:
        raise MessageError(f"order {order.token} is already {order.state}")
    record(env, order, "cancelled", st.CANCELLED, note=note)


def get_order(session: Session, token: str) -> Order | None:
    return session.scalar(select(Order).where(Order.token == token))


def count_by_state(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all())


def overdue_orders(session: Session, now: datetime, *where) -> list[Order]:
    """Orders a department has not answered in time (reminded, or past the deadline and not
    yet reminded): for ``orders list``, ``status`` and the librarians' digest; ``where``
    narrows them further (one mailbox's, mailproc.scope)."""
    return list(session.scalars(select(Order).where(
        (Order.state == st.OVERDUE)
        | (Order.state.in_(st.AWAITING_DEPARTMENT) & (Order.deadline_at < now)), *where)
        .order_by(Order.deadline_at)))
