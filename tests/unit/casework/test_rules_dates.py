"""Statutory time limits, table-driven with worked dates (reg 5, 10, 13, 22, 27, 18; CFA s.44)."""

from __future__ import annotations

from datetime import date

import pytest

from ehcp.casework.events import PhaseTransferKind
from ehcp.casework.rules import assessment, reassessment, review
from ehcp.casework.rules.dates import (
    add_months,
    age_on,
    first_day_of_months_ending_with,
    last_day_of_months_starting_with,
)


@pytest.mark.parametrize(
    ("received", "decision", "not_issue", "draft", "final"),
    [
        # Received Monday 6 January 2025.
        (
            date(2025, 1, 6),
            date(2025, 2, 17),
            date(2025, 4, 28),
            date(2025, 5, 11),
            date(2025, 5, 26),
        ),
        # Leap year: 29 February 2024 is counted.
        (
            date(2024, 1, 15),
            date(2024, 2, 26),
            date(2024, 5, 6),
            date(2024, 5, 19),
            date(2024, 6, 3),
        ),
        # Across the year end.
        (
            date(2025, 9, 1),
            date(2025, 10, 13),
            date(2025, 12, 22),
            date(2026, 1, 4),
            date(2026, 1, 19),
        ),
    ],
)
def test_assessment_time_limits(
    received: date, decision: date, not_issue: date, draft: date, final: date
) -> None:
    """6 weeks to decide (reg 5(1)), 16 weeks not to issue (reg 10(1)), draft by day 125, final in
    20 weeks (reg 13(2))."""
    assert assessment.decision_to_assess_due(received) == decision
    assert assessment.decision_not_to_issue_due(received) == not_issue
    assert assessment.latest_draft_plan_due(received) == draft
    assert assessment.final_plan_due(received) == final


def test_final_plan_deadline_ignores_bank_holidays() -> None:
    """20 weeks are calendar days: a due date on the bank holiday of 26 May 2025 is not moved."""
    assert assessment.final_plan_due(date(2025, 1, 6)) == date(2025, 5, 26)


@pytest.mark.parametrize(
    ("served", "ends"),
    [(date(2025, 5, 1), date(2025, 5, 15)), (date(2025, 12, 20), date(2026, 1, 3))],
)
def test_draft_comment_period_counts_day_served_as_day_one(served: date, ends: date) -> None:
    """Reg 13(1): 15 days to comment, the day the draft is served being day 1."""
    assert assessment.draft_comment_period_ends(served) == ends


@pytest.mark.parametrize(
    ("proposed", "comments_end", "amended_due"),
    [(date(2025, 10, 6), date(2025, 10, 20), date(2025, 12, 1))],
)
def test_amendment_limits(proposed: date, comments_end: date, amended_due: date) -> None:
    """Reg 22(2)(c): 15 days to comment; reg 22(3): amended plan within 8 weeks of the proposal."""
    assert review.amendment_comment_period_ends(proposed) == comments_end
    assert review.amended_plan_due(proposed) == amended_due


def test_amended_plan_bound_after_review_meeting() -> None:
    """Devon CC [2022] EWHC 493: the amended plan comes at most 12 weeks after the meeting."""
    assert review.amended_plan_due_after_review_meeting(date(2025, 9, 22)) == date(2025, 12, 15)


@pytest.mark.parametrize(
    ("anchor", "dob", "months", "due"),
    [
        (date(2025, 5, 20), date(2014, 3, 9), 6, date(2026, 5, 19)),  # 11-year-old: 12 months
        (date(2024, 2, 29), date(2014, 3, 9), 6, date(2025, 2, 28)),  # no 29 Feb 2025: end of Feb
        (date(2023, 3, 1), date(2014, 3, 9), 6, date(2024, 2, 29)),  # the leap day is in the period
        (date(2024, 3, 1), date(2014, 3, 9), 6, date(2025, 2, 28)),  # the day before 1 March 2025
        (date(2025, 3, 10), date(2021, 9, 1), 6, date(2025, 9, 9)),  # aged 3: policy 6 months
        (date(2025, 3, 10), date(2021, 9, 1), 3, date(2025, 6, 9)),  # aged 3: policy 3 months
        (date(2025, 8, 31), date(2021, 9, 1), 3, date(2025, 11, 30)),  # no 31 November
        (date(2025, 3, 10), date(2020, 3, 1), 3, date(2026, 3, 9)),  # just turned 5: 12 months
        (date(2025, 3, 10), None, 3, date(2026, 3, 9)),  # unknown age: 12 months
    ],
)
def test_review_due(anchor: date, dob: date | None, months: int, due: date) -> None:
    """CFA s.44(1): the review falls in the 12 months starting with the anchor, which end the day
    before its anniversary; under 5 the CoP 9.178 policy interval is read the same way."""
    assert review.annual_review_due(anchor, dob, months) == due


