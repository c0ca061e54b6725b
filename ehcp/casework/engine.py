"""The casework engine: a case's events in, its statutory position as of a date out.

``evaluate`` is a pure function. It sorts the events by event time (ties broken by event id),
drops duplicates (same ``event_id``, or an advice submission with a ``contribution_id`` already
seen), ignores events dated after ``as_of``, and works out the stage, every statutory date,
the advice items, the exception grounds and the alerts due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from ehcp.casework import alerts as alert_rules
from ehcp.casework.calendar import Calendar, ClosurePeriod
from ehcp.casework.events import (
    ADVICE_GROUNDS,
    ADVICE_REGULATION,
    GROUND_REGULATION,
    AdditionalAdviceAdded,
    AdviceRequestDeclined,
    AdviceRequested,
    AdviceReused,
    AdviceSubmitted,
    AdviceType,
    AmendedPlanIssued,
    AmendmentsProposed,
    AnnualReviewMeetingHeld,
    AssessmentRefused,
    CaseEvent,
    DecisionNotToIssuePlan,
    DecisionToAssessMade,
    DraftPlanIssued,
    FinalPlanIssued,
    InstitutionClosurePeriodRecorded,
    LookedAfterStatusChanged,
    PhaseTransferNoted,
    PlanCeased,
    ReassessmentDecided,
    RequestForAssessmentReceived,
    TimescaleExceptionEnded,
    TimescaleExceptionRecorded,
)
from ehcp.casework.model import (
    AdviceItem,
    AdviceStatus,
    CaseAssessment,
    DateStatus,
    ExceptionInForce,
    Stage,
    StatutoryDate,
    Timeliness,
)
from ehcp.casework.policy import Policy
from ehcp.casework.rules import advice as advice_rules
from ehcp.casework.rules import assessment as assessment_rules
from ehcp.casework.rules import reassessment as reassessment_rules
from ehcp.casework.rules import review as review_rules
from ehcp.casework.rules.exceptions import (
    absence_qualifies,
    derived_closure_exception,
    excuses_la_limit,
    overlaps,
)
from ehcp.casework.rules.limits import TimeLimit
from ehcp.errors import CaseworkError

__all__ = ["evaluate", "event_date", "next_alert_due_on"]

_E = TypeVar("_E")
_ADVICE_ORDER = {advice_type: index for index, advice_type in enumerate(AdviceType)}


def event_date(event: CaseEvent, timezone: str = "Europe/London") -> date:
    """The local calendar date of an event's event time."""
    if isinstance(event, RequestForAssessmentReceived):
        return event.received_at.astimezone(ZoneInfo(timezone)).date()
    if isinstance(event, TimescaleExceptionRecorded):
        return event.event_date
    return event.occurred_on


def _normalise(events: Iterable[CaseEvent], timezone: str) -> list[CaseEvent]:
    """Sort by event time, tie-break by event id (then content), and drop duplicates."""
    ordered = sorted(events, key=lambda e: (event_date(e, timezone), e.event_id, repr(e)))
    seen_events: set[str] = set()
    seen_contributions: set[str] = set()
    result: list[CaseEvent] = []
    for event in ordered:
        if event.event_id in seen_events:
            continue
        seen_events.add(event.event_id)
        if isinstance(event, AdviceSubmitted):
            if event.contribution_id in seen_contributions:
                continue
            seen_contributions.add(event.contribution_id)
        result.append(event)
    return result


def _of(events: Sequence[CaseEvent], kind: type[_E]) -> list[_E]:
    return [e for e in events if isinstance(e, kind)]


def _first_on_or_after(days: Iterable[date], start: date) -> date | None:
    return min((d for d in days if d >= start), default=None)


@dataclass(frozen=True, slots=True)
class _Clock:
    """One evaluation's shared inputs for building statutory dates."""

    as_of: date
    exceptions: tuple[ExceptionInForce, ...]


