"""Running the plan: create due issues, snapshot their recipients, hand them to the outbox.

Exactly once per recipient and issue, whatever crashes:

1. An issue row is created once per (mailing, scheduled time) (unique), in the same
   transaction as its recipient snapshot: one ``planned`` row per eligible contact in
   ``mailing_deliveries`` (unique on issue and contact).
2. A batch of ``planned`` rows becomes ``queued`` in the transaction that puts their messages
   in the outbox (``dedupe_key`` "mailing:ISSUE:CONTACT", unique there too). A crash before
   that commit leaves them ``planned``; after it, they are the outbox's to send.
3. The outbox sender delivers; its own claim protocol covers the SMTP step.

Each message carries the list headers of its recipient (``outreach.listheaders``: List-Id,
List-Unsubscribe with the signed one-click token); the issue leaves one copy in Sent, not one
a recipient (``outreach.sentcopy``).

Several instances may share the tables: on PostgreSQL batches are claimed with
``FOR UPDATE SKIP LOCKED``; on SQLite writers are serialised by ``BEGIN IMMEDIATE``.
Throttling: at most ``outreach.batch`` recipients per issue and pass, so a large mailing
flows over several passes and replies to readers are never stuck behind it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailproc.errors import LoadError, MailprocError
from mailproc.outreach.audience import audience, ineligible_reason, outbound_suppressed
from mailproc.outreach.listheaders import list_headers
from mailproc.outreach.models import Contact, MailingDelivery, MailingIssue
from mailproc.outreach.plan import MailingSpec, Plan, load_plan
from mailproc.outreach.schedule import due_occurrences, in_window
from mailproc.outreach.sentcopy import claim_copy, copy_headers
from mailproc.store.base import utcnow

log = logging.getLogger("mailproc.outreach")


@dataclass
class MailingStats:
    issues: int = 0
    missed: int = 0
    queued: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"mailings: new issues {self.issues}, missed {self.missed}, "
                f"queued {self.queued}, skipped {self.skipped}")


def run_due_mailings(app, now: datetime | None = None, *, limit: int | None = None) -> MailingStats:
    """One pass of the plan; the daemon and ``run --once`` call this. Never raises for a
    broken plan file (the error is logged and returned; the daemon goes on)."""
    now = now or utcnow()
    stats = MailingStats()
    try:
        plan = cached_plan(app.settings)
    except LoadError as exc:
        log.error("mailing plan does not load: %d problem(s)", len(exc.problems))
        stats.errors = list(exc.problems)
        return stats
    if time.monotonic() - _last_sync.get(app.settings.database.url, -SYNC_EVERY) >= SYNC_EVERY:
        _guarded(stats, "*", _sync, app)
        _last_sync[app.settings.database.url] = time.monotonic()
    for spec in plan.mailings.values():
        _guarded(stats, spec.name, create_due_issues, app, plan, spec, now, stats)
    with app.db.session() as s:
        open_issues = list(s.execute(select(MailingIssue.id, MailingIssue.mailing,
                                            MailingIssue.manual)
                                     .where(MailingIssue.state == "sending")
                                     .order_by(MailingIssue.id)))
    for issue_id, name, manual in open_issues:
        spec = plan.mailings.get(name)
        if spec is None:
            stats.errors.append(f"выпуск {issue_id}: рассылки «{name}» больше нет в плане; "
                                f"выпуск ждёт")
            continue
        if not manual and not in_window(now, spec.window, app.settings.tz):
            continue
        _guarded(stats, name, queue_issue, app, spec, issue_id,
                 limit or app.settings.outreach.batch, stats)
    return stats


SYNC_EVERY = 60.0  # seconds between copies of outbox results into the per-recipient log
_last_sync: dict[str, float] = {}
_plans: dict[tuple, Plan] = {}


def cached_plan(settings) -> Plan:
    """The plan, read again only when mailings.yaml or groups.yaml changed (the daemon asks
    every pass)."""
    rules = Path(settings.paths.rules)
    key = (str(rules), settings.mail.timezone, settings.outreach,
           *((p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else (0, 0)
             for p in (rules / "mailings.yaml", rules / "groups.yaml")))
    if key not in _plans:
        _plans.clear()
        _plans[key] = load_plan(settings.paths.rules, settings)  # "" stays "no rules"
    return _plans[key]


def _sync(app) -> None:
    from mailproc.outreach.results import sync_outcomes
    from mailproc.outreach.sentcopy import reassign_copies

    with app.db.transaction() as s:
        sync_outcomes(s)
        reassign_copies(s)


def _guarded(stats: MailingStats, name: str, func, *args) -> None:
    """One mailing's failure (a database hiccup, a bug) must not stop the others or the
    daemon: log it, report it, retry on the next pass (everything is idempotent)."""
    try:
        func(*args)
    except Exception as exc:  # noqa: BLE001
        log.exception("mailing %s: pass failed (%s)", name, type(exc).__name__)
        stats.errors.append(f"рассылка «{name}»: ошибка {type(exc).__name__}: {exc}")


def create_due_issues(app, plan: Plan, spec: MailingSpec, now: datetime,
                      stats: MailingStats) -> list[int]:
    """Record the mailing's due and missed issues. Two instances may race here: the unique
    (mailing, scheduled_at) lets one win; the other's transaction rolls back and it goes on
    with the issue the winner created."""
    try:
        return _create_due_issues(app, plan, spec, now, stats)
    except IntegrityError:
        log.info("mailing %s: issue created by another instance", spec.name)
        return []


def _create_due_issues(app, plan: Plan, spec: MailingSpec, now: datetime,
                       stats: MailingStats) -> list[int]:
    created: list[int] = []
    with app.db.transaction() as s:
        last = s.scalar(select(func.max(MailingIssue.scheduled_at))
                        .where(MailingIssue.mailing == spec.name, MailingIssue.manual.is_(False)))
        for occ in due_occurrences(spec, app.settings.tz, last, now):
            if s.scalar(select(MailingIssue.id).where(
                    MailingIssue.mailing == spec.name,
                    MailingIssue.scheduled_at == occ.scheduled_at)) is not None:
                continue  # another instance created it
            if occ.state == "missed":
                s.add(MailingIssue(mailing=spec.name, scheduled_at=occ.scheduled_at,
                                   state="missed", note=occ.note, finished_at=now))
                log.warning("mailing issue missed: mailing=%s scheduled=%s", spec.name,
                            occ.scheduled_at.isoformat())
                stats.missed += 1
                continue
            issue = start_issue(s, plan, spec, occ.scheduled_at)
            created.append(issue.id)
            stats.issues += 1
    return created


def start_issue(s: Session, plan: Plan, spec: MailingSpec, scheduled_at: datetime,
                manual: bool = False) -> MailingIssue:
    """The issue row and its recipient snapshot, in the caller's transaction."""
    missing = [g for g in spec.groups if g not in _known_groups(s, plan)]
    contacts, left_out = audience(s, plan, spec.groups)
    note = "; ".join(f"{k}: {v}" for k, v in sorted(left_out.items()))
    if missing:
        note = f"нет групп: {', '.join(missing)}; " + note
    issue = MailingIssue(mailing=spec.name, scheduled_at=scheduled_at, state="sending",
                         manual=manual, recipients=len(contacts), note=note)
    s.add(issue)
    s.flush()
    s.add_all(MailingDelivery(issue_id=issue.id, contact_id=c.id, email=c.email)
              for c in contacts)
    s.flush()
    log.info("mailing issue %s started: mailing=%s recipients=%d", issue.id, spec.name,
             len(contacts))
    return issue


