"""Casework events: the facts of an EHC case, each dated by when it happened.

Every event is a frozen dataclass with a past-tense name, an ``event_id`` (unique, used to drop
duplicates), a ``case_id`` and its event time: ``occurred_on`` (a date) for most events, or
``occurred_at`` (a timezone-aware datetime) for the request for assessment, whose time of day
matters for the receipt rule. Event time is when the thing happened, never when we processed it.

Events whose date has a domain name (``sent_on``, ``submitted_on``, ``received_at``) expose it as
``occurred_on`` / ``occurred_at`` too, so the engine can sort any mix of events the same way.

Over 400 lines on purpose: it is the casework vocabulary, one small frozen dataclass per event
type with its regulation, read as a whole by anyone checking the rules; splitting it by stage would
scatter the names the Avro contract and the JSON forms depend on.

Regulation references are to the SEND Regulations 2014 (SI 2014/1530), "reg", unless stated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeAlias

from ehcp.errors import CaseworkError


class AdviceType(enum.Enum):
    """The advice and information the LA must (or may) seek for an EHC needs assessment, reg 6.

    Member names are part of the Avro contract (``AdviceType`` enum): never rename them.
    """

    PARENT_OR_YOUNG_PERSON = "PARENT_OR_YOUNG_PERSON"  # reg 6(1)(a)
    EDUCATIONAL = "EDUCATIONAL"  # reg 6(1)(b)
    MEDICAL = "MEDICAL"  # reg 6(1)(c)
    PSYCHOLOGICAL = "PSYCHOLOGICAL"  # reg 6(1)(d)
    SOCIAL_CARE = "SOCIAL_CARE"  # reg 6(1)(e)
    OTHER_LA = "OTHER_LA"  # reg 6(1)(f): anyone else the LA thinks appropriate
    PREPARATION_FOR_ADULTHOOD = "PREPARATION_FOR_ADULTHOOD"  # reg 6(1)(g): year 9 onwards
    FAMILY_REQUESTED = "FAMILY_REQUESTED"  # reg 6(1)(h): anyone the family reasonably requests
    VISION_HEARING_SPECIALIST = "VISION_HEARING_SPECIALIST"  # reg 6(2)
    VIRTUAL_SCHOOL_HEAD = "VIRTUAL_SCHOOL_HEAD"  # LA policy for looked-after children, not statute


ADVICE_REGULATION: dict[AdviceType, str] = {
    AdviceType.PARENT_OR_YOUNG_PERSON: "reg 6(1)(a)",
    AdviceType.EDUCATIONAL: "reg 6(1)(b)",
    AdviceType.MEDICAL: "reg 6(1)(c)",
    AdviceType.PSYCHOLOGICAL: "reg 6(1)(d)",
    AdviceType.SOCIAL_CARE: "reg 6(1)(e)",
    AdviceType.OTHER_LA: "reg 6(1)(f)",
    AdviceType.PREPARATION_FOR_ADULTHOOD: "reg 6(1)(g)",
    AdviceType.FAMILY_REQUESTED: "reg 6(1)(h)",
    AdviceType.VISION_HEARING_SPECIALIST: "reg 6(2)",
    AdviceType.VIRTUAL_SCHOOL_HEAD: "LA policy (not statute)",
}

ADVICE_LABEL: dict[AdviceType, str] = {
    AdviceType.PARENT_OR_YOUNG_PERSON: "Parent or young person's advice",
    AdviceType.EDUCATIONAL: "Educational advice",
    AdviceType.MEDICAL: "Medical advice",
    AdviceType.PSYCHOLOGICAL: "Psychological advice",
    AdviceType.SOCIAL_CARE: "Social care advice",
    AdviceType.OTHER_LA: "Advice the LA thinks appropriate",
    AdviceType.PREPARATION_FOR_ADULTHOOD: "Preparation for adulthood advice",
    AdviceType.FAMILY_REQUESTED: "Advice the family requested",
    AdviceType.VISION_HEARING_SPECIALIST: "Vision or hearing specialist teacher's advice",
    AdviceType.VIRTUAL_SCHOOL_HEAD: "Virtual School Head's advice",
}


class ExceptionGround(enum.Enum):
    """A ground on which a time limit need not be met (it is excused, never moved).

    ``REG_10_4_A`` and ``REG_10_4_B`` are derived by the engine from educational advice
    requests and closure periods; they are not recorded as events.
    """

    REG_10_4_A = "REG_10_4_A"  # advice asked of a head teacher/principal near a 4-week closure
    REG_10_4_B = "REG_10_4_B"  # the same for an early years provider's SEN lead
    REG_10_4_C = "REG_10_4_C"  # exceptional personal circumstances of child, parent or young person
    REG_10_4_D = "REG_10_4_D"  # child, parent or young person absent from the area >= 4 weeks
    REG_8_2_A = "REG_8_2_A"  # exceptional circumstances during the body's 6 weeks
    REG_8_2_B = "REG_8_2_B"  # absent from the area >= 4 continuous weeks during the 6 weeks
    REG_8_2_C = "REG_8_2_C"  # the child or young person missed the body's appointment


LA_GROUNDS = frozenset(
    {
        ExceptionGround.REG_10_4_A,
        ExceptionGround.REG_10_4_B,
        ExceptionGround.REG_10_4_C,
        ExceptionGround.REG_10_4_D,
    }
)
RECORDABLE_LA_GROUNDS = frozenset({ExceptionGround.REG_10_4_C, ExceptionGround.REG_10_4_D})
ADVICE_GROUNDS = frozenset(
    {ExceptionGround.REG_8_2_A, ExceptionGround.REG_8_2_B, ExceptionGround.REG_8_2_C}
)
# Grounds that only hold if the absence lasted at least 4 continuous weeks.
ABSENCE_GROUNDS = frozenset({ExceptionGround.REG_10_4_D, ExceptionGround.REG_8_2_B})

GROUND_REGULATION: dict[ExceptionGround, str] = {
    ExceptionGround.REG_10_4_A: "reg 10(4)(a)",
    ExceptionGround.REG_10_4_B: "reg 10(4)(b)",
    ExceptionGround.REG_10_4_C: "reg 10(4)(c)",
    ExceptionGround.REG_10_4_D: "reg 10(4)(d)",
    ExceptionGround.REG_8_2_A: "reg 8(2)(a)",
    ExceptionGround.REG_8_2_B: "reg 8(2)(b)",
    ExceptionGround.REG_8_2_C: "reg 8(2)(c)",
}


class DeclineReason(enum.Enum):
    """Why a body declined or rejected an advice request.

    None of these is a statutory exception: the LA must still obtain the advice.
    """

    MISSED_APPOINTMENT = "MISSED_APPOINTMENT"
    NOT_KNOWN_TO_SERVICE = "NOT_KNOWN_TO_SERVICE"
    WRONG_SERVICE = "WRONG_SERVICE"
    INCOMPLETE_REQUEST = "INCOMPLETE_REQUEST"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"  # the body already holds the same request
    OTHER = "OTHER"


class PhaseTransferKind(enum.Enum):
    """The kind of phase transfer, which sets the review-and-amend deadline in reg 18."""

    SCHOOL_PHASE = "SCHOOL_PHASE"  # reg 18(1)(b): by 15 February of the transfer year
    SECONDARY_TO_POST_16 = "SECONDARY_TO_POST_16"  # reg 18(1)(a): by 31 March
    POST_16_TO_POST_16 = "POST_16_TO_POST_16"  # reg 18(2): 5 months before the transfer


def _require_aware(value: datetime, field_name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CaseworkError(f"{field_name} must be timezone-aware")


@dataclass(frozen=True, slots=True)
class RequestForAssessmentReceived:
    """The LA received a request for an EHC needs assessment (starts the reg 5, 10, 13 clocks).

    Attributes:
        received_at: when the request reached the LA (timezone-aware); the receipt rule turns
            it into the date the clocks start.
        date_of_birth: the child's date of birth.
        year_group: national curriculum year group (0 = reception) or None if not in one.
        vision_impairment: the child has a vision impairment (reg 6(2)).
        hearing_impairment: the child has a hearing impairment (reg 6(2)).
        looked_after: the child is looked after by a local authority.
        setting_id: the LA's institution id for the child's school or setting, if any.
        setting_is_early_years: the setting is an early years provider (reg 10(4)(b), not (a)).
    """

    event_id: str
    case_id: str
    received_at: datetime
    date_of_birth: date
    year_group: int | None
    vision_impairment: bool = False
    hearing_impairment: bool = False
    looked_after: bool = False
    setting_id: str | None = None
    setting_is_early_years: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.received_at, "received_at")
        if self.year_group is not None and not -1 <= self.year_group <= 14:
            raise CaseworkError("year_group must be between -1 (nursery) and 14, or None")

    @property
    def occurred_at(self) -> datetime:
        """Event time: when the request was received."""
        return self.received_at


@dataclass(frozen=True, slots=True)
class DecisionToAssessMade:
    """The LA notified the family that it will carry out an EHC needs assessment (reg 5(1))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class AssessmentRefused:
    """The LA notified the family that it will not assess (reg 4(1) notice, reg 5(1) limit)."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class AdviceRequested:
    """The LA asked a body for advice under reg 6.

    Attributes:
        request_id: the LA's id for this request (contributions quote it).
        advice_type: which reg 6 advice is asked for.
        agency_id: the body asked; for educational advice, the institution id whose closure
            periods decide reg 10(4)(a)/(b).
        sent_on: the date the LA sent the request (reg 10(4)(a)/(b) look at this date).
        received_by_body_on: the date the body received it; the body's 6 weeks run from
            here (reg 8(1)). None if not yet known: the engine then uses ``sent_on``.
    """

    event_id: str
    case_id: str
    request_id: str
    advice_type: AdviceType
    agency_id: str
    sent_on: date
    received_by_body_on: date | None = None

    def __post_init__(self) -> None:
        if self.received_by_body_on is not None and self.received_by_body_on < self.sent_on:
            raise CaseworkError("received_by_body_on cannot be before sent_on")

    @property
    def occurred_on(self) -> date:
        """Event time: the date the request was sent."""
        return self.sent_on


@dataclass(frozen=True, slots=True)
class AdviceSubmitted:
    """A body (or the family) submitted advice; ``request_id`` links it to a request if known."""

    event_id: str
    case_id: str
    contribution_id: str
    advice_type: AdviceType
    submitted_on: date
    request_id: str | None = None
    agency_id: str | None = None

    @property
    def occurred_on(self) -> date:
        """Event time: the date the advice was submitted."""
        return self.submitted_on


@dataclass(frozen=True, slots=True)
class AdviceReused:
    """Existing advice is used instead of a new request (reg 6(4)).

    It satisfies the requirement only if the author, the LA and the parent or young person
    all agree the existing advice is sufficient. Reg 6(4) does not apply to the family's own
    advice (reg 6(1)(a)), so such an event is refused.
    """

    event_id: str
    case_id: str
    reuse_id: str
    advice_type: AdviceType
    source_contribution_id: str
    occurred_on: date
    author_agreed: bool
    la_agreed: bool
    family_agreed: bool

    def __post_init__(self) -> None:
        if self.advice_type is AdviceType.PARENT_OR_YOUNG_PERSON:
            raise CaseworkError("reg 6(4) reuse does not apply to the family's advice, reg 6(1)(a)")

    @property
    def all_agreed(self) -> bool:
        """True when all three agreements reg 6(4) needs are recorded."""
        return self.author_agreed and self.la_agreed and self.family_agreed


@dataclass(frozen=True, slots=True)
class AdviceRequestDeclined:
    """The body declined or rejected an advice request; the request is closed, not excused."""

    event_id: str
    case_id: str
    request_id: str
    occurred_on: date
    reason: DeclineReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TimescaleExceptionRecorded:
    """A ground for not meeting a time limit was recorded.

    With ``request_id`` it is a reg 8(2)(a)-(c) ground for that advice request; without, a
    reg 10(4)(c)/(d) ground for the LA's own limits (applied by reg 5(4), 13(3) and 27(3)).
    Reg 10(4)(a)/(b) are derived from closure periods and cannot be recorded.
    """

    event_id: str
    case_id: str
    exception_id: str
    ground: ExceptionGround
    starts_on: date
    ends_on: date | None = None
    request_id: str | None = None
    occurred_on: date | None = None

    def __post_init__(self) -> None:
        if self.request_id is None and self.ground not in RECORDABLE_LA_GROUNDS:
            raise CaseworkError(
                "an exception without request_id must be reg 10(4)(c) or (d); "
                "(a) and (b) are derived from closure periods"
            )
        if self.request_id is not None and self.ground not in ADVICE_GROUNDS:
            raise CaseworkError("an exception for an advice request must be reg 8(2)(a)-(c)")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise CaseworkError("ends_on cannot be before starts_on")

    @property
    def event_date(self) -> date:
        """Event time: when it was recorded, else when the ground began."""
        return self.occurred_on if self.occurred_on is not None else self.starts_on


@dataclass(frozen=True, slots=True)
class TimescaleExceptionEnded:
    """A recorded exception ground stopped applying on ``ends_on`` (the last day it applied)."""

    event_id: str
    case_id: str
    exception_id: str
    ends_on: date

    @property
    def occurred_on(self) -> date:
        """Event time: the last day the ground applied."""
        return self.ends_on


@dataclass(frozen=True, slots=True)
class DecisionNotToIssuePlan:
    """After assessing, the LA decided not to issue an EHC plan (reg 10(1))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class DraftPlanIssued:
    """The draft EHC plan was served on the family (reg 13(1)); that day is day 1 of 15."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class FinalPlanIssued:
    """The final EHC plan was issued (reg 13(2))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class AnnualReviewMeetingHeld:
    """A review meeting of the plan was held (CFA s.44(1), reg 20/21)."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class AmendmentsProposed:
    """The LA sent proposed amendments to the plan (reg 22(2)); starts the 8 weeks of reg 22(3)."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class AmendedPlanIssued:
    """The final amended plan was issued (reg 22(3))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class ReassessmentDecided:
    """The LA gave notice of its decision to re-assess (reg 27); starts 14 weeks (reg 27(2))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class PhaseTransferNoted:
    """The child or young person will transfer phase on ``transfer_on`` (reg 18)."""

    event_id: str
    case_id: str
    occurred_on: date
    transfer_on: date
    kind: PhaseTransferKind


