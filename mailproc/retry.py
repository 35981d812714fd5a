"""Running review messages again: bytes from the spool copy, else from the review folder."""

from __future__ import annotations

from mailproc.store.models import Message


def retry_messages(app, rows: list[Message]) -> list[str]:
    """Decide and act again on each message; files it out of the review folder on success."""
    out = []
    with app.source() as source:
        intake = app.intake(source)
        for row in rows:
            raw = intake.raw_for(row)
            if raw is None:
                out.append(f"{row.id}: the message is neither in the spool nor in the review "
                           f"folder; cannot retry")
                continue
            if intake.max_size and len(raw) > intake.max_size:
                out.append(f"{row.id}: still too large ({len(raw)} bytes, the limit is "
                           f"{intake.max_size})")
                continue
            out.append(f"{row.id}: {intake.retry(row, raw)}")
    return out