def _known_groups(s: Session, plan: Plan) -> set[str]:
    from mailproc.outreach.audience import all_groups

    return set(all_groups(s, plan))


def template_context(spec: MailingSpec, issue: MailingIssue, contact: Contact) -> dict:
    """What a mailing template sees: ``contact``, ``mailing``, ``issue``, plus the plan's
    ``context:`` values."""
    organisation = contact.organisation.name if contact.organisation else ""
    return {
        **spec.context,
        # flat names too: short to write in a template ({{ contact_name }})
        "contact_name": contact.name, "contact_email": contact.email,
        "organisation": organisation, "position": contact.position,
        "contact": {
            "name": contact.name, "email": contact.email, "position": contact.position,
            "organisation": organisation, "segment": contact.segment,
        },
        "mailing": {"name": spec.name, "title": spec.title or spec.name},
        "issue": {"id": issue.id, "date": issue.scheduled_at},
    }


def queue_issue(app, spec: MailingSpec, issue_id: int, limit: int,
                stats: MailingStats) -> int:
    """Hand up to ``limit`` planned recipients of the issue to the outbox; close the issue when
    none is left. Returns how many stay planned."""
    from mailproc.outbound.outbox import enqueue_many

    settings = app.settings
    with app.db.transaction() as s:
        issue = s.get(MailingIssue, issue_id)
        batch = list(s.scalars(
            select(MailingDelivery)
            .where(MailingDelivery.issue_id == issue_id, MailingDelivery.status == "planned")
            .order_by(MailingDelivery.id).limit(limit)
            .with_for_update(skip_locked=True)))
        contacts = {c.id: c for c in s.scalars(select(Contact).where(
            Contact.id.in_([d.contact_id for d in batch])))} if batch else {}
        suppressed = outbound_suppressed(s, [d.email for d in batch])
        if batch and not _renders(settings, spec, issue, contacts.get(batch[0].contact_id),
                                  stats):
            issue.note = stats.errors[-1]
            return len(batch)  # the issue waits for the template to be fixed
        ready: list[MailingDelivery] = []
        for d in batch:
            contact = contacts.get(d.contact_id)
            reason = "контакт удалён" if contact is None else ineligible_reason(contact,
                                                                               suppressed)
            if reason:  # changed since the snapshot: unsubscribed, bounced
                d.status, d.reason = "skipped", reason
                stats.skipped += 1
            else:
                ready.append(d)
        copy = copy_headers(issue)
        rows = enqueue_many(s, settings, [dict(
            to=d.email, template=spec.template, kind="mailing",
            context=template_context(spec, issue, contacts[d.contact_id]),
            headers=list_headers(settings, spec.name, spec.title, d.contact_id),
            sent_copy=False, copy_headers=copy,
            related=("mailing_issue", issue_id), dedupe_key=f"mailing:{issue_id}:{d.contact_id}")
            for d in ready]) if ready else []
        if rows and issue.copy_outbox_id is None:
            claim_copy(s, issue_id, rows)
        for d, row in zip(ready, rows):
            if row is None:
                d.status, d.reason = "skipped", "адрес в списке подавления"
                stats.skipped += 1
            else:
                d.status, d.outbox_id, d.message_id = "queued", row.id, row.message_id
                stats.queued += 1
        remaining = s.scalar(select(func.count()).select_from(MailingDelivery).where(
            MailingDelivery.issue_id == issue_id, MailingDelivery.status == "planned"))
        if remaining == 0 and issue.state == "sending":
            issue.state, issue.finished_at = "done", utcnow()
    if batch:
        log.info("mailing issue %s: %d handed to the outbox, %d left", issue_id, len(batch),
                 remaining)
    return remaining


