"""Property tests of the clock rules (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ehcp.casework.calendar import ReceiptRule
from ehcp.casework.engine import evaluate, event_date, next_alert_due_on
from ehcp.casework.events import (
    AdviceRequested,
    AdviceSubmitted,
    AdviceType,
    CaseEvent,
    DecisionToAssessMade,
    DraftPlanIssued,
    ExceptionGround,
    FinalPlanIssued,
    RequestForAssessmentReceived,
    TimescaleExceptionRecorded,
)
from ehcp.casework.explain import to_json
from ehcp.casework.jsonl import dumps, parse_lines
from ehcp.casework.model import CaseAssessment
from ehcp.casework.policy import Policy
from ehcp.casework.rules import assessment

from .builders import CASE, LONDON, REAL_CALENDAR

POLICY = Policy()
DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@given(DAYS)
def test_twenty_weeks_is_always_140_days(received: date) -> None:
    """Reg 13(2): 20 weeks is 140 calendar days from any receipt date, leap years included."""
    assert (assessment.final_plan_due(received) - received).days == 140


@given(MOMENTS, MOMENTS, st.booleans())
def test_later_request_never_gets_earlier_deadline(a: datetime, b: datetime, rule_on: bool) -> None:
    """A request delivered later never counts as received earlier, so never gets an earlier
    deadline."""
    early, late = sorted((a, b))
    rule = ReceiptRule(enabled=rule_on)
    received_early = REAL_CALENDAR.receipt_date(early, rule)
    received_late = REAL_CALENDAR.receipt_date(late, rule)
    assert received_early <= received_late
    assert assessment.final_plan_due(received_early) <= assessment.final_plan_due(received_late)


@settings(max_examples=50, deadline=None)
@given(MOMENTS, MOMENTS)
def test_later_request_never_gets_earlier_deadline_through_evaluate(
    a: datetime, b: datetime
) -> None:
    """Through the whole engine, a later-delivered request never has an earlier 20-week date."""
    early, late = sorted((a, b))

    def final_due(received_at: datetime) -> date:
        request = RequestForAssessmentReceived(
            event_id="e",
            case_id=CASE,
            received_at=received_at,
            date_of_birth=date(2015, 1, 1),
            year_group=5,
        )
        as_of = received_at.date() + timedelta(days=7)
        found = _run([request], as_of).statutory_date("final_plan_due")
        assert found is not None
        return found.due_on

    assert final_due(early) <= final_due(late)


ADVICE_TYPES = st.sampled_from(list(AdviceType))


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[CaseEvent], date]:
    """A random but lawful-looking case and an as-of date."""
    received = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 6, 30)))
    at = draw(st.sampled_from([time(9, 0), time(16, 59), time(17, 30)]))
    events: list[CaseEvent] = [
        RequestForAssessmentReceived(
            event_id="e-req",
            case_id=CASE,
            received_at=datetime.combine(received, at, LONDON),
            date_of_birth=date(2012, 5, 1),
            year_group=draw(st.sampled_from([None, 4, 9])),
            hearing_impairment=draw(st.booleans()),
            looked_after=draw(st.booleans()),
            setting_id="SCH-1",
        )
    ]
    if draw(st.booleans()):
        events.append(
            DecisionToAssessMade(
                event_id="e-dec",
                case_id=CASE,
                occurred_on=received + timedelta(days=draw(st.integers(0, 60))),
            )
        )
    for index in range(draw(st.integers(0, 5))):
        sent = received + timedelta(days=draw(st.integers(0, 100)))
        events.append(
            AdviceRequested(
                event_id=f"e-ar{index}",
                case_id=CASE,
                request_id=f"R{index}",
                advice_type=draw(ADVICE_TYPES),
                agency_id="SCH-1",
                sent_on=sent,
                received_by_body_on=sent + timedelta(days=draw(st.integers(0, 5))),
            )
        )
        if draw(st.booleans()):
            events.append(
                AdviceSubmitted(
                    event_id=f"e-as{index}",
                    case_id=CASE,
                    contribution_id=f"C{index}",
                    advice_type=AdviceType.MEDICAL,
                    request_id=f"R{index}",
                    submitted_on=sent + timedelta(days=draw(st.integers(0, 70))),
                )
            )
    if draw(st.booleans()):
        draft = received + timedelta(days=draw(st.integers(60, 160)))
        events.append(DraftPlanIssued(event_id="e-draft", case_id=CASE, occurred_on=draft))
        if draw(st.booleans()):
            events.append(
                FinalPlanIssued(
                    event_id="e-final",
                    case_id=CASE,
                    occurred_on=draft + timedelta(days=draw(st.integers(0, 40))),
                )
            )
    as_of = received + timedelta(days=draw(st.integers(0, 250)))
    return events, as_of


@st.composite
def exceptions(draw: st.DrawFn, events: list[CaseEvent]) -> TimescaleExceptionRecorded:
    request = events[0]
    assert isinstance(request, RequestForAssessmentReceived)
    received = request.received_at.date()
    starts = received + timedelta(days=draw(st.integers(0, 150)))
    ends = draw(st.one_of(st.none(), st.integers(0, 60).map(lambda n: starts + timedelta(days=n))))
    request_ids = [e.request_id for e in events if isinstance(e, AdviceRequested)]
    use_request = draw(st.booleans())
    if request_ids and use_request:
        return TimescaleExceptionRecorded(
            event_id="e-exc",
            case_id=CASE,
            exception_id="X1",
            ground=draw(
                st.sampled_from(
                    [
                        ExceptionGround.REG_8_2_A,
                        ExceptionGround.REG_8_2_B,
                        ExceptionGround.REG_8_2_C,
                    ]
                )
            ),
            starts_on=starts,
            ends_on=ends,
            request_id=draw(st.sampled_from(request_ids)),
        )
    return TimescaleExceptionRecorded(
        event_id="e-exc",
        case_id=CASE,
        exception_id="X1",
        ground=draw(st.sampled_from([ExceptionGround.REG_10_4_C, ExceptionGround.REG_10_4_D])),
        starts_on=starts,
        ends_on=ends,
    )


def _run(events: list[CaseEvent], as_of: date) -> CaseAssessment:
    return evaluate(events, as_of, POLICY, REAL_CALENDAR)


def _breaches(result: CaseAssessment) -> set[tuple[str, date]]:
    return {(d.name, d.due_on) for d in result.statutory_dates if d.breached} | {
        (f"advice:{a.request_id}", a.due_on or date.min)
        for a in result.advice
        if a.status.value == "OVERDUE" and not a.excused
    }


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_recording_an_exception_never_creates_a_new_breach(data: st.DataObject) -> None:
    """Adding an exception can only excuse: breaches and alerts with it are a subset of those
    without."""
    events, as_of = data.draw(cases())
    exception = data.draw(exceptions(events))
    without = _run(events, as_of)
    with_exc = _run([*events, exception], as_of)
    assert _breaches(with_exc) <= _breaches(without)
    assert {a.alert_id for a in with_exc.alerts} <= {a.alert_id for a in without.alerts}
    assert [d.due_on for d in with_exc.statutory_dates] == [
        d.due_on for d in without.statutory_dates
    ]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_duplicates_and_reordering_change_nothing(data: st.DataObject) -> None:
    """Shuffling the events and delivering some twice gives exactly the same assessment."""
    events, as_of = data.draw(cases())
    shuffled = data.draw(st.permutations(events))
    duplicated = [*shuffled, *data.draw(st.lists(st.sampled_from(events), max_size=4))]
    assert to_json(_run(duplicated, as_of)) == to_json(_run(events, as_of))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_alerts_do_not_change_before_next_alert_due_on(case: tuple[list[CaseEvent], date]) -> None:
    """Walking day by day, alerts change only on next_alert_due_on dates, and do change on them."""
    events, start = case
    last_event = max(event_date(e) for e in events)
    horizon = start + timedelta(days=200)
    current = _run(events, start)
    day = start + timedelta(days=1)
    while day <= horizon:
        expected_change = next_alert_due_on(current)
        result = _run(events, day)
        changed = {a.alert_id for a in result.alerts} != {a.alert_id for a in current.alerts}
        if expected_change is None or day < expected_change:
            assert not changed, f"alerts changed on {day}, next_alert_due_on said {expected_change}"
        elif day == expected_change:
            # Once every event is in the past, each predicted date is a real change.
            assert changed or day <= last_event, f"nothing changed on predicted {day}"
            current = result
        day += timedelta(days=1)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_jsonl_round_trip(data: st.DataObject) -> None:
    """Dumping any case to JSON lines and parsing it back gives the same events."""
    events, _ = data.draw(cases())
    events = [*events, data.draw(exceptions(events))]
    assert parse_lines(dumps(events).splitlines()) == events
