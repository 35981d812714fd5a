"""The library's working calendar: weekends, Russian public holidays and Yakutia's own.

Deadlines to departments are counted in working days (a request sent on Friday evening is not
late on Monday morning). The holiday list is a setting (``orders.holidays``): ``MM-DD`` for
every year, ``YYYY-MM-DD`` for one year (the government's yearly transfers of days off).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Russian public holidays (Labour Code art. 112) and the Republic of Sakha (Yakutia)'s:
#: 04-27 Day of the Republic, 06-21 Ысыах, 09-27 Day of statehood.
DEFAULT_HOLIDAYS = ("01-01,01-02,01-03,01-04,01-05,01-06,01-07,01-08,02-23,03-08,04-27,05-01,"
                    "05-09,06-12,06-21,09-27,11-04")


class WorkCalendar:
    def __init__(self, holidays: str = DEFAULT_HOLIDAYS, weekend: tuple[int, ...] = (5, 6)):
        self.every_year: set[tuple[int, int]] = set()
        self.dates: set[date] = set()
        for item in (h.strip() for h in holidays.split(",")):
            if not item:
                continue
            parts = [int(p) for p in item.split("-")]
            if len(parts) == 3:
                self.dates.add(date(*parts))
            elif len(parts) == 2:
                date(2000, *parts)  # a leap year: 02-29 is a valid every-year date
                self.every_year.add((parts[0], parts[1]))
            else:
                raise ValueError(f"holiday {item!r}: expected MM-DD or YYYY-MM-DD")
        self.weekend = weekend

    def is_working(self, day: date) -> bool:
        return (day.weekday() not in self.weekend and (day.month, day.day) not in self.every_year
                and day not in self.dates)

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        day = start
        left = days
        while left > 0:
            day += timedelta(days=1)
            if self.is_working(day):
                left -= 1
        return day

    def deadline(self, sent: datetime, days: int, tz: ZoneInfo) -> datetime:
        """The end of the ``days``-th working day after the day ``sent`` falls on, locally."""
        local = sent.astimezone(tz).date()
        end = self.add_working_days(local, days)
        return datetime.combine(end + timedelta(days=1), time(0, 0), tzinfo=tz)


def check_holidays(value: str) -> str:
    """Settings check: raises ValueError with the expected form."""
    WorkCalendar(value)
    return value
