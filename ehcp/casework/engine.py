"""The casework engine: a case's events in, its statutory position as of a date out.

``evaluate`` is a pure function. It reads the events into a history (sorted by event time with
ties broken by event id, duplicates dropped, events after ``as_of`` set aside), then works out
the exception grounds, every statutory date, the advice items, the stage, the alerts due and
the next date on which the alerts would change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from ehcp.casework import alerts as alert_rules
from ehcp.casework import delegation
from ehcp.casework.advice_tracker import advice_items, current_cycle
from ehcp.casework.calendar import Calendar
from ehcp.casework.events import ABSENCE_GROUNDS, CaseEvent
from ehcp.casework.exception_log import case_exceptions
from ehcp.casework.history import build_history, event_date
from ehcp.casework.model import (
    CaseAssessment,
    DateStatus,
    Stage,
    StatutoryDate,
    Timeliness,
)
from ehcp.casework.plan_facts import plan_facts
from ehcp.casework.policy import Policy
from ehcp.casework.rules.assessment import FINAL_PLAN
from ehcp.casework.stage import GATHERING_ADVICE, stage_of
from ehcp.casework.support import care_summary, sen_support_evidence
from ehcp.casework.timeline import statutory_dates

__all__ = ["evaluate", "event_date", "next_alert_due_on"]


def _timeliness(dates: Iterable[StatutoryDate]) -> Timeliness:
    """The 20-week figure including and excluding exceptions (DfE SEN2)."""
    final = next((d for d in dates if d.name == FINAL_PLAN.name), None)
    decided = final is not None and final.status in (DateStatus.MET, DateStatus.MISSED)
    within = (final.status is DateStatus.MET) if final is not None and decided else None
    exceptions_apply = final is not None and final.excused
    return Timeliness(
        final_plan_within_20_weeks=within,
        exceptions_apply=exceptions_apply,
        within_20_weeks_or_excused=None if within is None else (within or exceptions_apply),
    )


def evaluate(
    events: Iterable[CaseEvent],
    as_of: date,
    policy: Policy | None = None,
    calendar: Calendar | None = None,
) -> CaseAssessment:
    """Work out a case's statutory position as of a date.

    Args:
        events: the case's events in any order; duplicates are ignored.
        as_of: the date to evaluate on; events dated after it are ignored.
        policy: the LA's policy (defaults to ``Policy()``).
        calendar: working days and closure periods (defaults to ``policy.calendar()``).

    Returns:
        The case assessment.

    Raises:
        CaseworkError: if there are no events, or events of more than one case.
    """
    policy = policy if policy is not None else Policy()
    calendar = calendar if calendar is not None else policy.calendar()
    history = build_history(events, as_of, policy, calendar)
    exceptions = case_exceptions(history)
    dates = statutory_dates(history, exceptions, policy)
    items = advice_items(history, exceptions, policy)
    stage = stage_of(history)

    gathering = stage in GATHERING_ADVICE
    decided_on = current_cycle(history).decided_on
    not_requested_from = (
        decided_on + timedelta(days=policy.advice_request_grace_days)
        if gathering and decided_on is not None
        else None
    )
    alert_items = items if gathering else ()
    alerts = (
        []
        if stage is Stage.CEASED
        else [
            *alert_rules.advice_alerts(
                history.case_id, alert_items, as_of, policy, not_requested_from
            ),
            *alert_rules.deadline_alerts(history.case_id, dates, as_of, policy),
        ]
    )
    parts = delegation.delegated_parts(history)
    if parts and stage is not Stage.CEASED:
        alerts = [
            *delegation.with_holders(alerts, parts, alert_items),
            *delegation.part_alerts(history.case_id, parts, alert_items, as_of),
        ]
    alerts.sort(key=lambda a: (a.due_on or date.min, a.kind.value, a.subject))

    # Alerts change on threshold crossings, when a set-aside event's date arrives, and when an
    # open absence ends (it stops qualifying if it proves shorter than 4 weeks).
    transitions = (
        []
        if stage is Stage.CEASED
        else alert_rules.transition_dates(dates, alert_items, policy, not_requested_from)
    )
    candidates = [
        *transitions,
        *history.future_dates,
        *(delegation.transition_dates(parts) if gathering else ()),
        *(
            e.ends_on + timedelta(days=1)
            for e in exceptions
            if e.ends_on is not None and e.ground in ABSENCE_GROUNDS
        ),
    ]
    return CaseAssessment(
        case_id=history.case_id,
        as_of=as_of,
        stage=stage,
        received_on=history.received_on,
        statutory_dates=dates,
        advice=items,
        exceptions=exceptions,
        alerts=tuple(alerts),
        timeliness=_timeliness(dates),
        next_change_on=min((d for d in candidates if d > as_of), default=None),
        facts=plan_facts(history),
        sen_support=sen_support_evidence(history, policy.notional_sen_threshold_pounds),
        care=care_summary(history),
        delegations=parts,
    )


def next_alert_due_on(assessment: CaseAssessment) -> date | None:
    """The earliest date after ``assessment.as_of`` on which its set of alert ids may change.

    Assumes no new events arrive; a timer can index cases by this date instead of scanning
    every case daily. None means nothing will change by the passage of time alone. The date
    is exact except that a set-aside future-dated event may turn out not to change the alerts.
    """
    return assessment.next_change_on
