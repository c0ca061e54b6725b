"""Calendar-day arithmetic for time limits (days are calendar days unless a rule says otherwise)."""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date, timedelta


def add_weeks(start: date, weeks: int) -> date:
    """The date ``weeks`` whole weeks after ``start`` (same weekday)."""
    return start + timedelta(weeks=weeks)


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last))


def day_number(start: date, n: int) -> date:
    """Day ``n`` of a period in which ``start`` counts as day 1 (so day 15 is start + 14)."""
    return start + timedelta(days=n - 1)


def age_on(date_of_birth: date, on: date) -> int:
    """Age in whole years on a date (a 29 February birthday counts from 1 March in other years)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years
