"""Reg 15: a plan transferred to another LA (worked cases against the Regulations' wording)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehcp.casework import transfer
from ehcp.casework.engine import evaluate
from ehcp.casework.events import (
    AnnualReviewMeetingHeld,
    CaseEvent,
    FinalPlanIssued,
    PlanTransferred,
    TransferNoticeGiven,
)
from ehcp.casework.model import DateStatus
from ehcp.errors import CaseworkError

from .builders import CASE, REAL_CALENDAR, request_received


@pytest.mark.parametrize(
    ("moved", "aware", "due"),
    [
        # Known a month ahead: transfer on the day of the move.
        (date(2026, 3, 2), date(2026, 2, 2), date(2026, 3, 2)),
        (date(2026, 3, 2), None, date(2026, 3, 2)),
        # Learnt on Monday 23 February, 5 working days before: 15 working days beginning with
        # the 23rd (day 1) end on Friday 13 March.
        (date(2026, 3, 2), date(2026, 2, 23), date(2026, 3, 13)),
        # Learnt on a Saturday: day 1 is Monday 23 February, so the same 13 March.
        (date(2026, 3, 2), date(2026, 2, 21), date(2026, 3, 13)),
        # Learnt Tuesday 31 March 2026: Good Friday (3 April) and Easter Monday (6 April) are
        # not working days, so day 15 is Wednesday 22 April.
        (date(2026, 4, 1), date(2026, 3, 31), date(2026, 4, 22)),
        # Learnt after the move (the family told the LA late).
        (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 27)),
    ],
)
def test_reg_15_2_transfer_day(moved: date, aware: date | None, due: date) -> None:
    """On the day of the move, or within 15 working days beginning with the day it learnt."""
    assert transfer.plan_transfer_due(REAL_CALENDAR, moved, aware) == due


def test_exactly_15_working_days_ahead_is_enough() -> None:
    """Learnt on 9 Feb 2026: 15 working days after is 2 March, the day of the move."""
    assert REAL_CALENDAR.add_working_days(date(2026, 2, 9), 15) == date(2026, 3, 2)
    assert transfer.plan_transfer_due(REAL_CALENDAR, date(2026, 3, 2), date(2026, 2, 9)) == \
        date(2026, 3, 2)
    # A day later is too late: 15 working days beginning with 11 February end on 3 March.
    assert transfer.plan_transfer_due(REAL_CALENDAR, date(2026, 3, 2), date(2026, 2, 11)) == \
        date(2026, 3, 3)


def test_reg_15_4_and_15_5_worked_case() -> None:
    """Plan made 10 June 2025; moved 2 March 2026, learnt 23 Feb, transferred 13 March 2026.

    Notice within 6 weeks of the transfer: 24 April 2026. Review before the later of the 12
    months from 10 June 2025 (ending 9 June 2026) and the 3 months from 13 March 2026 (ending
    12 June 2026): 12 June 2026, replacing the annual review due 9 June.
    """
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), event_id="req"),
        FinalPlanIssued("fp", CASE, date(2025, 6, 10)),
        PlanTransferred("tr", CASE, date(2026, 3, 13), "999", "886", date(2026, 3, 2),
                        date(2026, 2, 23)),
    ]
    assessment = evaluate(events, date(2026, 3, 16))
    by_name = {d.name: d for d in assessment.statutory_dates}
    assert by_name["plan_transfer_due"].due_on == date(2026, 3, 13)
    assert by_name["plan_transfer_due"].status is DateStatus.MET
    assert by_name["transfer_notice_due"].due_on == date(2026, 4, 24)
    assert by_name["transfer_notice_due"].status is DateStatus.PENDING
    assert by_name["transfer_review_due"].due_on == date(2026, 6, 12)
    assert by_name["annual_review_due"].due_on == date(2026, 6, 9)
    assert by_name["annual_review_due"].status is DateStatus.NOT_APPLICABLE

    later = [*events, TransferNoticeGiven("tn", CASE, date(2026, 4, 20), True),
             AnnualReviewMeetingHeld("rm", CASE, date(2026, 6, 11))]
    done = {d.name: d for d in evaluate(later, date(2026, 6, 20)).statutory_dates
            if d.clock_started_on <= date(2026, 3, 13)}
    assert done["transfer_notice_due"].status is DateStatus.MET
    assert done["transfer_review_due"].status is DateStatus.MET


def test_the_12_months_win_when_later() -> None:
    """Plan made 1 September 2025, transferred 13 March 2026: review by 31 August 2026."""
    assert transfer.transfer_review_due(date(2025, 9, 1), date(2026, 3, 13)) == date(2026, 8, 31)


def test_a_late_transfer_is_missed() -> None:
    """Moved 2 March, known a month ahead, transferred 6 March: reg 15(2) missed."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), event_id="req"),
        FinalPlanIssued("fp", CASE, date(2025, 6, 10)),
        PlanTransferred("tr", CASE, date(2026, 3, 6), "999", "886", date(2026, 3, 2),
                        date(2026, 2, 2)),
    ]
    (due,) = [d for d in evaluate(events, date(2026, 3, 6)).statutory_dates
              if d.name == "plan_transfer_due"]
    assert due.status is DateStatus.MISSED


def test_a_transfer_event_refuses_what_cannot_be() -> None:
    """Same LA, a malformed code, or a transfer before the LA knew of the move."""
    with pytest.raises(CaseworkError):
        PlanTransferred("x", CASE, date(2026, 3, 6), "999", "999", date(2026, 3, 2))
    with pytest.raises(CaseworkError):
        PlanTransferred("x", CASE, date(2026, 3, 6), "99", "886", date(2026, 3, 2))
    with pytest.raises(CaseworkError):
        PlanTransferred("x", CASE, date(2026, 3, 6), "999", "886", date(2026, 3, 2),
                        date(2026, 3, 7))


DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@settings(max_examples=200, deadline=None)
@given(DAYS, DAYS)
def test_a_late_learnt_move_is_due_on_a_working_day_after_learning(moved: date,
                                                                   aware: date) -> None:
    """Not the day of the move: then a working day, on or after the day the LA learnt."""
    due = transfer.plan_transfer_due(REAL_CALENDAR, moved, aware)
    if due != moved:
        assert REAL_CALENDAR.is_working_day(due)
        assert due >= aware
        assert transfer.nth_working_day_from(REAL_CALENDAR, aware, 15) == due


@settings(max_examples=200, deadline=None)
@given(DAYS, DAYS, DAYS)
def test_the_review_is_never_due_before_either_period_ends(anchor: date, a: date,
                                                           b: date) -> None:
    """Reg 15(5): not before 12 months from the plan, nor 3 months from the transfer; a later
    transfer never brings the review forward."""
    early, late = sorted((a, b))
    due = transfer.transfer_review_due(anchor, early)
    assert due >= transfer.last_day_of_months_starting_with(anchor, 12)
    assert due >= transfer.last_day_of_months_starting_with(early, 3)
    assert transfer.transfer_review_due(anchor, late) >= due