def test_review_on_the_anniversary_is_outside_the_period() -> None:
    """CFA s.44(1): a plan made on 22 May 2023 must be reviewed by 21 May 2024, not on 22 May."""
    due = review.annual_review_due(date(2023, 5, 22))
    assert due == date(2024, 5, 21)
    assert due < date(2024, 5, 22)


@pytest.mark.parametrize(
    ("transfer_on", "kind", "due"),
    [
        (date(2026, 9, 3), PhaseTransferKind.SCHOOL_PHASE, date(2026, 2, 14)),
        (date(2026, 9, 3), PhaseTransferKind.SECONDARY_TO_POST_16, date(2026, 3, 30)),
        (date(2028, 9, 4), PhaseTransferKind.SCHOOL_PHASE, date(2028, 2, 14)),  # leap year
        (date(2026, 1, 5), PhaseTransferKind.POST_16_TO_POST_16, date(2025, 8, 5)),
    ],
)
def test_phase_transfer_deadlines(transfer_on: date, kind: PhaseTransferKind, due: date) -> None:
    """Reg 18(1)(b) and 18(1)(a): the last day before 15 February or 31 March of the transfer year;
    reg 18(2): at least 5 months before."""
    assert review.phase_transfer_review_due(transfer_on, kind) == due


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        (date(2025, 5, 20), 12, date(2026, 5, 19)),
        (date(2025, 1, 1), 12, date(2025, 12, 31)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2023, 3, 1), 12, date(2024, 2, 29)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 8, 31), 3, date(2025, 11, 30)),
    ],
)
def test_period_of_months_starting_with_ends_before_the_corresponding_day(
    start: date, months: int, last_day: date
) -> None:
    """A period of months "starting with" a day ends the day before the corresponding day, or at
    the end of a month that has none."""
    assert last_day_of_months_starting_with(start, months) == last_day


@pytest.mark.parametrize(
    ("last_day", "months", "first_day"),
    [
        (date(2026, 2, 14), 12, date(2025, 2, 15)),
        (date(2026, 3, 30), 12, date(2025, 3, 31)),
        (date(2024, 2, 29), 12, date(2023, 3, 1)),
        (date(2025, 2, 28), 12, date(2024, 2, 29)),
    ],
)
def test_period_of_months_ending_with_starts_after_the_corresponding_day(
    last_day: date, months: int, first_day: date
) -> None:
    """A period of months ending with a day is the one that, starting with its first day, ends on
    that day."""
    assert first_day_of_months_ending_with(last_day, months) == first_day
    assert last_day_of_months_starting_with(first_day, months) == last_day


def test_reassessment_plan_due_in_14_weeks() -> None:
    """Reg 27(2): 14 weeks (98 days) from the notice of the decision to re-assess."""
    assert reassessment.reassessment_plan_due(date(2025, 3, 3)) == date(2025, 6, 9)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 11, 15), 3, date(2026, 2, 15)),
        (date(2026, 1, 5), -5, date(2025, 8, 5)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    """Adding months keeps the day of month, clamped to the last day of a shorter month."""
    assert add_months(start, months) == expected


def test_age_on_birthday_boundary() -> None:
    """A child is 5 on their fifth birthday, not the day before."""
    assert age_on(date(2020, 3, 10), date(2025, 3, 9)) == 4
    assert age_on(date(2020, 3, 10), date(2025, 3, 10)) == 5
