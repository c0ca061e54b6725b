"""Calendar-day arithmetic for time limits (days are calendar days unless a rule says otherwise).

"A period of 12 months starting with" a day (CFA s.44(1)) includes that day, so it ends on the
day before the corresponding day 12 months later: the period starting with 22 May 2023 ends on
21 May 2024. Where the later month has no corresponding day (29 February in a common year, the
31st of a 30-day month) the period ends on that month's last day, as a 29 February birthday is
reached on 1 March (see :func:`age_on`).
"""

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


def last_day_of_months_starting_with(start: date, months: int) -> date:
    """The last day of the period of ``months`` months starting with ``start`` (``months`` >= 1).

    It is the day before the corresponding day ``months`` later, or that month's last day when
    the month has no corresponding day (12 months starting with 29 February 2024 end on 28
    February 2025; 12 months starting with 1 March 2023 end on 29 February 2024).
    """
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    if start.day > last:
        return date(year, month, last)
    return date(year, month, start.day) - timedelta(days=1)


def first_day_of_months_ending_with(last_day: date, months: int) -> date:
    """The first day of the period of ``months`` months ending with ``last_day``.

    The inverse of :func:`last_day_of_months_starting_with`: the 12 months ending with 14
    February 2026 start on 15 February 2025. Where two start days give the same last day (29
    February 2024 and 1 March 2024 both end on 28 February 2025), the earlier one is returned.
    """
    return add_months(last_day, -months) + timedelta(days=1)


def day_number(start: date, n: int) -> date:
    """Day ``n`` of a period in which ``start`` counts as day 1 (so day 15 is start + 14)."""
    return start + timedelta(days=n - 1)


def age_on(date_of_birth: date, on: date) -> int:
    """Age in whole years on a date (a 29 February birthday counts from 1 March in other years)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years
