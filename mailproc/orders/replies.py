"""A department's (or the ЛОД duty's) reply: find its order, then deliver or move the order.

Candidates are fetched by indexed lookups only (thread Message-IDs in ``order_refs``, tokens
in ``orders.token``, the sender's department's open orders), so matching costs the same with
ten or ten thousand orders open; the choice itself is the pure ``matching.match_reply``.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.mailbox.partial import letter_attachment_bytes
from mailproc.orders import states as st
from mailproc.orders.checks import check_delivery, not_scans, not_scans_reason, page_files
from mailproc.orders.matching import (Match, OrderView, ReplyFacts, match_reply, reply_words,
                                      state_from_text)
from mailproc.orders.models import Order, OrderRef, OrderWord
from mailproc.orders.routing import sender_department
from mailproc.orders.service import OrderEnv, get_order, notify_reader, record, words_of

#: waiting orders fetched only to be named when a reply is ambiguous
LISTED_CANDIDATES = 10


def thread_ids(letter) -> tuple[str, ...]:
    return tuple(m for m in [letter.in_reply_to, *reversed(letter.references)] if m)


def reply_facts(env: OrderEnv, letter) -> ReplyFacts:
    dept, is_lod = sender_department(env.directory, letter.sender.email)
    return ReplyFacts(
        sender=letter.sender.email.lower(), sender_department=dept, is_lod=is_lod,
        thread_ids=thread_ids(letter), tokens=tuple(env.tokens.find_in_letter(letter)),
        words=reply_words(subject=letter.subject, text=letter.text,
                          attachment_names=[a.name for a in letter.all_attachments()]))


def view(order: Order, directory, ref_ids=(), words: bool = True) -> OrderView:
    dept = directory.department(order.department) if order.department else None
    addresses = set(dept.all_addresses()) if dept else set()
    if order.department_address:
        addresses.add(order.department_address.lower())
    return OrderView(order.token, order.state, order.department, frozenset(addresses),
                     words_of(order) if words else frozenset(), frozenset(ref_ids))


def candidates(env: OrderEnv, reply: ReplyFacts) -> tuple[dict[str, Order], dict[int, set[str]],
                                                         set[int]]:
    """Orders a reply could belong to, by indexed lookups: ({token: Order}, {order id: the
    thread Message-IDs that name it}, ids of orders fetched only to be named in a review).

    Without a token, only orders owning a reply word that no other waiting order of the
    department has are fetched: those are exactly the ones the matcher can name, so the work
    per reply does not grow with the number of open orders."""
    s = env.session
    found: dict[int, Order] = {}
    refs: dict[int, set[str]] = {}
    if reply.thread_ids:
        for ref in s.scalars(select(OrderRef).where(OrderRef.message_id.in_(reply.thread_ids))):
            refs.setdefault(ref.order_id, set()).add(ref.message_id)
        if refs:
            found.update((o.id, o) for o in s.scalars(select(Order).where(Order.id.in_(refs))))
    tokens = {h.token for h in reply.tokens}
    if tokens:
        found.update((o.id, o) for o in s.scalars(select(Order).where(Order.token.in_(tokens))))
    listing: set[int] = set()
    if (reply.sender_department or reply.is_lod) and not refs and not tokens:
        waiting = [Order.state.in_(st.AWAITING_DEPARTMENT)]
        if not reply.is_lod:
            waiting.append(Order.department == reply.sender_department)
        owners = _unique_owners(s, reply.words, waiting)
        if owners:
            found.update((o.id, o) for o in s.scalars(select(Order).where(Order.id.in_(owners))))
        # a few more, named in the review reason when nothing tells the orders apart
        # (no ORDER BY: any few will do, and a sort would grow with the open orders)
        for o in s.scalars(select(Order).where(*waiting).limit(LISTED_CANDIDATES)):
            if o.id not in found:
                found[o.id] = o
                listing.add(o.id)
    return {o.token: o for o in found.values()}, refs, listing


def _unique_owners(s, words, waiting) -> set[int]:
    """Waiting orders owning a reply word that no other waiting order has. Driven from the
    word index (owners of these words only), never from the department's open orders."""
    if not words:
        return set()
    owners: dict[int, set[str]] = {}
    for word, order_id in s.execute(select(OrderWord.word, OrderWord.order_id)
                                    .where(OrderWord.word.in_(sorted(words)))):
        owners.setdefault(order_id, set()).add(word)
    if not owners:
        return set()
    live = set(s.scalars(select(Order.id).where(Order.id.in_(list(owners)), *waiting)))
    df = Counter(w for oid in live for w in owners[oid])
    return {oid for oid in live if any(df[w] == 1 for w in owners[oid])}


