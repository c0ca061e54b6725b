"""What the case holds about SEN Support and care status, read from its history.

Neither sets a statutory clock: they are the evidence a case officer weighs when deciding whether
to assess (CoP 9.14: what the setting has done under SEN Support) and the parties a looked-after
or previously looked-after child brings (the Virtual School Head, Pupil Premium Plus). Both are
order-independent: any delivery order of the same events gives the same summary, since the
history sorts events by event time and event id first.

Rules (docs/casework-rules.md, "SEN Support evidence" and "Looked-after and adopted children"):

- A later record of a cycle id replaces the earlier one; cycles are listed by ``assess_on``.
- Notional SEN budget spend: the latest record per academic year; the threshold (policy, the
  DfE's 6,000 pounds) is reached when the latest year's spend is at least the threshold.
- A top-up decision answers the request with its id; the latest decision dated on or after the
  request wins. A decision dated before its request, or naming no known request, is not applied
  and is listed as a note.
- Care status: the latest of the request's ``looked_after``, ``LookedAfterStatusChanged`` and
  ``CareStatusRecorded``. Pupil Premium Plus is expected for a looked-after or previously
  looked-after child in reception to year 11; a recorded eligibility that differs is a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ehcp.casework.events import (
    CareStatus,
    CareStatusRecorded,
    GraduatedApproachCycleRecorded,
    LookedAfterStatusChanged,
    NotionalSenBudgetSpendRecorded,
    PermanenceRoute,
    PupilPremiumPlusEligibilityRecorded,
    TopUpFundingDecided,
    TopUpFundingRequested,
    TopUpOutcome,
    VirtualSchoolHeadNamed,
)
from ehcp.casework.history import CaseHistory
from ehcp.casework.rules.advice import year_group_from_birth, year_group_on

#: Pupil Premium Plus covers reception (0) to year 11 (DfE conditions of grant) [S].
PUPIL_PREMIUM_YEARS = range(0, 12)


@dataclass(frozen=True, slots=True)
class GraduatedCycle:
    """One assess-plan-do-review cycle as last recorded."""

    cycle_id: str
    assess_on: date
    plan_on: date
    do_from: date
    review_on: date | None
    setting_id: str | None

    @property
    def reviewed(self) -> bool:
        """The cycle has reached its review."""
        return self.review_on is not None


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    """A top-up funding request and the decision that answers it, if any."""

    request_id: str
    requested_on: date
    requested_pounds: int
    outcome: TopUpOutcome | None
    decided_on: date | None
    agreed_pounds: int | None


@dataclass(frozen=True, slots=True)
class SenSupportEvidence:
    """The setting's SEN Support evidence on the case.

    Attributes:
        cycles: graduated approach cycles, by ``assess_on``.
        notional_spend: (academic year, pounds) per year, oldest first.
        threshold_pounds: the notional SEN budget threshold used (policy).
        threshold_reached: the latest year's spend is at least the threshold; None if no spend.
        top_up: top-up requests with their decisions, by request date.
        notes: what could not be applied, in plain words (no personal data).
    """

    cycles: tuple[GraduatedCycle, ...]
    notional_spend: tuple[tuple[int, int], ...]
    threshold_pounds: int
    threshold_reached: bool | None
    top_up: tuple[TopUpRequest, ...]
    notes: tuple[str, ...]

    @property
    def reviewed_cycles(self) -> int:
        """How many cycles reached their review."""
        return sum(1 for c in self.cycles if c.reviewed)

    @property
    def empty(self) -> bool:
        """Nothing recorded."""
        return not (self.cycles or self.notional_spend or self.top_up or self.notes)


@dataclass(frozen=True, slots=True)
class CareSummary:
    """The child's care status and the parties and funding that follow from it.

    Attributes:
        status: the latest care status.
        since: the date of the record that set it (None: from the request or never recorded).
        route: how a previously looked-after child left care.
        looking_after_la: the LA looking after a looked-after child.
        virtual_school_head_la: the LA whose Virtual School Head is a party (latest named).
        virtual_school_head_agency: the agency id of that VSH, if given.
        pupil_premium_plus: the latest recorded eligibility (None: not recorded).
        pupil_premium_plus_expected: eligibility the care status and year group point to.
        notes: mismatches for a case officer to check.
    """

    status: CareStatus
    since: date | None
    route: PermanenceRoute | None
    looking_after_la: str | None
    virtual_school_head_la: str | None
    virtual_school_head_agency: str | None
    pupil_premium_plus: bool | None
    pupil_premium_plus_expected: bool
    notes: tuple[str, ...]


def sen_support_evidence(history: CaseHistory, threshold_pounds: int) -> SenSupportEvidence:
    """The SEN Support evidence in a case's history."""
    cycles: dict[str, GraduatedCycle] = {}
    for c in history.of_kind(GraduatedApproachCycleRecorded):
        cycles[c.cycle_id] = GraduatedCycle(
            c.cycle_id, c.assess_on, c.plan_on, c.do_from, c.review_on, c.setting_id
        )
    spend: dict[int, int] = {}
    for s in history.of_kind(NotionalSenBudgetSpendRecorded):
        spend[s.academic_year] = s.amount_pounds
    requests: dict[str, TopUpRequest] = {}
    for r in history.of_kind(TopUpFundingRequested):
        requests.setdefault(
            r.request_id,
            TopUpRequest(r.request_id, r.occurred_on, r.amount_pounds, None, None, None),
        )
    notes: list[str] = []
    for d in history.of_kind(TopUpFundingDecided):
        request = requests.get(d.request_id)
        if request is None:
            notes.append(f"top-up decision {d.event_id} names no known request {d.request_id}")
            continue
        if d.occurred_on < request.requested_on:
            notes.append(
                f"top-up decision {d.event_id} is dated before request {d.request_id}; not applied"
            )
            continue
        requests[d.request_id] = TopUpRequest(
            request.request_id, request.requested_on, request.requested_pounds,
            d.outcome, d.occurred_on, d.amount_pounds,
        )
    latest_year = max(spend, default=None)
    return SenSupportEvidence(
        cycles=tuple(sorted(cycles.values(), key=lambda c: (c.assess_on, c.cycle_id))),
        notional_spend=tuple(sorted(spend.items())),
        threshold_pounds=threshold_pounds,
        threshold_reached=None if latest_year is None else spend[latest_year] >= threshold_pounds,
        top_up=tuple(sorted(requests.values(), key=lambda r: (r.requested_on, r.request_id))),
        notes=tuple(notes),
    )


