"""Report periods: a calendar month or a range of days in the library's time zone.

A period is half-open in UTC, ``[start, end)``, so a row stamped exactly at midnight belongs
to one day only, and the boundaries follow the library's zone (Yakutsk), not the server's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    first: date  # first local day, included
    last: date  # last local day, included
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), self.tz)

    def to_json(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "timezone": str(self.tz)}


def month(text: str, tz: ZoneInfo) -> Period:
    """``2026-11`` -> 1-30 November 2026."""
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month {text!r}: expected YYYY-MM such as 2026-11")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), tz)


def days(first: str, last: str, tz: ZoneInfo) -> Period:
    """``--from 2026-11-01 --to 2026-11-15``: both days included."""
    try:
        a, b = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise ValueError(f"dates {first!r}, {last!r}: expected YYYY-MM-DD") from None
    if b < a:
        raise ValueError(f"--to {last} is before --from {first}")
    return Period(a, b, tz)


def current_month(now: datetime, tz: ZoneInfo) -> Period:
    local = now.astimezone(tz).date()
    return month(f"{local.year}-{local.month:02d}", tz)