def find_order(env: OrderEnv, letter) -> tuple[Match, dict[str, Order]]:
    reply = reply_facts(env, letter)
    orders, refs, listing = candidates(env, reply)
    views = [view(o, env.directory, refs.get(o.id, ()), words=o.id not in listing)
             for o in orders.values()]
    return match_reply(reply, views), orders


def handle_reply(env: OrderEnv, letter, *, forced_token: str = "",
                 skip_check: bool = False) -> dict:
    """Match a reply and act on it; MessageError (-> review) when no single order fits or the
    files fail their check. Returns the result kept in the decision, with ``folder``."""
    if forced_token:
        order = get_order(env.session, forced_token)
        if order is None:
            raise MessageError(f"no order {forced_token}")
        match = Match("match", order.token, "librarian", (order.token,), ["chosen by hand"])
    else:
        match, orders = find_order(env, letter)
        if match.outcome == "none" and not match.refused_tokens:
            # no order token, no thread to our requests, no open order of the sender's
            # department: some other business of the department's (a card number, an answer
            # to a routed question); the rules' own filing stands
            return {"result": "not an order reply", "evidence": match.evidence}
        if match.outcome != "match":
            raise MessageError(match.reason())
        order = orders[match.token]
    result = {"order": order.token, "matched_by": match.how, "evidence": match.evidence}
    if letter.sender.email.lower() == order.reader_email and not forced_token:
        return {**result, "reader_followup": True, "state": order.state}
    if order.state not in st.AWAITING_DEPARTMENT:
        raise MessageError(f"reply for order {order.token}, which is {order.state}: "
                           f"nothing waits for it; read it")
    files = page_files(letter.all_attachments())
    if not files:
        return {**result, **_answer_without_files(env, order, letter)}
    return {**result, **deliver(env, order, letter, skip_check=skip_check)}


def _answer_without_files(env: OrderEnv, order: Order, letter) -> dict:
    new = state_from_text(letter.text)
    if new == st.CANNOT_FULFIL:
        record(env, order, "department-cannot-fulfil", st.CANNOT_FULFIL)
        notify_reader(env, order, "reader/order_cannot_fulfil",
                      reason="издания нет в фонде или его не удалось найти")
    elif new == st.SENT_TO_LOD:
        if order.state != st.SENT_TO_LOD:
            record(env, order, "sent-to-lod", st.SENT_TO_LOD)
    else:
        raise MessageError(f"reply for order {order.token} has no photo or scan and no known "
                           f"answer (not found, passed to the digitisation lab); read it")
    return {"state": order.state, "folder": env.settings.orders.folder}


def deliver(env: OrderEnv, order: Order, letter, *, skip_check: bool = False) -> dict:
    """Check the photos or scans and forward them byte for byte to the reader, under rebuilt
    names; a file of a type a scan cannot be sends the reply to review (``checks.not_scans``).
    A librarian who has looked at them may skip the page-count check (never the empty/type
    checks)."""
    from mailproc.outbound.outbox import OutAttachment

    files = page_files(letter.all_attachments())
    bad = not_scans(files, env.settings.orders.forward_types)
    if bad:
        raise MessageError(not_scans_reason(order.token, bad))
    for a in files:  # a large message was decided from its structure: fetch the files now
        letter_attachment_bytes(letter, a)
    check = check_delivery(files, 0 if skip_check else order.pages_count)
    if not check.ok:
        raise MessageError(f"order {order.token}: files not sent to the reader: "
                           + "; ".join(check.problems))
    record(env, order, "received", st.RECEIVED,
           note=f"{len(files)} file(s), {check.pages_found} page(s)")
    # names rebuilt and typed by the bytes (OutAttachment), never the department's as written
    out = [OutAttachment(a.name, a.type, a.data, fallback=f"{order.token}-{i}")
           for i, a in enumerate(files, 1)]
    notify_reader(env, order, "reader/scan_delivered", attachments=out,
                  files=len(out), file_names=[a.name for a in out],
                  pages_found=check.pages_found)
    order.delivered_at = env.now
    order.pages_delivered = check.pages_found or order.pages_count
    record(env, order, "delivered", st.DELIVERED)
    return {"state": order.state, "files": len(out), "folder": env.settings.orders.folder}