def _statutory_date(
    clock: _Clock,
    limit: TimeLimit,
    start: date,
    due: date,
    completed_on: date | None,
    *,
    not_applicable: bool = False,
) -> StatutoryDate:
    excusing = (
        tuple(e.exception_id for e in clock.exceptions if excuses_la_limit(e, start, due))
        if limit.excusable
        else ()
    )
    if not_applicable:
        status = DateStatus.NOT_APPLICABLE
    elif completed_on is not None:
        status = DateStatus.MET if completed_on <= due else DateStatus.MISSED
    elif clock.as_of > due:
        status = DateStatus.MISSED
    else:
        status = DateStatus.PENDING
    return StatutoryDate(
        name=limit.name,
        due_on=due,
        rule_text=limit.rule_text,
        regulation=limit.regulation,
        status=status,
        completed_on=completed_on,
        excused=bool(excusing),
        exception_ids=excusing,
        clock_started_on=start,
    )


def _not_before_date(
    clock: _Clock, limit: TimeLimit, start: date, ends: date, done_on: date | None
) -> StatutoryDate:
    """A period the next step must not cut short (comments on a draft or on amendments)."""
    if done_on is not None:
        status = DateStatus.MET if done_on > ends else DateStatus.MISSED
    elif clock.as_of > ends:
        status = DateStatus.MET
    else:
        status = DateStatus.PENDING
    return StatutoryDate(
        name=limit.name,
        due_on=ends,
        rule_text=limit.rule_text,
        regulation=limit.regulation,
        status=status,
        completed_on=done_on,
        excused=False,
        exception_ids=(),
        clock_started_on=start,
    )


def _exceptions(
    events: Sequence[CaseEvent],
    request: RequestForAssessmentReceived | None,
    calendar: Calendar,
    as_of: date,
) -> tuple[ExceptionInForce, ...]:
    ended: dict[str, date] = {}
    for end in _of(events, TimescaleExceptionEnded):
        ended[end.exception_id] = end.ends_on
    recorded: dict[str, ExceptionInForce] = {}
    for rec in _of(events, TimescaleExceptionRecorded):
        if rec.exception_id in recorded:
            continue
        ends_on = ended.get(rec.exception_id, rec.ends_on)
        if ends_on is not None and ends_on < rec.starts_on:
            raise CaseworkError(f"exception {rec.exception_id} ends before it starts")
        recorded[rec.exception_id] = ExceptionInForce(
            exception_id=rec.exception_id,
            ground=rec.ground,
            regulation=GROUND_REGULATION[rec.ground],
            starts_on=rec.starts_on,
            ends_on=ends_on,
            request_id=rec.request_id,
            derived=False,
            qualifies=absence_qualifies(rec.ground, rec.starts_on, ends_on, as_of),
        )
    derived: list[ExceptionInForce] = []
    seen_requests: set[str] = set()
    for req in _of(events, AdviceRequested):
        if req.request_id in seen_requests:
            continue
        seen_requests.add(req.request_id)
        early_years = (
            request is not None
            and request.setting_is_early_years
            and req.agency_id == request.setting_id
        )
        found = derived_closure_exception(
            req, calendar.closures_for(req.agency_id), early_years=early_years
        )
        if found is not None:
            derived.append(found)
    return (*recorded.values(), *derived)


