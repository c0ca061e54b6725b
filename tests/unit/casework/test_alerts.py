"""Alerts: thresholds, deterministic ids, severities, plain messages and the next change date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest

from ehcp.casework.engine import evaluate, next_alert_due_on
from ehcp.casework.events import AdviceType, CaseEvent
from ehcp.casework.model import AlertKind, CaseAssessment, Severity
from ehcp.casework.policy import Policy

from .builders import REAL_CALENDAR, decided, request_received, requested, submitted

POLICY = Policy()


def _case() -> list[CaseEvent]:
    # Medical advice: the ICB received the request on 25 June 2025, so it is due 6 August.
    return [
        request_received(date(2025, 5, 12), date_of_birth=date(2014, 3, 9), year_group=6),
        decided(date(2025, 6, 20)),
        requested(
            "REQ-MED",
            AdviceType.MEDICAL,
            date(2025, 6, 23),
            agency_id="ICB-QWE",
            received_by_body_on=date(2025, 6, 25),
        ),
    ]


def run(
    as_of: date, events: Sequence[CaseEvent] | None = None, policy: Policy = POLICY
) -> CaseAssessment:
    return evaluate(events if events is not None else _case(), as_of, policy, REAL_CALENDAR)


def med_alerts(result: CaseAssessment) -> list[tuple[AlertKind, str, Severity, int]]:
    return [
        (a.kind, a.threshold, a.severity, a.days_overdue)
        for a in result.alerts
        if a.subject == "request:REQ-MED"
    ]


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2025, 7, 26), []),  # 11 days to go
        (date(2025, 7, 27), [(AlertKind.ADVICE_DUE_SOON, "10d", Severity.INFO, 0)]),
        (date(2025, 8, 1), [(AlertKind.ADVICE_DUE_SOON, "5d", Severity.WARNING, 0)]),
        (date(2025, 8, 6), [(AlertKind.ADVICE_DUE_SOON, "5d", Severity.WARNING, 0)]),  # due today
        (date(2025, 8, 7), [(AlertKind.ADVICE_OVERDUE, "overdue", Severity.WARNING, 1)]),
        (date(2025, 8, 20), [(AlertKind.ADVICE_OVERDUE, "overdue", Severity.WARNING, 14)]),
    ],
)
def test_advice_alert_thresholds(as_of: date, expected: list[tuple[object, ...]]) -> None:
    """Advice alerts cross 10 days, then 5 days before the reg 8(1) due date, then overdue."""
    assert med_alerts(run(as_of)) == expected


def test_thresholds_are_policy() -> None:
    """An LA can set its own due-soon thresholds, e.g. 15 days."""
    result = run(date(2025, 7, 22), policy=Policy(due_soon_days=(15,)))
    assert med_alerts(result) == [(AlertKind.ADVICE_DUE_SOON, "15d", Severity.WARNING, 0)]


def test_alert_id_is_stable_within_a_threshold_and_changes_across() -> None:
    """The same threshold crossing gives the same alert id on different days; the next threshold a
    new one."""
    ids = {
        d: [a.alert_id for a in run(d).alerts if a.subject == "request:REQ-MED"]
        for d in (date(2025, 7, 27), date(2025, 7, 28), date(2025, 8, 1))
    }
    assert ids[date(2025, 7, 27)] == ids[date(2025, 7, 28)]
    assert ids[date(2025, 8, 1)] != ids[date(2025, 7, 27)]


def test_alert_absent_once_advice_arrives() -> None:
    """When the advice arrives the overdue alert is simply absent from the next evaluation."""
    events: list[CaseEvent] = [
        *_case(),
        submitted("CON-9", AdviceType.MEDICAL, date(2025, 8, 10), "REQ-MED"),
    ]
    assert med_alerts(run(date(2025, 8, 12), events)) == []


def test_deadline_at_risk_and_missed() -> None:
    """The decision whether to assess is at risk 10 days before its reg 5(1) date and missed the day
    after."""
    events: list[CaseEvent] = [request_received(date(2025, 1, 6))]  # decision due 17 February
    at_risk = {(a.kind, a.threshold) for a in run(date(2025, 2, 7), events).alerts}
    missed = run(date(2025, 2, 18), events).alerts
    assert (AlertKind.DEADLINE_AT_RISK, "10d") in at_risk
    assert [
        (a.kind, a.severity, a.days_overdue)
        for a in missed
        if a.subject == "decision_to_assess_due:2025-02-17"
    ] == [(AlertKind.DEADLINE_MISSED, Severity.CRITICAL, 1)]


def test_not_requested_alert_waits_for_policy_grace_period() -> None:
    """With a 5-day grace period, required advice not requested is flagged 5 days after the
    decision."""
    events: list[CaseEvent] = [request_received(date(2025, 1, 6)), decided(date(2025, 2, 10))]
    policy = Policy(advice_request_grace_days=5)
    early = run(date(2025, 2, 14), events, policy)
    late = run(date(2025, 2, 15), events, policy)
    assert not [a for a in early.alerts if a.kind is AlertKind.ADVICE_NOT_REQUESTED]
    assert len([a for a in late.alerts if a.kind is AlertKind.ADVICE_NOT_REQUESTED]) == 5
    assert next_alert_due_on(early) == date(2025, 2, 15)


def test_messages_carry_no_personal_data() -> None:
    """Alert messages name advice, requests and dates, never the child's date of birth."""
    result = run(date(2025, 8, 7))
    assert result.alerts
    for alert in result.alerts:
        assert "2014-03-09" not in alert.message
        assert alert.regulation


def test_next_alert_due_on_is_the_next_threshold() -> None:
    """From 20 July the next change is 27 July, when the medical advice crosses 10 days."""
    result = run(date(2025, 7, 20))
    assert next_alert_due_on(result) == date(2025, 7, 27)
    assert {a.alert_id for a in run(date(2025, 7, 26)).alerts} == {
        a.alert_id for a in result.alerts
    }
    assert {a.alert_id for a in run(date(2025, 7, 27)).alerts} != {
        a.alert_id for a in result.alerts
    }


def test_next_alert_due_on_none_when_nothing_pending() -> None:
    """A refused request with its decision made on time has nothing further to alert about."""
    from ehcp.casework.events import AssessmentRefused

    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        AssessmentRefused(event_id="r", case_id=_case()[0].case_id, occurred_on=date(2025, 2, 1)),
    ]
    result = run(date(2025, 2, 2), events)
    assert next_alert_due_on(result) is None
    assert run(date(2025, 2, 2) + timedelta(days=400), events).alerts == ()