def _renders(settings, spec: MailingSpec, issue: MailingIssue, contact: Contact | None,
             stats: MailingStats) -> bool:
    """Render once before queueing a batch: a broken template stops the issue (fixed, it goes
    on) instead of filling the outbox with thousands of rows in state error."""
    from mailproc.errors import TemplateError
    from mailproc.outbound.outbox import templates_for

    if contact is None:
        return True
    try:
        templates_for(settings).render(spec.template, template_context(spec, issue, contact))
    except TemplateError as exc:
        stats.errors.append(f"рассылка «{spec.name}», выпуск {issue.id}: шаблон не "
                            f"отрисовался, выпуск ждёт исправления: " + "; ".join(exc.problems))
        log.error("mailing issue %s: template %s does not render", issue.id, spec.template)
        return False
    return True


def send_now(app, name: str, now: datetime | None = None) -> tuple[int, MailingStats]:
    """``mailings send NAME``: a manual issue, queued whole at once (the window is the
    librarian's call here). Returns (issue id, stats)."""
    plan = load_plan(app.settings.paths.rules, app.settings)
    spec = plan.mailings.get(name)
    if spec is None:
        raise MailprocError(f"рассылки «{name}» нет в плане; см. mailproc mailings plan")
    stats = MailingStats()
    with app.db.transaction() as s:
        issue_id = start_issue(s, plan, spec, now or utcnow(), manual=True).id
    stats.issues = 1
    while queue_issue(app, spec, issue_id, app.settings.outreach.batch, stats):
        if stats.errors:
            raise MailprocError("\n".join(stats.errors))
    return issue_id, stats
