"""Every statutory date of a case, with its status and whether an exception excuses it.

The dates come from ``rules/``; this module only decides which limits apply to the case, what
completes each one, and whether it is PENDING, MET, MISSED or NOT_APPLICABLE as of the date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from ehcp.casework import transfer as transfer_rules
from ehcp.casework.clocks import not_before, time_limit
from ehcp.casework.events import PhaseTransferNoted
from ehcp.casework.history import CaseHistory, first_on_or_after
from ehcp.casework.model import DateStatus, ExceptionInForce, StatutoryDate
from ehcp.casework.plan_timeline import plan_dates, review_maintained_dates
from ehcp.casework.policy import Policy
from ehcp.casework.rules import assessment as assessment_rules
from ehcp.casework.rules import reassessment as reassessment_rules
from ehcp.casework.rules import review as review_rules
from ehcp.casework.rules.dates import first_day_of_months_ending_with

# Reg 18 is met by an amended plan issued in the 12 months ending with the deadline (our
# reading: the review and amendment for this transfer, not the previous year's), or by a
# decision in that period, after a review, that no amendment is needed ("review and amend,
# where necessary").
PHASE_TRANSFER_LOOKBACK_MONTHS = 12


def _assessment_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...]
) -> list[StatutoryDate]:
    """Reg 5, 10 and 13 limits, all running from the date the request counts as received."""
    received = history.received_on
    if received is None:
        return []
    decided, refused, final = history.decided_to_assess, history.refused, history.final
    # A later step implies the earlier one happened by then, if its own event is missing.
    later_steps = (history.not_issuing, history.draft, final)
    decision_on = min((d for d in (decided, refused, *later_steps) if d is not None), default=None)
    draft_on = history.draft if history.draft is not None else final
    closed = refused is not None and decided is None
    plan_path = history.draft is not None or final is not None
    no_plan = closed or history.not_issuing is not None
    dates = [
        time_limit(
            history,
            exceptions,
            assessment_rules.DECISION_TO_ASSESS,
            received,
            assessment_rules.decision_to_assess_due(received),
            decision_on,
        ),
        time_limit(
            history,
            exceptions,
            assessment_rules.DECISION_NOT_TO_ISSUE,
            received,
            assessment_rules.decision_not_to_issue_due(received),
            history.not_issuing,
            not_applicable=closed or (plan_path and history.not_issuing is None),
        ),
        time_limit(
            history,
            exceptions,
            assessment_rules.LATEST_DRAFT_PLAN,
            received,
            assessment_rules.latest_draft_plan_due(received),
            draft_on,
            not_applicable=no_plan and draft_on is None,
        ),
        time_limit(
            history,
            exceptions,
            assessment_rules.FINAL_PLAN,
            received,
            assessment_rules.final_plan_due(received),
            final,
            not_applicable=no_plan and final is None,
        ),
    ]
    if history.draft is not None:
        dates.append(
            not_before(
                history,
                assessment_rules.DRAFT_COMMENT_PERIOD,
                history.draft,
                assessment_rules.draft_comment_period_ends(history.draft),
                first_on_or_after(history.final_dates, history.draft),
            )
        )
    return dates


def _review_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...], policy: Policy
) -> list[StatutoryDate]:
    """Annual reviews (CFA s.44), amendments (reg 22, Devon) and phase transfers (reg 18)."""
    dates: list[StatutoryDate] = []
    if history.final is not None:
        anchors = [history.final, *(m for m in history.meetings if m > history.final)]
        for index, anchor in enumerate(anchors):
            held = anchors[index + 1] if index + 1 < len(anchors) else None
            due = review_rules.annual_review_due(
                anchor, history.date_of_birth, policy.under_five_review_months
            )
            dates.append(
                time_limit(history, exceptions, review_rules.ANNUAL_REVIEW, anchor, due, held)
            )
    for proposed in history.proposals:
        issued = first_on_or_after(history.amended_dates, proposed)
        dates.append(
            not_before(
                history,
                review_rules.AMENDMENT_COMMENT_PERIOD,
                proposed,
                review_rules.amendment_comment_period_ends(proposed),
                issued,
            )
        )
        dates.append(
            time_limit(
                history,
                exceptions,
                review_rules.AMENDED_PLAN,
                proposed,
                review_rules.amended_plan_due(proposed),
                issued,
            )
        )
        meeting = max((m for m in history.meetings if m <= proposed), default=None)
        if meeting is not None:
            dates.append(
                time_limit(
                    history,
                    exceptions,
                    review_rules.AMENDED_PLAN_AFTER_REVIEW,
                    meeting,
                    review_rules.amended_plan_due_after_review_meeting(meeting),
                    issued,
                )
            )
    for transfer in history.of_kind(PhaseTransferNoted):
        due = review_rules.phase_transfer_review_due(transfer.transfer_on, transfer.kind)
        dates.append(
            time_limit(
                history,
                exceptions,
                review_rules.PHASE_TRANSFER,
                transfer.occurred_on,
                due,
                first_on_or_after(
                    [*history.amended_dates, *review_maintained_dates(history)],
                    first_day_of_months_ending_with(due, PHASE_TRANSFER_LOOKBACK_MONTHS),
                ),
            )
        )
    return dates


def _reassessment_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...]
) -> list[StatutoryDate]:
    """Reg 27(2): a plan within 14 weeks of each notice of re-assessment."""
    plans = [*history.final_dates, *history.amended_dates]
    return [
        time_limit(
            history,
            exceptions,
            reassessment_rules.REASSESSMENT_PLAN,
            notice,
            reassessment_rules.reassessment_plan_due(notice),
            first_on_or_after(plans, notice),
        )
        for notice in history.reassessments
    ]


def _transfer_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...], dates: list[StatutoryDate]
) -> list[StatutoryDate]:
    """Reg 15: each transfer's own limits; its review replaces that period's annual review."""
    added: list[StatutoryDate] = []
    notices = transfer_rules.notices(history)
    for moved in transfer_rules.transfers(history):
        when = moved.occurred_on
        added.append(time_limit(
            history, exceptions, transfer_rules.PLAN_TRANSFER, moved.moved_on,
            transfer_rules.plan_transfer_due(history.calendar, moved.moved_on,
                                             moved.became_aware_on),
            when))
        added.append(time_limit(
            history, exceptions, transfer_rules.TRANSFER_NOTICE, when,
            transfer_rules.transfer_notice_due(when), first_on_or_after(notices, when)))
        anchors = [d for d in (history.final, *history.meetings) if d is not None and d <= when]
        if not anchors:
            continue  # no plan yet: nothing to review
        anchor = max(anchors)
        added.append(time_limit(
            history, exceptions, transfer_rules.TRANSFER_REVIEW, anchor,
            transfer_rules.transfer_review_due(anchor, when),
            first_on_or_after(history.meetings, when)))
        dates[:] = [
            replace(d, status=DateStatus.NOT_APPLICABLE)
            if d.name == review_rules.ANNUAL_REVIEW.name and d.clock_started_on == anchor
            else d
            for d in dates
        ]
    return added


def _commissioning_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...]
) -> list[StatutoryDate]:
    """Reg 16 [S]: the old body's notice and, where the new body cannot secure the health care
    provision, its request to the LA."""
    added: list[StatutoryDate] = []
    requests = transfer_rules.health_requests(history)
    for change in transfer_rules.commissioning_changes(history):
        aware = change.old_body_aware_on or change.occurred_on
        added.append(time_limit(
            history, exceptions, transfer_rules.COMMISSIONING_BODY_NOTICE, aware,
            transfer_rules.commissioning_body_notice_due(history.calendar, change),
            change.notified_on))
        if change.provision_practicable is None:
            continue  # the new body has not yet found whether it can secure the provision
        start = transfer_rules.new_body_aware_on(change)
        added.append(time_limit(
            history, exceptions, transfer_rules.HEALTH_PROVISION_REQUEST, start,
            transfer_rules.health_provision_request_due(history.calendar, change),
            first_on_or_after(requests, change.occurred_on),
            not_applicable=change.provision_practicable))
    return added


def after_cessation(item: StatutoryDate, ceased_on: date) -> StatutoryDate:
    """After cessation, steps not yet done are not owed (a limit already missed stays missed)."""
    if item.completed_on is not None or item.status is DateStatus.NOT_APPLICABLE:
        return item
    if item.status is DateStatus.MISSED and item.due_on < ceased_on:
        return item
    return replace(item, status=DateStatus.NOT_APPLICABLE)


def statutory_dates(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...], policy: Policy
) -> tuple[StatutoryDate, ...]:
    """Every statutory date of the case, in due-date order."""
    dates = [
        *_assessment_dates(history, exceptions),
        *_review_dates(history, exceptions, policy),
        *_reassessment_dates(history, exceptions),
        *plan_dates(history, policy),
        *_commissioning_dates(history, exceptions),
    ]
    dates += _transfer_dates(history, exceptions, dates)
    if history.ceased is not None:
        dates = [after_cessation(d, history.ceased) for d in dates]
    return tuple(sorted(dates, key=lambda d: (d.due_on, d.name)))
