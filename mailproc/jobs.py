"""The periodic work, in one place: what runs, when, and how it runs once across instances.

Two kinds:

* **Post-intake hooks** need a mailbox connection and run in that mailbox's worker thread
  after an intake pass, by the instance that holds the mailbox: the questions sync (librarians'
  answers in Sent, drafts, question reminders) before the outbox, the registrations tidy
  (originals of handed cases, hand-off copies) after it.
* **Scheduled jobs** need only the database (``JOBS``): due mailings every minute, order and
  question reminders every 15 minutes in working hours, the digest check, the daily retention
  purge. The daemon fires them with APScheduler; ``run --once`` runs those due once.

Why a ``job_runs`` table: APScheduler 3 keeps its schedule in each process, so with several
instances every one of them would fire every job. Each firing therefore first claims its
period (the minute, the quarter-hour, the day) by INSERTing ``(job, period)`` under a unique
constraint; the instance whose INSERT wins runs it, the others skip. A claim whose instance
died before finishing may be taken again after ``cluster.stale_job``. The jobs themselves are
idempotent as well (mailings by unique issues and dedupe keys, reminders by ``reminded_at``,
the digest by its dedupe key), so a second run is at worst wasted work, never a second mail.

A failing job is logged with its name and the exception type only, and never stops the loop.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mailproc.errors import ConfigError
from mailproc.store.base import Base, UTCDateTime, utcnow

log = logging.getLogger("mailproc.jobs")

class JobRun(Base):
    """One firing of a scheduled job: claimed by INSERT, finished with its outcome."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(60), default="")


OWNER = f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------------------------------------
# The schedule


def _hours(settings) -> tuple[int, int] | None:
    """``jobs.working_hours`` as minutes of the day; None means all day."""
    text = settings.jobs.working_hours.strip()
    if not text:
        return None
    try:
        start, end = (part.strip() for part in text.split("-"))
        (h1, m1), (h2, m2) = (map(int, start.split(":")), map(int, end.split(":")))
    except ValueError:
        log.warning("jobs.working_hours unreadable; reminders run all day")
        return None
    return h1 * 60 + m1, h2 * 60 + m2


