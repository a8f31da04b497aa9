"""Working days and deadlines: pure functions of dates, no database.

A working day is Monday to Friday, not an England-and-Wales bank holiday (the
``holidays`` package, pinned because its data changes between releases), and not inside
one of the cycle's non-working periods. Deadlines are the end of a London day
(23:59:59.999999 local time, BST or GMT), returned as aware UTC datetimes.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
END_OF_DAY = time(23, 59, 59, 999999)


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


@dataclass(frozen=True)
class WorkingDayCalendar:
    """Non-working periods are inclusive ``(first_day, last_day)`` pairs."""

    non_working_periods: tuple[tuple[date, date], ...] = ()

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5 or is_bank_holiday(day):
            return False
        return not any(first <= day <= last for first, last in self.non_working_periods)

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day strictly after ``start``."""
        if count < 1:
            raise ValueError("count must be at least 1")
        day = start
        remaining = count
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; 0 when ``end`` is not after ``start``."""
        return _working_days_between(self, start, end)


@lru_cache(maxsize=8192)
def _working_days_between(calendar: WorkingDayCalendar, start: date, end: date) -> int:
    """Cached: a list page counts the days left to 25 deadlines, one day at a time, and the
    same few dozen (today, deadline) pairs come back on every page of the day. A pure function
    of its arguments (a calendar is a value), so the cache is never stale."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            count += 1
    return count


def london_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return moment.astimezone(LONDON).date()


def end_of_london_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=LONDON).astimezone(UTC)


def reject_by_default_at(
    *, submitted_at: datetime, calendar: WorkingDayCalendar, working_days: int, cap: datetime
) -> datetime:
    """End of the Nth working day after submission, never after the cycle's cap."""
    deadline = end_of_london_day(calendar.add_working_days(london_date(submitted_at), working_days))
    return min(deadline, cap.astimezone(UTC))


def decline_by_default_at(*, offered_at: datetime, calendar: WorkingDayCalendar, working_days: int) -> datetime:
    """End of the Nth working day after the offer."""
    return end_of_london_day(calendar.add_working_days(london_date(offered_at), working_days))


def working_days_left(*, now: datetime, deadline: datetime, calendar: WorkingDayCalendar) -> int:
    """Whole working days after today (London) up to the deadline's day; 0 on the last day or past it."""
    return calendar.working_days_between(london_date(now), london_date(deadline))
