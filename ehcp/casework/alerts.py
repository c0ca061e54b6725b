"""Alerts: what a caseworker should act on as of a date, and when that set next changes.

Kinds (``AlertKind``): ADVICE_DUE_SOON, ADVICE_OVERDUE, ADVICE_NOT_REQUESTED, DEADLINE_AT_RISK,
DEADLINE_MISSED, and CONTRIBUTION_UNROUTED (raised by routing outside casework).

An alert's id is derived from (case, kind, subject, threshold), so an alert fires once per
threshold crossing: a caller keeps the ids it has seen and diffs each new evaluation. An alert
that is no longer due (advice arrived, exception recorded) is simply absent next time.

Only the most urgent due-soon threshold crossed is reported for a subject: with thresholds
(10, 5), 7 days before the due date gives the ``10d`` alert, 4 days before gives ``5d``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, timedelta

from ehcp.casework.events import ADVICE_LABEL, ADVICE_REGULATION
from ehcp.casework.model import (
    AdviceItem,
    AdviceStatus,
    Alert,
    AlertKind,
    DateStatus,
    Severity,
    StatutoryDate,
)
from ehcp.casework.policy import Policy

__all__ = [
    "Alert",
    "AlertKind",
    "Severity",
    "advice_alerts",
    "alert_id",
    "deadline_alerts",
    "transition_dates",
]

# uuid5 namespace for alert ids (fixed forever: changing it changes every alert id).
ALERT_NAMESPACE = uuid.UUID("6f1c1d0e-3b0a-5d55-9a57-2f3c8e0b7a11")

# "Not before" dates: the step must come after them, so there is nothing to chase.
NOT_BEFORE_DATES = frozenset(
    {"draft_comment_period_ends", "amendment_comment_period_ends", "cessation_appeal_period_ends"}
)

OPEN_ADVICE = frozenset({AdviceStatus.REQUESTED, AdviceStatus.OVERDUE})


def alert_id(case_id: str, kind: AlertKind, subject: str, threshold: str) -> str:
    """The deterministic alert id for a (case, kind, subject, threshold) crossing."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{case_id}|{kind.value}|{subject}|{threshold}"))


def _crossed_threshold(due_on: date, as_of: date, thresholds: tuple[int, ...]) -> int | None:
    """The smallest due-soon threshold (in days) already crossed, or None; due date not passed."""
    days_left = (due_on - as_of).days
    if days_left < 0:
        return None
    crossed = [t for t in thresholds if days_left <= t]
    return min(crossed) if crossed else None


def _severity_for(threshold: int, thresholds: tuple[int, ...]) -> Severity:
    return Severity.WARNING if threshold == min(thresholds) else Severity.INFO


def _date_subject(item: StatutoryDate) -> str:
    return f"{item.name}:{item.due_on.isoformat()}"


def advice_alerts(
    case_id: str,
    items: Iterable[AdviceItem],
    as_of: date,
    policy: Policy,
    not_requested_from: date | None,
) -> list[Alert]:
    """Alerts about advice: due soon, overdue (reg 8(1)) and required but not requested (reg 6).

    Args:
        case_id: the case.
        items: advice items of the open assessment.
        as_of: evaluation date.
        policy: thresholds.
        not_requested_from: first day ADVICE_NOT_REQUESTED may fire (decision to assess plus
            the policy grace period), or None if advice is not being gathered.
    """
    alerts: list[Alert] = []
    for item in items:
        label = ADVICE_LABEL[item.advice_type]
        regulation = item.regulation
        if (
            item.status is AdviceStatus.NOT_REQUESTED
            and item.required
            and not_requested_from is not None
            and as_of >= not_requested_from
        ):
            alerts.append(
                Alert(
                    alert_id=alert_id(
                        case_id, AlertKind.ADVICE_NOT_REQUESTED, item.subject, "grace"
                    ),
                    case_id=case_id,
                    kind=AlertKind.ADVICE_NOT_REQUESTED,
                    subject=item.subject,
                    threshold="grace",
                    severity=Severity.WARNING,
                    regulation=regulation,
                    message=f"{label} ({regulation}) is required but has not been requested.",
                    due_on=None,
                    days_overdue=0,
                    agency_id=item.agency_id,
                    advice_type=item.advice_type,
                )
            )
            continue
        if item.status not in OPEN_ADVICE or item.due_on is None or item.excused:
            continue
        reg = ADVICE_REGULATION[item.advice_type]
        if as_of > item.due_on:
            overdue = (as_of - item.due_on).days
            alerts.append(
                Alert(
                    alert_id=alert_id(case_id, AlertKind.ADVICE_OVERDUE, item.subject, "overdue"),
                    case_id=case_id,
                    kind=AlertKind.ADVICE_OVERDUE,
                    subject=item.subject,
                    threshold="overdue",
                    severity=Severity.WARNING,
                    regulation="reg 8(1)",
                    message=(
                        f"{label} ({reg}) asked for under request {item.request_id} was due on "
                        f"{item.due_on.isoformat()} and is {overdue} day(s) overdue."
                    ),
                    due_on=item.due_on,
                    days_overdue=overdue,
                    agency_id=item.agency_id,
                    advice_type=item.advice_type,
                )
            )
            continue
        threshold = _crossed_threshold(item.due_on, as_of, policy.due_soon_days)
        if threshold is None:
            continue
        days_left = (item.due_on - as_of).days
        alerts.append(
            Alert(
                alert_id=alert_id(
                    case_id, AlertKind.ADVICE_DUE_SOON, item.subject, f"{threshold}d"
                ),
                case_id=case_id,
                kind=AlertKind.ADVICE_DUE_SOON,
                subject=item.subject,
                threshold=f"{threshold}d",
                severity=_severity_for(threshold, policy.due_soon_days),
                regulation="reg 8(1)",
                message=(
                    f"{label} ({reg}) asked for under request {item.request_id} is due on "
                    f"{item.due_on.isoformat()}, in {days_left} day(s)."
                ),
                due_on=item.due_on,
                days_overdue=0,
                agency_id=item.agency_id,
                advice_type=item.advice_type,
            )
        )
    return alerts


