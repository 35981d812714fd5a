"""A librarian resolves a review case by hand: ``orders match MESSAGE_ID TOKEN``.

The message's raw bytes were kept in the spool when it went to review; the reply is handled
as if it had matched TOKEN (checks, delivery, state), the decision is recorded, and only after
that commit is the message moved from where it sits (the review folder) to the orders folder.
"""

from __future__ import annotations

import functools

from sqlalchemy import or_, select

from mailproc.errors import MessageError
from mailproc.intake import spooled_bytes
from mailproc.letter import decode_letter
from mailproc.orders.replies import handle_reply
from mailproc.orders.service import OrderEnv
from mailproc.registrations.common import vault_or_none
from mailproc.store.base import utcnow
from mailproc.store.models import Decision, Message


def find_review_message(session, ref: str) -> Message:
    conds = [Message.message_id == ref, Message.message_id == f"<{ref.strip('<>')}>"]
    if ref.isdigit():
        conds.append(Message.id == int(ref))
    row = session.scalar(select(Message).where(or_(*conds)).order_by(Message.id.desc()))
    if row is None:
        raise MessageError(f"no message {ref}; see mailproc review list")
    return row


def match_by_hand(app, ref: str, token: str, skip_check: bool = False) -> dict:
    settings = app.settings
    with app.db.session() as s:
        row = find_review_message(s, ref)
        row_id, spool, uid = row.id, row.spool_path, row.folder_uid or row.uid
        where = row.folder or "INBOX"
    raw = spooled_bytes(spool, functools.partial(vault_or_none, settings))
    if raw is None:
        raise MessageError(f"message {row_id}: its raw bytes were not kept; cannot match it")
    letter = decode_letter(raw)
    with app.db.transaction() as s:
        env = OrderEnv.from_app(app, s, utcnow(), actor="librarian", message_pk=row_id)
        result = handle_reply(env, letter, forced_token=token, skip_check=skip_check)
        folder = result.pop("folder", "") or settings.orders.folder
        fresh = s.get(Message, row_id)
        fresh.category, fresh.rule, fresh.folder, fresh.reason = "order-reply", "", folder, ""
        s.add(Decision(message=fresh, category="order-reply", rule="orders match (librarian)",
                       actions=[{"name": "order-reply", "args": {"token": token}}],
                       results=[{"name": "order-reply", **result}]))
    new_uid = ""
    if where != folder:
        with app.source() as source:
            new_uid = source.move(uid, folder, from_folder=where)
    with app.db.transaction() as s:
        fresh = s.get(Message, row_id)
        fresh.state = "done"
        fresh.folder_uid = new_uid or fresh.folder_uid
    return {"message": row_id, "folder": folder, **result}
