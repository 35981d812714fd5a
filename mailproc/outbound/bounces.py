"""Delivery-status reports about our mail: mark the outbox row, suppress dead addresses.

The report (RFC 3464, decoded into ``letter.bounce`` by the letter package) names the
original Message-ID; ours are unique per row, so the match is exact. A hard (5.x.x) bounce
suppresses the address at once; soft (4.x.x) ones count up to ``outbox.soft_bounce_limit``.
A bounce is never answered (RFC 3834 5.2): this only writes rows.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.outbound.models import OutboxMessage, Suppression

log = logging.getLogger("mailproc.outbound.bounces")


def suppress(session: Session, address: str, reason: str, *, hard: bool,
             limit: int, outbox_pk: int | None = None) -> Suppression:
    """Record one bounce for ``address``; suppressed after a hard one or ``limit`` soft ones."""
    address = address.strip().lower()
    row = session.scalar(select(Suppression).where(Suppression.address == address))
    if row is None:
        row = Suppression(address=address, soft_bounces=0, suppressed=False)
        session.add(row)
    if not hard:
        row.soft_bounces = (row.soft_bounces or 0) + 1
    if hard or row.soft_bounces >= limit:
        row.suppressed = True
    row.reason = reason
    row.outbox_pk = outbox_pk
    return row


def handle_bounce(session: Session, settings, letter) -> dict:
    """Apply ``letter.bounce`` to the outbox; returns what was done (kept in the decision)."""
    bounce = letter.bounce
    if bounce is None:
        return {"bounce": "none"}
    row = None
    if bounce.original_message_id:
        row = session.scalar(select(OutboxMessage).where(
            OutboxMessage.message_id == bounce.original_message_id.strip()))
    recipients = [a.strip().lower() for a in bounce.failed_recipients if a.strip()]
    if not recipients and row is not None and len(row.recipients) == 1:
        recipients = list(row.recipients)
    reason = " ".join(x for x in (bounce.status, bounce.diagnostic) if x) or \
        ("постоянная ошибка доставки" if bounce.permanent else "временная ошибка доставки")
    suppressed = []
    for addr in recipients:
        s = suppress(session, addr, reason, hard=bounce.permanent,
                     limit=settings.outbox.soft_bounce_limit,
                     outbox_pk=row.id if row is not None else None)
        if s.suppressed:
            suppressed.append(addr)
    if row is not None and bounce.permanent:
        recips = dict(row.recipients)
        for addr in recipients:
            if addr in recips:
                recips[addr] = {"state": "failed", "answer": f"возврат: {reason}"}
        row.recipients = recips
        if all(r.get("state") != "sent" for r in recips.values()) \
                or set(recipients) >= set(recips):
            row.state = "failed"
        row.error = f"возврат (bounce): {reason}"
    log.info("bounce for outbox %s: %d recipients, %d suppressed",
             row.id if row is not None else "unknown", len(recipients), len(suppressed))
    return {"outbox": row.id if row is not None else None, "permanent": bounce.permanent,
            "recipients": len(recipients), "suppressed": len(suppressed)}
