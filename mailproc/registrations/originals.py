"""The registrations tidy after each intake pass: readers' documents out of the shared
mailbox, and the outbox's clear copy of the documents shredded once it has been sent.

A mailbox side effect, so it runs after the commits that asked for it, never inside them:
``tidy`` is called after an intake batch and its outbox pass (mailproc.jobs.after_outbox), by
``mailproc registrations purge`` and by the demo. The mailbox steps themselves (a letter
replaced by a stub without its documents, every copy of a destroyed case's letters deleted)
are mailproc.registrations.redaction.
"""

from __future__ import annotations

from datetime import datetime

from mailproc.registrations.redaction import run_steps


def tidy(app, source=None, now: datetime | None = None) -> dict:
    """The one call after an intake batch and its outbox pass."""
    steps = run_steps(app, source, now) if source is not None else {
        "redacted": 0, "removed": 0, "anonymised": 0}
    return {**steps, "outbox_copies": shred_sent_handoffs(app, now)}


def shred_sent_handoffs(app, now: datetime | None = None) -> int:
    """Shred the outbox's clear copy of every hand-off the sender has finished with, and
    blank the sent rows of cases whose data was destroyed (``forget``), after which the
    database drops the old bytes."""
    from mailproc.registrations.forget import scrub_outbox, take_wal_dirty
    from mailproc.registrations.retention import shred_handoff_blobs
    from mailproc.store.base import utcnow

    with app.db.transaction() as s:
        shredded = shred_handoff_blobs(s, app.settings, now or utcnow())
        blanked = scrub_outbox(s, app.settings)
    if take_wal_dirty() | bool(blanked):  # both: the flag is reset either way
        app.db.forget_freed()
    return shredded