@dataclass(frozen=True, slots=True)
class PlanCeased:
    """The LA ceased to maintain the plan; every open clock stops."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class LookedAfterStatusChanged:
    """The child became, or stopped being, looked after."""

    event_id: str
    case_id: str
    occurred_on: date
    looked_after: bool


@dataclass(frozen=True, slots=True)
class AdditionalAdviceAdded:
    """Advice beyond the always-required list is to be sought.

    ``advice_type`` is OTHER_LA (reg 6(1)(f), LA discretion) or FAMILY_REQUESTED (reg 6(1)(h),
    reasonably requested by the family). A request of that type to ``agency_id`` (or to any
    body if ``agency_id`` is None) meets it.
    """

    event_id: str
    case_id: str
    addition_id: str
    advice_type: AdviceType
    occurred_on: date
    agency_id: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.advice_type not in (AdviceType.OTHER_LA, AdviceType.FAMILY_REQUESTED):
            raise CaseworkError("additional advice must be OTHER_LA (6(1)(f)) or FAMILY_REQUESTED")


@dataclass(frozen=True, slots=True)
class InstitutionClosurePeriodRecorded:
    """An institution is closed from ``first_day`` to ``last_day`` inclusive (its term dates).

    With ``institution_id`` None it sets an LA default closure for institutions without their
    own term dates.
    """

    event_id: str
    case_id: str
    institution_id: str | None
    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise CaseworkError("last_day cannot be before first_day")

    @property
    def occurred_on(self) -> date:
        """Event time: the first closed day."""
        return self.first_day


CaseEvent: TypeAlias = (
    RequestForAssessmentReceived
    | DecisionToAssessMade
    | AssessmentRefused
    | AdviceRequested
    | AdviceSubmitted
    | AdviceReused
    | AdviceRequestDeclined
    | TimescaleExceptionRecorded
    | TimescaleExceptionEnded
    | DecisionNotToIssuePlan
    | DraftPlanIssued
    | FinalPlanIssued
    | AnnualReviewMeetingHeld
    | AmendmentsProposed
    | AmendedPlanIssued
    | ReassessmentDecided
    | PhaseTransferNoted
    | PlanCeased
    | LookedAfterStatusChanged
    | AdditionalAdviceAdded
    | InstitutionClosurePeriodRecorded
)

EVENT_TYPES: dict[str, type[CaseEvent]] = {
    cls.__name__: cls
    for cls in (
        RequestForAssessmentReceived,
        DecisionToAssessMade,
        AssessmentRefused,
        AdviceRequested,
        AdviceSubmitted,
        AdviceReused,
        AdviceRequestDeclined,
        TimescaleExceptionRecorded,
        TimescaleExceptionEnded,
        DecisionNotToIssuePlan,
        DraftPlanIssued,
        FinalPlanIssued,
        AnnualReviewMeetingHeld,
        AmendmentsProposed,
        AmendedPlanIssued,
        ReassessmentDecided,
        PhaseTransferNoted,
        PlanCeased,
        LookedAfterStatusChanged,
        AdditionalAdviceAdded,
        InstitutionClosurePeriodRecorded,
    )
}