def in_working_hours(settings, now: datetime) -> bool:
    span = _hours(settings)
    if span is None:
        return True
    local = now.astimezone(settings.tz)
    minute = local.hour * 60 + local.minute
    return span[0] <= minute < span[1]


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable  # (app, now) -> anything printable
    every: Callable | None = None  # settings -> seconds; interval jobs
    at: Callable | None = None  # settings -> "HH:MM" library time; daily jobs
    working_hours: bool = False

    def period(self, settings, now: datetime) -> str | None:
        """The period ``now`` falls in, or None when the job is not due at ``now``."""
        if self.working_hours and not in_working_hours(settings, now):
            return None
        if self.every is not None:
            return str(int(now.timestamp() // max(1.0, self.every(settings))))
        local = now.astimezone(settings.tz)
        hour, minute = map(int, self.at(settings).split(":"))
        if (local.hour, local.minute) < (hour, minute):
            return None
        return local.date().isoformat()


def _mailings(app, now):
    from mailproc.outreach.sending import run_due_mailings  # noqa: PLC0415

    return run_due_mailings(app, now)


def _order_reminders(app, now):
    from mailproc.orders.reminders import remind_due  # noqa: PLC0415

    return len(remind_due(app, now))


def _question_reminders(app, now):
    from mailproc.questions.watch import remind_due  # noqa: PLC0415

    return remind_due(app, now)


def _digest(app, now):
    from mailproc.reports.digest import send_digest_if_due  # noqa: PLC0415

    return send_digest_if_due(app, now)


def _retention(app, now):
    from mailproc.registrations.retention import purge_due  # noqa: PLC0415

    result = purge_due(app, now)
    with app.db.transaction() as s:  # the claims themselves are kept a month
        s.execute(delete(JobRun).where(JobRun.started_at < now - timedelta(days=30)))
    return result


#: every scheduled job, in the order ``run --once`` runs them
JOBS: tuple[Job, ...] = (
    Job("mailings", _mailings, every=lambda s: s.jobs.mailings_every),
    Job("order-reminders", _order_reminders, every=lambda s: s.jobs.reminders_every,
        working_hours=True),
    Job("question-reminders", _question_reminders, every=lambda s: s.jobs.reminders_every,
        working_hours=True),
    Job("digest", _digest, every=lambda s: s.jobs.digest_every),
    Job("retention", _retention, at=lambda s: s.jobs.retention_at),
)


# ---------------------------------------------------------------------------------------------
# Claims and running


def claim(db, job: str, period: str, stale: float, now: datetime | None = None) -> int | None:
    """Claim ``(job, period)`` for this process; the claim's id, or None when another
    instance has it (finished, or started less than ``stale`` seconds ago)."""
    now = now or utcnow()
    try:
        with db.transaction() as s:
            row = JobRun(job=job, period=period, owner=OWNER, started_at=now)
            s.add(row)
            s.flush()
            return row.id
    except IntegrityError:
        pass
    with db.transaction() as s:  # taken: free again only if its owner died mid-run
        taken = s.execute(update(JobRun).where(
            JobRun.job == job, JobRun.period == period, JobRun.finished_at.is_(None),
            JobRun.started_at < now - timedelta(seconds=stale))
            .values(owner=OWNER, started_at=now))
        if taken.rowcount != 1:
            return None
        return s.scalar(select(JobRun.id).where(JobRun.job == job, JobRun.period == period))


def finish(db, claim_id: int, outcome: str) -> None:
    with db.transaction() as s:
        s.execute(update(JobRun).where(JobRun.id == claim_id)
                  .values(finished_at=utcnow(), outcome=outcome[:60]))


def run_job(app, job: Job, now: datetime | None = None) -> str:
    """Run ``job`` if it is due and this instance wins its period: "ran", "failed",
    "not due" or "taken". Never raises."""
    now = now or datetime.now(timezone.utc)
    try:
        period = job.period(app.settings, now)
        if period is None:
            return "not due"
        claim_id = claim(app.db, job.name, period, app.settings.cluster.stale_job, now)
        if claim_id is None:
            return "taken"
    except Exception as exc:  # noqa: BLE001 - the database may be briefly away
        log.warning("job %s: claim failed: %s", job.name, type(exc).__name__)
        return "failed"
    try:
        result = job.run(app, now)
    except Exception as exc:  # noqa: BLE001 - one job's failure never stops the loop
        # the exception's text may name a reader: the type only, the trace at debug level;
        # a ConfigError's text names a setting and its fix, which the admin needs to read
        log.warning("job %s failed: %s", job.name,
                    exc if isinstance(exc, ConfigError) else type(exc).__name__)
        log.debug("job %s traceback", job.name, exc_info=True)
        _finish_quietly(app.db, claim_id, f"failed: {type(exc).__name__}")
        return "failed"
    _finish_quietly(app.db, claim_id, "ok")
    if result:
        log.info("job %s: %s", job.name, _summary(result))
    return "ran"


def _finish_quietly(db, claim_id: int, outcome: str) -> None:
    try:
        finish(db, claim_id, outcome)
    except Exception as exc:  # noqa: BLE001 - an unfinished claim only delays a retry
        log.warning("job run %d: could not record the outcome: %s", claim_id,
                    type(exc).__name__)


def _summary(result) -> str:
    """Counts only: job results may hold tokens, never names or addresses, but keep it short."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if isinstance(result, dict):
        return ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, (int, float)))
    if isinstance(result, (int, float)):
        return str(result)
    return type(result).__name__


def run_due(app, now: datetime | None = None) -> dict[str, str]:
    """Every scheduled job that is due at ``now``, once, in order (``run --once``)."""
    return {job.name: run_job(app, job, now) for job in JOBS}


# ---------------------------------------------------------------------------------------------
# Post-intake hooks (per mailbox, with its connection)


def after_intake(app, source, now: datetime | None = None) -> None:
    """The questions sync: Sent scanned for librarians' answers, drafts appended, late
    departments reminded. Before the outbox pass, so its reminders go out in that pass.
    Drafts are scoped to the mailbox the reader wrote to (mailproc.questions.drafts)."""
    _hook("questions-sync", _questions_sync, app, source, now)


def after_outbox(app, source, now: datetime | None = None) -> None:
    """The registrations tidy: originals of handed cases removed from their own mailbox
    (mailproc.registrations.originals checks the row's mailbox), hand-off copies shredded
    once the sender has finished with them."""
    _hook("registrations-tidy", _registrations_tidy, app, source, now)


def _questions_sync(app, source, now):
    from mailproc.questions.watch import sync  # noqa: PLC0415

    return sync(app, source, now)


def _registrations_tidy(app, source, now):
    from mailproc.registrations.originals import tidy  # noqa: PLC0415

    return tidy(app, source, now)


def _hook(name: str, func, app, source, now) -> None:
    from mailproc.errors import SourceUnavailable  # noqa: PLC0415

    try:
        result = func(app, source, now or datetime.now(timezone.utc))
    except SourceUnavailable:
        raise  # the mailbox is gone: the worker reconnects
    except Exception as exc:  # noqa: BLE001
        log.warning("hook %s failed: %s", name, type(exc).__name__)
        log.debug("hook %s traceback", name, exc_info=True)
        return
    if result and any(isinstance(v, int) and v for v in result.values()):
        log.info("hook %s: %s", name, _summary(result))