def _advice(
    events: Sequence[CaseEvent],
    request: RequestForAssessmentReceived | None,
    cycle_start: date | None,
    cycle_decided_on: date | None,
    looked_after: bool,
    exceptions: tuple[ExceptionInForce, ...],
    as_of: date,
    policy: Policy,
    timezone: str,
) -> tuple[AdviceItem, ...]:
    """Advice items of the current assessment (initial or re-assessment)."""

    def in_cycle(event: CaseEvent) -> bool:
        return cycle_start is None or event_date(event, timezone) >= cycle_start

    requests: dict[str, AdviceRequested] = {}
    for req in _of(events, AdviceRequested):
        if in_cycle(req) and req.request_id not in requests:
            requests[req.request_id] = req
    declined: dict[str, date] = {}
    for dec in _of(events, AdviceRequestDeclined):
        if dec.request_id in requests and dec.request_id not in declined:
            declined[dec.request_id] = dec.occurred_on

    submissions: dict[str, list[AdviceSubmitted]] = {rid: [] for rid in requests}
    unmatched: list[AdviceSubmitted] = []
    for sub in _of(events, AdviceSubmitted):
        if not in_cycle(sub):
            continue
        if sub.request_id is not None and sub.request_id in requests:
            submissions[sub.request_id].append(sub)
            continue
        # Unlinked advice answers the earliest open request of its type sent before it.
        candidates = [
            r
            for r in sorted(requests.values(), key=lambda r: (r.sent_on, r.request_id))
            if r.advice_type is sub.advice_type
            and r.sent_on <= sub.submitted_on
            and not submissions[r.request_id]
            and r.request_id not in declined
        ]
        if sub.request_id is None and candidates:
            submissions[candidates[0].request_id].append(sub)
        else:
            unmatched.append(sub)

    items: list[AdviceItem] = []
    for req in requests.values():
        body_received = req.received_by_body_on or req.sent_on
        due = advice_rules.advice_due_on(body_received)
        subs = submissions[req.request_id]
        excusing = tuple(
            e.exception_id
            for e in exceptions
            if e.request_id == req.request_id
            and e.ground in ADVICE_GROUNDS
            and overlaps(e, body_received, due)
        )
        if subs:
            status = AdviceStatus.RECEIVED
        elif req.request_id in declined:
            status = AdviceStatus.DECLINED
        elif as_of > due:
            status = AdviceStatus.OVERDUE
        else:
            status = AdviceStatus.REQUESTED
        items.append(
            AdviceItem(
                advice_type=req.advice_type,
                regulation=ADVICE_REGULATION[req.advice_type],
                status=status,
                required=False,
                request_id=req.request_id,
                agency_id=req.agency_id,
                sent_on=req.sent_on,
                received_by_body_on=body_received,
                due_on=due,
                submitted_on=min((s.submitted_on for s in subs), default=None),
                contribution_ids=tuple(s.contribution_id for s in subs),
                excused=bool(excusing),
                exception_ids=excusing,
                subject=f"request:{req.request_id}",
            )
        )
    for sub in unmatched:
        items.append(
            AdviceItem(
                advice_type=sub.advice_type,
                regulation=ADVICE_REGULATION[sub.advice_type],
                status=AdviceStatus.RECEIVED,
                required=False,
                request_id=sub.request_id,
                agency_id=sub.agency_id,
                submitted_on=sub.submitted_on,
                contribution_ids=(sub.contribution_id,),
                subject=f"contribution:{sub.contribution_id}",
            )
        )
    seen_reuse: set[str] = set()
    for reuse in _of(events, AdviceReused):
        # Reg 6(4): only when the author, the LA and the family all agree.
        if not in_cycle(reuse) or not reuse.all_agreed or reuse.reuse_id in seen_reuse:
            continue
        seen_reuse.add(reuse.reuse_id)
        items.append(
            AdviceItem(
                advice_type=reuse.advice_type,
                regulation=f"{ADVICE_REGULATION[reuse.advice_type]} met under reg 6(4)",
                status=AdviceStatus.REUSED,
                required=False,
                contribution_ids=(reuse.source_contribution_id,),
                reuse_id=reuse.reuse_id,
                submitted_on=reuse.occurred_on,
                subject=f"reuse:{reuse.reuse_id}",
            )
        )

    if cycle_decided_on is None:
        return tuple(_sorted_items(items))

    # Requirements: reg 6(1)(a)-(e), (g), 6(2) and the VSH policy, plus 6(1)(f)/(h) additions.
    active = {
        AdviceStatus.REQUESTED,
        AdviceStatus.OVERDUE,
        AdviceStatus.RECEIVED,
        AdviceStatus.REUSED,
    }
    if request is not None:
        required_types = advice_rules.required_advice(
            year_group=advice_rules.year_group_on(
                request.year_group, event_date(request, timezone), cycle_decided_on
            ),
            date_of_birth=request.date_of_birth,
            on=cycle_decided_on,
            vision_impairment=request.vision_impairment,
            hearing_impairment=request.hearing_impairment,
            looked_after=looked_after,
            virtual_school_head_for_looked_after=policy.virtual_school_head_for_looked_after,
        )
    else:
        required_types = advice_rules.ALWAYS_REQUIRED + (
            (AdviceType.VIRTUAL_SCHOOL_HEAD,)
            if looked_after and policy.virtual_school_head_for_looked_after
            else ()
        )
    used: set[int] = set()
    result: list[AdviceItem] = []
    for item in items:
        required = item.advice_type in required_types
        result.append(_replace_required(item, True) if required else item)
    for advice_type in required_types:
        if not any(i.advice_type is advice_type and i.status in active for i in result):
            result.append(
                AdviceItem(
                    advice_type=advice_type,
                    regulation=ADVICE_REGULATION[advice_type],
                    status=AdviceStatus.NOT_REQUESTED,
                    required=True,
                    subject=f"required:{advice_type.value}",
                )
            )
    seen_additions: set[str] = set()
    for addition in _of(events, AdditionalAdviceAdded):
        if not in_cycle(addition) or addition.addition_id in seen_additions:
            continue
        seen_additions.add(addition.addition_id)
        match = next(
            (
                index
                for index, i in enumerate(result)
                if index not in used
                and i.advice_type is addition.advice_type
                and i.status in active
                and (addition.agency_id is None or i.agency_id == addition.agency_id)
            ),
            None,
        )
        if match is not None:
            used.add(match)
            result[match] = _replace_required(result[match], True)
            continue
        result.append(
            AdviceItem(
                advice_type=addition.advice_type,
                regulation=ADVICE_REGULATION[addition.advice_type],
                status=AdviceStatus.NOT_REQUESTED,
                required=True,
                agency_id=addition.agency_id,
                subject=f"addition:{addition.addition_id}",
            )
        )
    return tuple(_sorted_items(result))


