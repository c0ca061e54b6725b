"""Reg 16: a change of health commissioning body (worked cases; the periods as a secondary
source states them [S], counted as reg 15(2) counts its working days [D])."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehcp.casework import transfer
from ehcp.casework.engine import evaluate
from ehcp.casework.events import (
    CaseEvent,
    CommissioningBodyChanged,
    FinalPlanIssued,
    HealthProvisionReviewRequested,
    HealthRequestKind,
)
from ehcp.casework.model import DateStatus, StatutoryDate
from ehcp.errors import CaseworkError

from .builders import CASE, REAL_CALENDAR, request_received


def change(occurred_on: date, *, with_la_move: bool, **fields: object) -> CommissioningBodyChanged:
    """ICB 15N becomes 00L's successor for the child on ``occurred_on``."""
    return CommissioningBodyChanged("cb", CASE, occurred_on, "15N", "00L", with_la_move,
                                    **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("occurred", "aware", "move", "due"),
    [
        # With a move to another LA, the reg 15(2) rule: known a month ahead, the day of the move.
        (date(2026, 3, 2), date(2026, 2, 2), True, date(2026, 3, 2)),
        # Learnt Monday 23 February, 5 working days before the move: day 15 is Friday 13 March.
        (date(2026, 3, 2), date(2026, 2, 23), True, date(2026, 3, 13)),
        # A change of GP in the same LA, learnt Monday 23 February (day 1): Friday 13 March,
        # however early the body learnt (no "day of the change" rule without a move).
        (date(2026, 3, 2), date(2026, 2, 23), False, date(2026, 3, 13)),
        # Learnt on Saturday 21 February: day 1 is Monday 23, so again 13 March.
        (date(2026, 3, 2), date(2026, 2, 21), False, date(2026, 3, 13)),
        # Learnt Tuesday 31 March 2026: Good Friday and Easter Monday are not working days, so
        # day 15 is Wednesday 22 April.
        (date(2026, 3, 31), date(2026, 3, 31), False, date(2026, 4, 22)),
        # Not known when the body learnt: counted from the day of the change.
        (date(2026, 3, 31), None, False, date(2026, 4, 22)),
    ],
)
def test_the_old_bodys_notice(occurred: date, aware: date | None, move: bool, due: date) -> None:
    """The old body notifies the new: reg 15(2)'s rule with a move, else 15 working days."""
    found = transfer.commissioning_body_notice_due(
        REAL_CALENDAR, change(occurred, with_la_move=move, old_body_aware_on=aware))
    assert found == due


def test_the_new_bodys_request_counts_from_the_day_it_learnt() -> None:
    """Notified Thursday 2 April 2026 (day 1): Good Friday 3 and Easter Monday 6 April do not
    count, so day 15 is Friday 24 April; learnt on Tuesday 7 April instead: Monday 27 April."""
    notified = change(date(2026, 3, 31), with_la_move=False, notified_on=date(2026, 4, 2))
    assert transfer.health_provision_request_due(REAL_CALENDAR, notified) == date(2026, 4, 24)
    learnt = change(date(2026, 3, 31), with_la_move=False, notified_on=date(2026, 4, 2),
                    new_body_aware_on=date(2026, 4, 7))
    assert transfer.health_provision_request_due(REAL_CALENDAR, learnt) == date(2026, 4, 27)


def _dates(events: list[CaseEvent], as_of: date) -> dict[str, StatutoryDate]:
    return {d.name: d for d in evaluate(events, as_of).statutory_dates}


