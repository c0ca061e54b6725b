"""Orderings the plan's later clocks must keep, for any dates (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.casework.model import DateStatus
from ehcp.casework.rules import cessation, disputes, review

from .builders import CASE, REAL_CALENDAR, next_id

DAYS = st.dates(min_value=date(2015, 1, 1), max_value=date(2045, 12, 31))
GAPS = st.integers(min_value=0, max_value=120)


@given(DAYS)
def test_a_review_meetings_clocks_keep_their_order(meeting: date) -> None:
    """Notice and advice fall before the meeting; the report and then the decision after it."""
    assert review.review_invitations_due(meeting) < meeting
    assert review.review_advice_circulated_due(meeting) < meeting
    assert meeting < review.review_report_due(meeting) < review.review_decision_due(meeting)


@given(DAYS, GAPS)
def test_a_review_decision_is_never_due_before_the_meeting(meeting: date, gap: int) -> None:
    """Through evaluate: the decision is due after the meeting, and met exactly when within 28 days."""
    events: list[ev.CaseEvent] = [
        ev.FinalPlanIssued(next_id(), CASE, meeting - timedelta(days=300)),
        ev.AnnualReviewMeetingHeld(next_id(), CASE, meeting),
        ev.ReviewDecisionMade(next_id(), CASE, meeting + timedelta(days=gap),
                              ev.ReviewOutcome.MAINTAIN),
    ]
    result = evaluate(events, meeting + timedelta(days=gap), calendar=REAL_CALENDAR)
    decision = next(d for d in result.statutory_dates if d.name == "review_decision_due")
    assert decision.due_on > meeting
    assert (decision.status is DateStatus.MET) == (gap <= 28)


@given(DAYS, st.sampled_from(list(ev.OrderKind)))
def test_no_order_limit_falls_before_the_order(order_on: date, kind: ev.OrderKind) -> None:
    """Every reg 44(2) / 42(3) period ends after the order, and an order's limits come in order."""
    dues = [disputes.order_due(order_on, weeks) for _, weeks in disputes.ORDER_LIMITS[kind]]
    assert all(due > order_on for due in dues)
    assert dues == sorted(dues)


@given(DAYS, st.one_of(st.none(), DAYS))
def test_a_certificate_can_only_lengthen_the_appeal_period(notice: date, certificate: date | None) -> None:
    """r.20(1)(c): the period never ends before 2 months after the notice, nor before the notice."""
    plain = cessation.appeal_period_ends(notice)
    assert notice < plain <= cessation.appeal_period_ends(notice, certificate)


@given(DAYS, DAYS)
def test_a_later_notice_never_ends_its_appeal_period_earlier(a: date, b: date) -> None:
    """The appeal period is monotonic in the date of the notice."""
    early, late = sorted((a, b))
    assert cessation.appeal_period_ends(early) <= cessation.appeal_period_ends(late)


@given(DAYS)
def test_three_working_days_end_on_a_later_working_day(start: date) -> None:
    """Mediation (regs 35-39): 3 working days later is a working day, 3 to 10 calendar days on."""
    due = disputes.within_working_days(start, REAL_CALENDAR)
    assert REAL_CALENDAR.is_working_day(due)
    assert 3 <= (due - start).days <= 10


@given(DAYS, st.integers(min_value=0, max_value=150))
def test_a_plan_ceased_before_its_appeal_period_ends_is_always_flagged(notice: date, gap: int) -> None:
    """Ceasing on or before the last day to appeal is MISSED; any day after is MET."""
    ceased = notice + timedelta(days=gap)
    events: list[ev.CaseEvent] = [
        ev.FinalPlanIssued(next_id(), CASE, notice - timedelta(days=400)),
        ev.CessationDecided(next_id(), CASE, notice, ev.CessationOutcome.CEASE),
        ev.PlanCeased(next_id(), CASE, ceased),
    ]
    result = evaluate(events, ceased, calendar=REAL_CALENDAR)
    item = next(d for d in result.statutory_dates if d.name == "cessation_appeal_period_ends")
    assert (item.status is DateStatus.MET) == (ceased > cessation.appeal_period_ends(notice))