def _replace_required(item: AdviceItem, required: bool) -> AdviceItem:
    return replace(item, required=required)


def _sorted_items(items: Iterable[AdviceItem]) -> list[AdviceItem]:
    return sorted(
        items,
        key=lambda i: (_ADVICE_ORDER[i.advice_type], i.sent_on or date.min, i.subject),
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
    timezone = policy.receipt_rule.timezone
    all_events = _normalise(events, timezone)
    if not all_events:
        raise CaseworkError("a case needs at least one event")
    case_ids = {e.case_id for e in all_events}
    if len(case_ids) != 1:
        raise CaseworkError(f"events belong to {len(case_ids)} cases; evaluate one case at a time")
    case_id = all_events[0].case_id
    future = [event_date(e, timezone) for e in all_events if event_date(e, timezone) > as_of]
    evs = [e for e in all_events if event_date(e, timezone) <= as_of]

    closures: dict[str, list[ClosurePeriod]] = {}
    la_default: list[ClosurePeriod] = list(policy.la_default_closures)
    for rec in _of(evs, InstitutionClosurePeriodRecorded):
        period = ClosurePeriod(rec.first_day, rec.last_day)
        if rec.institution_id is None:
            la_default.append(period)
        else:
            closures.setdefault(rec.institution_id, []).append(period)
    calendar = calendar.with_closures(closures, la_default)

    requests = _of(evs, RequestForAssessmentReceived)
    request = requests[0] if requests else None
    received_on = (
        calendar.receipt_date(request.received_at, policy.receipt_rule) if request else None
    )
    exceptions = _exceptions(evs, request, calendar, as_of)
    clock = _Clock(as_of=as_of, exceptions=exceptions)

    def first(kind: type) -> date | None:
        found = [event_date(e, timezone) for e in evs if isinstance(e, kind)]
        return min(found, default=None)

    decided_to_assess = first(DecisionToAssessMade)
    refused = first(AssessmentRefused)
    not_issuing = first(DecisionNotToIssuePlan)
    draft = first(DraftPlanIssued)
    final_dates = sorted(e.occurred_on for e in _of(evs, FinalPlanIssued))
    final = final_dates[0] if final_dates else None
    ceased = first(PlanCeased)
    amended_dates = sorted(e.occurred_on for e in _of(evs, AmendedPlanIssued))
    proposals = sorted({e.occurred_on for e in _of(evs, AmendmentsProposed)})
    meetings = sorted({e.occurred_on for e in _of(evs, AnnualReviewMeetingHeld)})
    reassessments = sorted({e.occurred_on for e in _of(evs, ReassessmentDecided)})

    dates: list[StatutoryDate] = []
    if request is not None and received_on is not None:
        decision_on = min((d for d in (decided_to_assess, refused) if d is not None), default=None)
        dates.append(
            _statutory_date(
                clock,
                assessment_rules.DECISION_TO_ASSESS,
                received_on,
                assessment_rules.decision_to_assess_due(received_on),
                decision_on,
            )
        )
        plan_path = draft is not None or final is not None
        closed = refused is not None and decided_to_assess is None
        dates.append(
            _statutory_date(
                clock,
                assessment_rules.DECISION_NOT_TO_ISSUE,
                received_on,
                assessment_rules.decision_not_to_issue_due(received_on),
                not_issuing,
                not_applicable=closed or (plan_path and not_issuing is None),
            )
        )
        no_plan = closed or not_issuing is not None
        dates.append(
            _statutory_date(
                clock,
                assessment_rules.LATEST_DRAFT_PLAN,
                received_on,
                assessment_rules.latest_draft_plan_due(received_on),
                draft,
                not_applicable=no_plan and draft is None,
            )
        )
        if draft is not None:
            dates.append(
                _not_before_date(
                    clock,
                    assessment_rules.DRAFT_COMMENT_PERIOD,
                    draft,
                    assessment_rules.draft_comment_period_ends(draft),
                    _first_on_or_after(final_dates, draft),
                )
            )
        dates.append(
            _statutory_date(
                clock,
                assessment_rules.FINAL_PLAN,
                received_on,
                assessment_rules.final_plan_due(received_on),
                final,
                not_applicable=no_plan and final is None,
            )
        )

    date_of_birth = request.date_of_birth if request else None
    if final is not None:
        anchors = [final, *(m for m in meetings if m > final)]
        for index, anchor in enumerate(anchors):
            completed = anchors[index + 1] if index + 1 < len(anchors) else None
            dates.append(
                _statutory_date(
                    clock,
                    review_rules.ANNUAL_REVIEW,
                    anchor,
                    review_rules.annual_review_due(
                        anchor, date_of_birth, policy.under_five_review_months
                    ),
                    completed,
                )
            )
    for proposed in proposals:
        issued = _first_on_or_after(amended_dates, proposed)
        dates.append(
            _not_before_date(
                clock,
                review_rules.AMENDMENT_COMMENT_PERIOD,
                proposed,
                review_rules.amendment_comment_period_ends(proposed),
                issued,
            )
        )
        dates.append(
            _statutory_date(
                clock,
                review_rules.AMENDED_PLAN,
                proposed,
                review_rules.amended_plan_due(proposed),
                issued,
            )
        )
        meeting = max((m for m in meetings if m <= proposed), default=None)
        if meeting is not None:
            dates.append(
                _statutory_date(
                    clock,
                    review_rules.AMENDED_PLAN_AFTER_REVIEW,
                    meeting,
                    review_rules.amended_plan_due_after_review_meeting(meeting),
                    issued,
                )
            )
    for transfer in _of(evs, PhaseTransferNoted):
        due = review_rules.phase_transfer_review_due(transfer.transfer_on, transfer.kind)
        window_start = due - timedelta(days=366)
        dates.append(
            _statutory_date(
                clock,
                review_rules.PHASE_TRANSFER,
                transfer.occurred_on,
                due,
                _first_on_or_after(amended_dates, window_start),
            )
        )
    for notice in reassessments:
        done = _first_on_or_after([*final_dates, *amended_dates], notice)
        dates.append(
            _statutory_date(
                clock,
                reassessment_rules.REASSESSMENT_PLAN,
                notice,
                reassessment_rules.reassessment_plan_due(notice),
                done,
            )
        )

    if ceased is not None:
        dates = [_ceased(d, ceased) for d in dates]
    dates.sort(key=lambda d: (d.due_on, d.name))

    # Advice: the current assessment is the latest re-assessment, else the initial one.
    latest_reassessment = reassessments[-1] if reassessments else None
    cycle_start = latest_reassessment
    cycle_decided_on = latest_reassessment if latest_reassessment else decided_to_assess
    looked_after = request.looked_after if request else False
    for change in _of(evs, LookedAfterStatusChanged):
        looked_after = change.looked_after
    cycle_plan_issued = (
        _first_on_or_after([*final_dates, *amended_dates], latest_reassessment)
        if latest_reassessment
        else final
    )
    advice_items = _advice(
        evs,
        request,
        cycle_start,
        cycle_decided_on,
        looked_after,
        exceptions,
        as_of,
        policy,
        timezone,
    )

    stage = _stage(
        request,
        decided_to_assess,
        refused,
        not_issuing,
        draft,
        final,
        ceased,
        proposals,
        amended_dates,
        latest_reassessment,
        cycle_plan_issued,
    )
    gathering = stage in (
        Stage.REQUEST_RECEIVED,
        Stage.ASSESSING,
        Stage.DRAFT_PLAN_ISSUED,
        Stage.REASSESSING,
    )
    not_requested_from = (
        cycle_decided_on + timedelta(days=policy.advice_request_grace_days)
        if gathering and cycle_decided_on is not None
        else None
    )
    alert_items = advice_items if gathering else ()
    raised = []
    if stage is not Stage.CEASED:
        raised = [
            *alert_rules.advice_alerts(case_id, alert_items, as_of, policy, not_requested_from),
            *alert_rules.deadline_alerts(case_id, dates, as_of, policy),
        ]
    raised.sort(key=lambda a: (a.due_on or date.min, a.kind.value, a.subject))

    candidates = [*future]
    if stage is not Stage.CEASED:
        candidates.extend(
            alert_rules.transition_dates(dates, alert_items, policy, not_requested_from)
        )
    # An open absence that ends may stop qualifying once it is known to be under 4 weeks.
    candidates.extend(e.ends_on + timedelta(days=1) for e in exceptions if e.ends_on is not None)
    next_change = min((d for d in candidates if d > as_of), default=None)

    final_date = next((d for d in dates if d.name == assessment_rules.FINAL_PLAN.name), None)
    within = (
        None
        if final_date is None
        or final_date.status in (DateStatus.PENDING, DateStatus.NOT_APPLICABLE)
        else final_date.status is DateStatus.MET
    )
    exceptions_apply = final_date is not None and final_date.excused
    timeliness = Timeliness(
        final_plan_within_20_weeks=within,
        exceptions_apply=exceptions_apply,
        within_20_weeks_or_excused=None if within is None else (within or exceptions_apply),
    )
    return CaseAssessment(
        case_id=case_id,
        as_of=as_of,
        stage=stage,
        received_on=received_on,
        statutory_dates=tuple(dates),
        advice=advice_items,
        exceptions=tuple(sorted(exceptions, key=lambda e: (e.starts_on, e.exception_id))),
        alerts=tuple(raised),
        timeliness=timeliness,
        next_change_on=next_change,
    )


def _ceased(item: StatutoryDate, ceased_on: date) -> StatutoryDate:
    """After cessation, steps not yet done are not owed (a limit already missed stays missed)."""
    if item.completed_on is not None or item.status is DateStatus.NOT_APPLICABLE:
        return item
    if item.status is DateStatus.MISSED and item.due_on < ceased_on:
        return item
    return replace(item, status=DateStatus.NOT_APPLICABLE)


def _stage(
    request: RequestForAssessmentReceived | None,
    decided_to_assess: date | None,
    refused: date | None,
    not_issuing: date | None,
    draft: date | None,
    final: date | None,
    ceased: date | None,
    proposals: Sequence[date],
    amended_dates: Sequence[date],
    latest_reassessment: date | None,
    cycle_plan_issued: date | None,
) -> Stage:
    if ceased is not None:
        return Stage.CEASED
    if latest_reassessment is not None and cycle_plan_issued is None:
        return Stage.REASSESSING
    if proposals and _first_on_or_after(amended_dates, proposals[-1]) is None:
        return Stage.AMENDING
    if final is not None:
        return Stage.PLAN_MAINTAINED
    if not_issuing is not None:
        return Stage.PLAN_NOT_ISSUED
    if draft is not None:
        return Stage.DRAFT_PLAN_ISSUED
    if decided_to_assess is not None:
        return Stage.ASSESSING
    if refused is not None:
        return Stage.ASSESSMENT_REFUSED
    if request is not None:
        return Stage.REQUEST_RECEIVED
    return Stage.NO_REQUEST


def next_alert_due_on(assessment: CaseAssessment) -> date | None:
    """The earliest date after ``assessment.as_of`` on which its set of alert ids would change.

    Assumes no new events arrive; a timer can index cases by this date instead of scanning
    every case daily. None means nothing will change by the passage of time alone.
    """
    return assessment.next_change_on