def test_worked_case_through_the_engine() -> None:
    """Plan made 10 June 2025; a change of GP on 31 March 2026, known that day; the old body
    notifies on 2 April (met, due 22 April); the new body, finding it cannot secure the
    provision, asks for a review on 20 April (met, due 24 April)."""
    base: list[CaseEvent] = [request_received(date(2025, 1, 6), event_id="req"),
                             FinalPlanIssued("fp", CASE, date(2025, 6, 10))]
    undecided = change(date(2026, 3, 31), with_la_move=False, old_body_aware_on=date(2026, 3, 31))
    pending = _dates([*base, undecided], date(2026, 4, 1))
    assert pending["commissioning_body_notice_due"].due_on == date(2026, 4, 22)
    assert pending["commissioning_body_notice_due"].status is DateStatus.PENDING
    assert pending["commissioning_body_notice_due"].regulation == "reg 16 [S]"
    assert "health_provision_request_due" not in pending  # not yet found: no duty yet

    cannot = change(date(2026, 3, 31), with_la_move=False, old_body_aware_on=date(2026, 3, 31),
                    notified_on=date(2026, 4, 2), provision_practicable=False)
    open_request = _dates([*base, cannot], date(2026, 4, 10))
    assert open_request["commissioning_body_notice_due"].status is DateStatus.MET
    assert open_request["health_provision_request_due"].due_on == date(2026, 4, 24)
    assert open_request["health_provision_request_due"].status is DateStatus.PENDING
    assert _dates([*base, cannot], date(2026, 4, 27))[
        "health_provision_request_due"].status is DateStatus.MISSED

    asked = HealthProvisionReviewRequested("hr", CASE, date(2026, 4, 20), HealthRequestKind.REVIEW)
    done = _dates([*base, cannot, asked], date(2026, 4, 27))
    assert done["health_provision_request_due"].status is DateStatus.MET
    assert done["health_provision_request_due"].completed_on == date(2026, 4, 20)

    can = change(date(2026, 3, 31), with_la_move=False, notified_on=date(2026, 4, 2),
                 provision_practicable=True)
    assert _dates([*base, can], date(2026, 5, 1))[
        "health_provision_request_due"].status is DateStatus.NOT_APPLICABLE


def test_a_late_notice_with_a_move_is_missed() -> None:
    """Moved 2 March 2026, known a month ahead, notified 6 March: missed (due 2 March)."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), event_id="req"),
        FinalPlanIssued("fp", CASE, date(2025, 6, 10)),
        change(date(2026, 3, 2), with_la_move=True, old_body_aware_on=date(2026, 2, 2),
               notified_on=date(2026, 3, 6)),
    ]
    notice = _dates(events, date(2026, 3, 9))["commissioning_body_notice_due"]
    assert (notice.due_on, notice.status) == (date(2026, 3, 2), DateStatus.MISSED)


def test_a_change_event_refuses_what_cannot_be() -> None:
    """The same body, a malformed ODS code, or a notice before the old body knew."""
    with pytest.raises(CaseworkError):
        CommissioningBodyChanged("x", CASE, date(2026, 3, 2), "15N", "15N", True)
    with pytest.raises(CaseworkError):
        CommissioningBodyChanged("x", CASE, date(2026, 3, 2), "15n", "00L", True)
    with pytest.raises(CaseworkError):
        CommissioningBodyChanged("x", CASE, date(2026, 3, 2), "15N", "X" * 7, True)
    with pytest.raises(CaseworkError):
        change(date(2026, 3, 2), with_la_move=True, old_body_aware_on=date(2026, 3, 5),
               notified_on=date(2026, 3, 4))


DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@settings(max_examples=200, deadline=None)
@given(DAYS, DAYS)
def test_without_a_move_the_notice_is_a_working_day_after_learning(occurred: date,
                                                                   aware: date) -> None:
    """Day 15 of a period beginning with the day it learnt: a working day, 14 working days
    after the first working day on or after that day, never before it."""
    due = transfer.commissioning_body_notice_due(
        REAL_CALENDAR, change(occurred, with_la_move=False, old_body_aware_on=aware))
    assert REAL_CALENDAR.is_working_day(due)
    assert due >= aware
    assert due == transfer.nth_working_day_from(REAL_CALENDAR, aware, 15)
