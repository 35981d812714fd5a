"""When issues of a mailing fall due. Pure: times in, occurrences out.

APScheduler's triggers compute the fire times (cron in the library's zone, DST included);
the due work itself lives in our own tables (``mailing_issues``), so a restart, a crash or a
second instance never sends an issue twice, and a missed issue is visible instead of silent.

Rules:
* a fire time outside the sending window moves to the window's next opening;
* an issue is sent late only within the mailing's grace period; older ones are ``missed``;
* when several issues of one mailing are due at once (the daemon was down), only the newest
  goes; the older ones are ``missed``, so nobody gets a burst of identical mailings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailproc.outreach.plan import MailingSpec, Window

_STEP = timedelta(microseconds=1)
MAX_LOOKBACK_FIRES = 1000


@dataclass(frozen=True)
class Occurrence:
    scheduled_at: datetime  # the trigger's fire time (UTC)
    opens_at: datetime  # when the window lets it go (UTC)
    state: str  # "due" or "missed"
    note: str = ""


def window_opening(t: datetime, window: Window, tz: ZoneInfo) -> datetime:
    """``t`` if mail may go at ``t``, else the next moment the window opens."""
    local = t.astimezone(tz)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() not in window.days:
            continue
        start = datetime.combine(day, window.start, tzinfo=tz)
        end = datetime.combine(day, window.end, tzinfo=tz)
        if offset == 0 and start <= local < end:
            return t
        if local < start:
            return start.astimezone(t.tzinfo)
    return t  # no allowed day at all: plan validation prevents it


def in_window(t: datetime, window: Window, tz: ZoneInfo) -> bool:
    return window_opening(t, window, tz) == t


def fire_times(spec: MailingSpec, tz: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Fire times in (after, until], oldest first."""
    trigger = spec.trigger(tz)
    out: list[datetime] = []
    cursor, previous = after + _STEP, None
    while len(out) < MAX_LOOKBACK_FIRES:
        t = trigger.get_next_fire_time(previous, cursor)
        if t is None or t > until:
            break
        if t > after:
            out.append(t.astimezone(until.tzinfo))
        previous, cursor = t, t + _STEP
    return out


def due_occurrences(spec: MailingSpec, tz: ZoneInfo, last: datetime | None,
                    now: datetime) -> list[Occurrence]:
    """Issues to create now. ``last``: the newest issue already recorded for the mailing;
    for a mailing never run, the look-back is its grace period (one-off mailings: since ever,
    so a one-off whose time passed unseen is recorded as missed, not forgotten)."""
    if last is not None:
        after = last
    elif spec.at is not None:
        after = spec.at - _STEP
    else:
        after = now - timedelta(seconds=spec.grace)
    found: list[Occurrence] = []
    for t in fire_times(spec, tz, after, now):
        opens = window_opening(t, spec.window, tz)
        if opens > now:
            break  # waits for the window; later fire times wait too
        late = (now - opens).total_seconds()
        if late > spec.grace:
            found.append(Occurrence(t, opens, "missed",
                                    f"не отправлено: опоздание {int(late // 60)} мин больше "
                                    f"допустимых {int(spec.grace // 60)} мин"))
        else:
            found.append(Occurrence(t, opens, "due"))
    due = [o for o in found if o.state == "due"]
    for older in due[:-1]:
        found[found.index(older)] = Occurrence(older.scheduled_at, older.opens_at, "missed",
                                               "не отправлено: подошёл следующий выпуск")
    return found


def next_issues(spec: MailingSpec, tz: ZoneInfo, now: datetime, count: int = 3) -> list[datetime]:
    """The next times the mailing will actually go (window applied), for ``mailings plan``."""
    out: list[datetime] = []
    trigger = spec.trigger(tz)
    cursor, previous = now, None
    while len(out) < count:
        t = trigger.get_next_fire_time(previous, cursor)
        if t is None:
            break
        if t >= now:  # a one-off's DateTrigger returns its date even when it is past
            out.append(window_opening(t, spec.window, tz).astimezone(now.tzinfo))
        previous, cursor = t, t + _STEP
    return out
