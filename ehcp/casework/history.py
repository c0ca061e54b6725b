"""A case's history as of a date: its events put in order, de-duplicated and read into facts.

Events are sorted by event time (their local date), tie-broken by ``event_id`` and then by
content, so any delivery order gives the same history. Duplicates are dropped: a repeated
``event_id``, or an advice submission whose ``contribution_id`` was already seen. Events dated
after ``as_of`` are set aside: only their dates are kept (the alerts may change on them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from ehcp.casework.calendar import Calendar, ClosurePeriod
from ehcp.casework.events import (
    AdviceSubmitted,
    AmendedPlanIssued,
    AmendmentsProposed,
    AnnualReviewMeetingHeld,
    AssessmentRefused,
    CareStatus,
    CareStatusRecorded,
    CaseEvent,
    DecisionNotToIssuePlan,
    DecisionToAssessMade,
    DraftPlanIssued,
    FinalPlanIssued,
    InstitutionClosurePeriodRecorded,
    LookedAfterStatusChanged,
    PlanCeased,
    ReassessmentDecided,
    RequestForAssessmentReceived,
    TimescaleExceptionRecorded,
)
from ehcp.casework.policy import Policy
from ehcp.errors import CaseworkError

_E = TypeVar("_E")


def event_date(event: CaseEvent, timezone: str = "Europe/London") -> date:
    """The local calendar date of an event's event time."""
    if isinstance(event, RequestForAssessmentReceived):
        return event.received_at.astimezone(ZoneInfo(timezone)).date()
    if isinstance(event, TimescaleExceptionRecorded):
        return event.event_date
    return event.occurred_on


def of_kind(events: Sequence[CaseEvent], kind: type[_E]) -> list[_E]:
    """The events of one type, in history order."""
    return [e for e in events if isinstance(e, kind)]


def first_on_or_after(days: Iterable[date], start: date) -> date | None:
    """The earliest of ``days`` on or after ``start``."""
    return min((d for d in days if d >= start), default=None)


def normalise(events: Iterable[CaseEvent], timezone: str) -> list[CaseEvent]:
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


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """The facts of a case as of a date, read from its events.

    Attributes:
        case_id: the case.
        as_of: the evaluation date.
        timezone: the zone event dates are read in.
        events: the events dated on or before ``as_of``, in order, without duplicates.
        future_dates: dates of events after ``as_of`` (set aside).
        calendar: the calendar with the case's recorded closure periods added.
        request: the (first) request for assessment, if any.
        received_on: the date the request counts as received (receipt rule applied).
        decided_to_assess: the decision to assess (reg 5(1)).
        refused: the refusal to assess (reg 4(1)).
        not_issuing: the decision not to issue a plan (reg 10(1)).
        draft: the draft plan served (reg 13(1)).
        final_dates: final plans issued, in date order (reg 13(2)).
        ceased: the plan ceased.
        amended_dates: amended plans issued, in order (reg 22(3)).
        proposals: proposed amendments sent, in order (reg 22(2)).
        meetings: review meetings held, in order.
        reassessments: notices of re-assessment, in order (reg 27).
        looked_after: whether the child is looked after as of ``as_of``.
    """

    case_id: str
    as_of: date
    timezone: str
    events: tuple[CaseEvent, ...]
    future_dates: tuple[date, ...]
    calendar: Calendar
    request: RequestForAssessmentReceived | None
    received_on: date | None
    decided_to_assess: date | None
    refused: date | None
    not_issuing: date | None
    draft: date | None
    final_dates: tuple[date, ...]
    ceased: date | None
    amended_dates: tuple[date, ...]
    proposals: tuple[date, ...]
    meetings: tuple[date, ...]
    reassessments: tuple[date, ...]
    looked_after: bool

    @property
    def final(self) -> date | None:
        """The first final plan."""
        return self.final_dates[0] if self.final_dates else None

    @property
    def latest_reassessment(self) -> date | None:
        """The latest notice of re-assessment, if any."""
        return self.reassessments[-1] if self.reassessments else None

    @property
    def date_of_birth(self) -> date | None:
        """The child's date of birth, if a request recorded it."""
        return self.request.date_of_birth if self.request else None

    def of_kind(self, kind: type[_E]) -> list[_E]:
        """The in-scope events of one type, in order."""
        return of_kind(self.events, kind)

    def date_of(self, event: CaseEvent) -> date:
        """An event's local date."""
        return event_date(event, self.timezone)


def build_history(
    events: Iterable[CaseEvent], as_of: date, policy: Policy, calendar: Calendar
) -> CaseHistory:
    """Read a case's events into its history as of ``as_of``.

    Raises:
        CaseworkError: if there are no events, or events of more than one case.
    """
    timezone = policy.receipt_rule.timezone
    all_events = normalise(events, timezone)
    if not all_events:
        raise CaseworkError("a case needs at least one event")
    case_ids = {e.case_id for e in all_events}
    if len(case_ids) != 1:
        raise CaseworkError(f"events belong to {len(case_ids)} cases; evaluate one case at a time")
    dated = [(event_date(e, timezone), e) for e in all_events]
    in_scope = [e for d, e in dated if d <= as_of]
    future = tuple(sorted({d for d, _ in dated if d > as_of}))

    closures: dict[str, list[ClosurePeriod]] = {}
    la_default: list[ClosurePeriod] = list(policy.la_default_closures)
    for rec in of_kind(in_scope, InstitutionClosurePeriodRecorded):
        period = ClosurePeriod(rec.first_day, rec.last_day)
        if rec.institution_id is None:
            la_default.append(period)
        else:
            closures.setdefault(rec.institution_id, []).append(period)
    calendar = calendar.with_closures(closures, la_default)

    requests = of_kind(in_scope, RequestForAssessmentReceived)
    request = requests[0] if requests else None
    received_on = (
        calendar.receipt_date(request.received_at, policy.receipt_rule) if request else None
    )

    def first(kind: type[CaseEvent]) -> date | None:
        return min((event_date(e, timezone) for e in of_kind(in_scope, kind)), default=None)

    def all_dates(kind: type[CaseEvent]) -> tuple[date, ...]:
        return tuple(sorted({event_date(e, timezone) for e in of_kind(in_scope, kind)}))

    looked_after = request.looked_after if request else False
    for change in in_scope:
        if isinstance(change, LookedAfterStatusChanged):
            looked_after = change.looked_after
        elif isinstance(change, CareStatusRecorded):
            looked_after = change.status is CareStatus.LOOKED_AFTER

    return CaseHistory(
        case_id=all_events[0].case_id,
        as_of=as_of,
        timezone=timezone,
        events=tuple(in_scope),
        future_dates=future,
        calendar=calendar,
        request=request,
        received_on=received_on,
        decided_to_assess=first(DecisionToAssessMade),
        refused=first(AssessmentRefused),
        not_issuing=first(DecisionNotToIssuePlan),
        draft=first(DraftPlanIssued),
        final_dates=all_dates(FinalPlanIssued),
        ceased=first(PlanCeased),
        amended_dates=all_dates(AmendedPlanIssued),
        proposals=all_dates(AmendmentsProposed),
        meetings=all_dates(AnnualReviewMeetingHeld),
        reassessments=all_dates(ReassessmentDecided),
        looked_after=looked_after,
    )
