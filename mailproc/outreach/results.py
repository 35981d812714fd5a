"""What became of each issue: sent, failed, bounced, unsubscribed (``mailings show``, reports).

The outbox knows what the SMTP server said and what bounced; ``sync_outcomes`` copies that
into the per-recipient log (``mailing_deliveries.status``), so that the log alone answers
"who got which issue" for the commands and the reports. A delivery is looked at again only
while it is ``queued`` or when its outbox row changed after it (a bounce days later).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailproc.outreach.models import Contact, MailingDelivery, MailingIssue

FINAL_OUTBOX_STATES = ("sent", "failed", "error", "suppressed")


def delivery_outcome(email: str, outbox_row) -> str:
    """sent, failed, bounced, error (template) or skipped, from the outbox row."""
    answer = (outbox_row.recipients or {}).get(email, {}).get("answer", "")
    if "возврат" in answer or outbox_row.error.startswith("возврат"):
        return "bounced"
    return {"sent": "sent", "failed": "failed", "error": "error",
            "suppressed": "skipped"}.get(outbox_row.state, "queued")


def sync_outcomes(s: Session) -> int:
    """Copy final outbox results into the per-recipient log; returns rows changed."""
    from mailproc.outbound.models import OutboxMessage

    rows = s.execute(
        select(MailingDelivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == MailingDelivery.outbox_id)
        .where(OutboxMessage.state.in_(FINAL_OUTBOX_STATES),
               or_(MailingDelivery.status == "queued",
                   OutboxMessage.updated_at > MailingDelivery.updated_at))).all()
    changed = 0
    for delivery, row in rows:
        outcome = delivery_outcome(delivery.email, row)
        if outcome != delivery.status:
            delivery.status = outcome
            delivery.reason = row.error[:500] if outcome != "sent" else ""
            changed += 1
    return changed


def issue_results(s: Session, issue: MailingIssue) -> dict:
    counts = Counter(dict(s.execute(
        select(MailingDelivery.status, func.count())
        .where(MailingDelivery.issue_id == issue.id)
        .group_by(MailingDelivery.status)).all()))
    unsubscribed = s.scalar(select(func.count()).select_from(Contact).where(
        Contact.id.in_(select(MailingDelivery.contact_id).where(
            MailingDelivery.issue_id == issue.id)),
        Contact.unsubscribed_at >= issue.created_at))
    return {
        "issue": issue.id, "scheduled_at": issue.scheduled_at, "state": issue.state,
        "manual": issue.manual, "recipients": issue.recipients, "note": issue.note,
        "waiting": counts["planned"] + counts["queued"], "sent": counts["sent"],
        "failed": counts["failed"] + counts["error"], "bounced": counts["bounced"],
        "skipped": counts["skipped"], "unsubscribed": unsubscribed,
        "template_errors": counts["error"],
    }


def mailing_results(s: Session, name: str) -> list[dict]:
    issues = s.scalars(select(MailingIssue).where(MailingIssue.mailing == name)
                       .order_by(MailingIssue.scheduled_at))
    return [issue_results(s, i) for i in issues]