def care_summary(history: CaseHistory) -> CareSummary:
    """The care status, Virtual School Head and Pupil Premium Plus in a case's history."""
    status = (
        CareStatus.LOOKED_AFTER
        if history.request is not None and history.request.looked_after
        else CareStatus.NOT_LOOKED_AFTER
    )
    since: date | None = None
    route: PermanenceRoute | None = None
    looking_after: str | None = None
    vsh_la: str | None = None
    vsh_agency: str | None = None
    ppp: bool | None = None
    for e in history.events:
        if isinstance(e, LookedAfterStatusChanged):
            if e.looked_after:
                status, route, since = CareStatus.LOOKED_AFTER, None, e.occurred_on
            elif status is CareStatus.LOOKED_AFTER:
                status, since, looking_after = CareStatus.NOT_LOOKED_AFTER, e.occurred_on, None
        elif isinstance(e, CareStatusRecorded):
            status, since, route = e.status, e.occurred_on, e.route
            looking_after = e.looking_after_la
        elif isinstance(e, VirtualSchoolHeadNamed):
            vsh_la, vsh_agency = e.la_code, e.agency_id
        elif isinstance(e, PupilPremiumPlusEligibilityRecorded):
            ppp = e.eligible
    year_group: int | None = None
    if history.request is not None:
        recorded_on = history.received_on or history.as_of
        year_group = year_group_on(history.request.year_group, recorded_on, history.as_of)
        if year_group is None:
            year_group = year_group_from_birth(history.request.date_of_birth, history.as_of)
    in_care_group = status in (CareStatus.LOOKED_AFTER, CareStatus.PREVIOUSLY_LOOKED_AFTER)
    expected = in_care_group and (year_group is None or year_group in PUPIL_PREMIUM_YEARS)
    notes: list[str] = []
    if in_care_group and vsh_la is None:
        notes.append(
            "no Virtual School Head named for a looked-after or previously looked-after child"
        )
    if (
        status is CareStatus.LOOKED_AFTER
        and looking_after is not None
        and vsh_la is not None
        and vsh_la != looking_after
    ):
        notes.append(
            f"the Virtual School Head named is LA {vsh_la}'s, but LA {looking_after} looks after "
            "the child (Children Act 1989 s.22(3A)-(3B))"
        )
    if ppp is not None and ppp != expected:
        notes.append(
            "Pupil Premium Plus recorded as "
            + ("eligible" if ppp else "not eligible")
            + " but the care status and year group point the other way; check"
        )
    return CareSummary(
        status=status,
        since=since,
        route=route,
        looking_after_la=looking_after,
        virtual_school_head_la=vsh_la,
        virtual_school_head_agency=vsh_agency,
        pupil_premium_plus=ppp,
        pupil_premium_plus_expected=expected,
        notes=tuple(notes),
    )
