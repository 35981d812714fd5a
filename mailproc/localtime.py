"""Times as people read them: a stored UTC time in ``mail.timezone``, with its offset.

The database keeps every time in UTC (mailproc.store.base). Everything a command prints, as
text or JSON, goes through ``local_time``, so one printout never mixes UTC with local time, and each
value carries its offset, as RFC 3339 (section 5.6) writes it with a space for the ``T``:
``2026-12-02 18:20:05+09:00``. ``datetime.fromisoformat`` reads it back.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo


def local_time(value: datetime | None, tz: tzinfo) -> str | None:
    """``value`` in ``tz`` to the second with its offset; None stays None. A naive value is
    taken as UTC, as the database stores it."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz).isoformat(sep=" ", timespec="seconds")