def deadline_alerts(
    case_id: str, dates: Iterable[StatutoryDate], as_of: date, policy: Policy
) -> list[Alert]:
    """Alerts about the LA's own time limits: at risk (due soon) and missed (not excused)."""
    alerts: list[Alert] = []
    for item in dates:
        if item.name in NOT_BEFORE_DATES or item.completed_on is not None:
            continue
        subject = _date_subject(item)
        label = item.name.replace("_", " ")
        if item.status is DateStatus.MISSED:
            if item.excused:
                continue
            overdue = (as_of - item.due_on).days
            alerts.append(
                Alert(
                    alert_id=alert_id(case_id, AlertKind.DEADLINE_MISSED, subject, "missed"),
                    case_id=case_id,
                    kind=AlertKind.DEADLINE_MISSED,
                    subject=subject,
                    threshold="missed",
                    severity=Severity.CRITICAL,
                    regulation=item.regulation,
                    message=(
                        f"The statutory limit '{label}' ({item.regulation}) passed on "
                        f"{item.due_on.isoformat()} and is {overdue} day(s) overdue."
                    ),
                    due_on=item.due_on,
                    days_overdue=overdue,
                )
            )
            continue
        if item.status is not DateStatus.PENDING:
            continue
        threshold = _crossed_threshold(item.due_on, as_of, policy.due_soon_days)
        if threshold is None:
            continue
        days_left = (item.due_on - as_of).days
        alerts.append(
            Alert(
                alert_id=alert_id(case_id, AlertKind.DEADLINE_AT_RISK, subject, f"{threshold}d"),
                case_id=case_id,
                kind=AlertKind.DEADLINE_AT_RISK,
                subject=subject,
                threshold=f"{threshold}d",
                severity=_severity_for(threshold, policy.due_soon_days),
                regulation=item.regulation,
                message=(
                    f"The statutory limit '{label}' ({item.regulation}) falls on "
                    f"{item.due_on.isoformat()}, in {days_left} day(s)."
                ),
                due_on=item.due_on,
                days_overdue=0,
            )
        )
    return alerts


def transition_dates(
    dates: Iterable[StatutoryDate],
    items: Iterable[AdviceItem],
    policy: Policy,
    not_requested_from: date | None,
) -> list[date]:
    """Every date on which, without new events, an alert could appear or disappear.

    Due-soon thresholds start at ``due - t``; overdue / missed start the day after ``due``.
    """
    result: list[date] = []
    items = list(items)
    if not_requested_from is not None and any(
        i.status is AdviceStatus.NOT_REQUESTED and i.required for i in items
    ):
        result.append(not_requested_from)
    for item in items:
        if item.status in OPEN_ADVICE and item.due_on is not None and not item.excused:
            result.extend(item.due_on - timedelta(days=t) for t in policy.due_soon_days)
            result.append(item.due_on + timedelta(days=1))
    for deadline in dates:
        if deadline.name in NOT_BEFORE_DATES or deadline.completed_on is not None:
            continue
        if deadline.status in (DateStatus.PENDING, DateStatus.MISSED):
            result.extend(deadline.due_on - timedelta(days=t) for t in policy.due_soon_days)
            result.append(deadline.due_on + timedelta(days=1))
    return result
