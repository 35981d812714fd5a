"""Running review messages again from their kept raw bytes."""

from __future__ import annotations

from pathlib import Path

from mailproc.store.models import Message


def retry_messages(app, rows: list[Message]) -> list[str]:
    """Decide and act again on each message; files it out of the review folder on success."""
    out = []
    with app.source() as source:
        intake = app.runtime_intake(source) if hasattr(app, "runtime_intake") \
            else app.intake(source)
        for row in rows:
            raw = None
            if row.spool_path and Path(row.spool_path).exists():
                raw = Path(row.spool_path).read_bytes()
            if raw is None:
                out.append(f"{row.id}: raw message not kept ({row.reason}); cannot retry")
                continue
            result = intake.retry(row, raw)
            out.append(f"{row.id}: {result}")
    return out
