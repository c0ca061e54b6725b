"""Working days, the receipt rule and closure windows, on the real England and Wales calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from ehcp.casework.calendar import (
    Calendar,
    ClosurePeriod,
    ReceiptRule,
    closure_window_containing,
)
from ehcp.casework.policy import Policy
from ehcp.errors import CaseworkError

from .builders import REAL_CALENDAR, london

SUMMER_2025 = ClosurePeriod(date(2025, 7, 23), date(2025, 9, 2))  # re-opens Wed 3 Sept


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 4, 17), True),  # Maundy Thursday is a working day
        (date(2025, 4, 18), False),  # Good Friday
        (date(2025, 4, 21), False),  # Easter Monday (England and Wales, not Scotland)
        (date(2025, 5, 5), False),  # Early May bank holiday
        (date(2025, 8, 25), False),  # Summer bank holiday (England and Wales date)
        (date(2025, 8, 4), True),  # Scotland's summer holiday is not ours
        (date(2025, 4, 19), False),  # Saturday
        (date(2026, 12, 28), False),  # Boxing Day 2026 falls on Saturday: substitute Monday
    ],
)
def test_working_days_follow_england_and_wales_bank_holidays(day: date, working: bool) -> None:
    """Weekends and England and Wales bank holidays (with substitute days) are not working days."""
    assert REAL_CALENDAR.is_working_day(day) is working


def test_add_working_days_skips_easter() -> None:
    """Counting working days from Maundy Thursday skips Good Friday, the weekend, Easter Monday."""
    assert REAL_CALENDAR.add_working_days(date(2025, 4, 17), 1) == date(2025, 4, 22)
    assert REAL_CALENDAR.add_working_days(date(2025, 4, 17), 3) == date(2025, 4, 24)


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        (london(date(2025, 4, 14), time(16, 59)), date(2025, 4, 14)),
        (london(date(2025, 4, 14), time(17, 0)), date(2025, 4, 14)),  # 17:00 is not "after 5pm"
        (london(date(2025, 4, 14), time(17, 1)), date(2025, 4, 15)),
        (london(date(2025, 4, 17), time(18, 0)), date(2025, 4, 22)),  # over Easter
        (london(date(2025, 4, 19), time(9, 0)), date(2025, 4, 22)),  # Saturday of Easter
        (london(date(2025, 12, 24), time(17, 30)), date(2025, 12, 29)),  # over Christmas
        (datetime(2025, 7, 1, 16, 30, tzinfo=UTC), date(2025, 7, 2)),  # 17:30 BST
        (datetime(2025, 1, 6, 16, 30, tzinfo=UTC), date(2025, 1, 6)),  # 16:30 GMT
        (datetime(2025, 1, 6, 23, 30, tzinfo=UTC), date(2025, 1, 7)),  # late evening
    ],
)
def test_next_working_day_setting_moves_late_and_non_working_deliveries(
    delivered: datetime, expected: date
) -> None:
    """With the next-working-day setting on, a request delivered after 17:00 London time or on a
    non-working day counts from the next working day."""
    assert REAL_CALENDAR.receipt_date(delivered, ReceiptRule(enabled=True)) == expected


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        (london(date(2025, 4, 19), time(20, 0)), date(2025, 4, 19)),  # Saturday evening
        (london(date(2025, 4, 18), time(9, 0)), date(2025, 4, 18)),  # Good Friday
        (london(date(2025, 4, 14), time(17, 1)), date(2025, 4, 14)),  # after 17:00
        (datetime(2025, 7, 1, 23, 30, tzinfo=UTC), date(2025, 7, 2)),  # 00:30 BST next day
    ],
)
def test_default_receipt_rule_counts_the_day_delivered(delivered: datetime, expected: date) -> None:
    """By default a request counts as received on the London date it was delivered, whatever day
    or time that is, as the Regulations read."""
    assert REAL_CALENDAR.receipt_date(delivered, ReceiptRule()) == expected
    assert REAL_CALENDAR.receipt_date(delivered, Policy().receipt_rule) == expected


def test_receipt_rule_cutoff_is_configurable() -> None:
    """An LA using the next-working-day setting may set an earlier cut-off, e.g. 16:00."""
    rule = ReceiptRule(enabled=True, cutoff=time(16, 0))
    assert REAL_CALENDAR.receipt_date(london(date(2025, 4, 14), time(16, 30)), rule) == date(
        2025, 4, 15
    )


def test_receipt_rule_refuses_naive_datetimes() -> None:
    """A delivery time without a timezone is refused rather than guessed."""
    with pytest.raises(CaseworkError):
        REAL_CALENDAR.receipt_date(datetime(2025, 4, 14, 10, 0), ReceiptRule())


@pytest.mark.parametrize(
    ("sent_on", "in_window"),
    [
        (date(2025, 7, 15), False),  # 8 days before closure
        (date(2025, 7, 16), True),  # one week before the first closed day: window opens
        (date(2025, 8, 27), True),  # one week before re-opening on 3 September: window ends
        (date(2025, 8, 28), False),
    ],
)
def test_closure_window_of_reg_10_4_a(sent_on: date, in_window: bool) -> None:
    """Reg 10(4)(a): the window opens a week before a 4+ week closure and ends a week before re-
    opening."""
    window = closure_window_containing([SUMMER_2025], sent_on)
    assert (window is not None) is in_window


@pytest.mark.parametrize(("length", "counts"), [(27, False), (28, True)])
def test_closure_must_last_at_least_four_weeks(length: int, counts: bool) -> None:
    """Only a closure of at least 4 continuous weeks (28 days) opens a reg 10(4)(a) window."""
    first = date(2025, 7, 23)
    closure = ClosurePeriod(first, date.fromordinal(first.toordinal() + length - 1))
    assert (closure_window_containing([closure], first) is not None) is counts


def test_institution_closures_fall_back_to_la_default() -> None:
    """An institution without its own term dates uses the LA default closures."""
    own = ClosurePeriod(date(2025, 7, 18), date(2025, 9, 3))
    calendar = Calendar(institution_closures={"SCH-1": [own]}, la_default_closures=[SUMMER_2025])
    assert calendar.closures_for("SCH-1") == (own,)
    assert calendar.closures_for("SCH-UNKNOWN") == (SUMMER_2025,)
    assert calendar.closures_for(None) == (SUMMER_2025,)
