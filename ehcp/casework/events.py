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


class ReviewOutcome(enum.Enum):
    """The LA's decision after a review meeting (reg 20(10), 21(8))."""

    MAINTAIN = "MAINTAIN"  # keep the plan as it is: completes the review with no amendment
    AMEND = "AMEND"  # amend it (reg 22 follows)
    CEASE = "CEASE"  # cease to maintain it (reg 31 follows)


class CessationReason(enum.Enum):
    """Why the LA considers ceasing to maintain a plan (CFA s.45, reg 29-30)."""

    NO_LONGER_NECESSARY = "NO_LONGER_NECESSARY"  # CFA s.45(1)(b); under 18: reg 29(1)
    LEFT_EDUCATION_OVER_18 = "LEFT_EDUCATION_OVER_18"  # reg 30: only after a review
    PAID_EMPLOYMENT_OR_HIGHER_EDUCATION = "PAID_EMPLOYMENT_OR_HIGHER_EDUCATION"  # CFA s.45(2)
    REACHED_25 = "REACHED_25"  # CFA s.46: end of the academic year of the 25th birthday
    NO_LONGER_RESPONSIBLE = "NO_LONGER_RESPONSIBLE"  # CFA s.45(1)(a), e.g. moved to another LA


class CessationOutcome(enum.Enum):
    """The LA's decision after consulting on ceasing (reg 31(2))."""

    CEASE = "CEASE"
    CONTINUE = "CONTINUE"


class MediationCertificateKind(enum.Enum):
    """Why a mediation certificate was issued (CFA s.55(4)-(5); SEND Regs Part 2 regs 34-39).

    The adviser issues each within 3 working days of the event that calls for it [S]; the
    exact paragraph for the last two is not yet checked against the official text [U].
    """

    MEDIATION_DECLINED = "MEDIATION_DECLINED"  # reg 34: the family does not wish to mediate
    MEDIATION_CONCLUDED = "MEDIATION_CONCLUDED"  # after the mediation took place
    NOT_ARRANGED_IN_TIME = "NOT_ARRANGED_IN_TIME"  # the LA could not arrange it within 30 days


class OrderKind(enum.Enum):
    """What a First-tier Tribunal order (or a mediation agreement, reg 42) requires the LA to do.

    The periods are in reg 44(2); reg 42(2) applies them to a mediation agreement on an
    appealable issue as if it were an order, and reg 42(3) gives 2 weeks for anything else.
    """

    ASSESS = "ASSESS"  # reg 44(2)(b): notice 2 weeks; decision 10 weeks or plan 14 weeks
    MAKE_AND_MAINTAIN_PLAN = "MAKE_AND_MAINTAIN_PLAN"  # reg 44(2)(c): draft 5, final 11 weeks
    AMEND_PLAN = "AMEND_PLAN"  # reg 44(2)(e): amended plan within 5 weeks
    NAME_INSTITUTION = "NAME_INSTITUTION"  # reg 44(2)(f): amended plan within 2 weeks
    CONTINUE_TO_MAINTAIN = "CONTINUE_TO_MAINTAIN"  # with immediate effect: no clock
    CEASE = "CEASE"  # reg 44(2)(a): appeal against ceasing dismissed, cease immediately
    NON_APPEALABLE_ACTION = "NON_APPEALABLE_ACTION"  # reg 42(3): mediation agreement, 2 weeks


class OrderSource(enum.Enum):
    """Who made the order: the Tribunal, or the parties in a mediation agreement (reg 42)."""

    TRIBUNAL = "TRIBUNAL"
    MEDIATION_AGREEMENT = "MEDIATION_AGREEMENT"


class PreferenceRefusalGround(enum.Enum):
    """Why the LA will not name the requested school or college (CFA s.39(4))."""

    UNSUITABLE = "UNSUITABLE"  # s.39(4)(a): age, ability, aptitude or SEN
    INCOMPATIBLE_EFFICIENT_EDUCATION = "INCOMPATIBLE_EFFICIENT_EDUCATION"  # s.39(4)(b)(i)
    INCOMPATIBLE_EFFICIENT_RESOURCES = "INCOMPATIBLE_EFFICIENT_RESOURCES"  # s.39(4)(b)(ii)


class PersonalBudgetRefusalReason(enum.Enum):
    """Why the LA refused a personal budget or direct payments (coded; no free text kept)."""

    CANNOT_DISAGGREGATE = "CANNOT_DISAGGREGATE"  # provision bought as part of a larger budget
    DIRECT_PAYMENT_CONDITIONS_NOT_MET = "DIRECT_PAYMENT_CONDITIONS_NOT_MET"
    INSTITUTION_DID_NOT_AGREE = "INSTITUTION_DID_NOT_AGREE"  # provision in a school or college
    ADVERSE_IMPACT_ON_OTHER_SERVICES = "ADVERSE_IMPACT_ON_OTHER_SERVICES"
    OTHER = "OTHER"


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


# -- Annual review (CFA s.44, reg 18-21) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewMeetingScheduled:
    """A review meeting was fixed for ``meeting_on`` (reg 20(1), 21(2)).

    Notice of the date and the advice circulated are due two weeks before it (reg 20(3)-(4),
    21(3)-(4)). A later scheduling for another date replaces an earlier one not yet held.

    Attributes:
        meeting_on: the date fixed for the meeting.
        attends_institution: the child or young person attends a school or other institution
            (reg 20, the meeting may be held by the head teacher or principal); False: reg 21.
    """

    event_id: str
    case_id: str
    occurred_on: date
    meeting_on: date
    attends_institution: bool = True


@dataclass(frozen=True, slots=True)
class ReviewInvitationsSent:
    """Notice of the review meeting on ``meeting_on`` was given to those invited (reg 20(3))."""

    event_id: str
    case_id: str
    occurred_on: date
    meeting_on: date

    def __post_init__(self) -> None:
        if self.occurred_on > self.meeting_on:
            raise CaseworkError("invitations cannot be sent after the meeting they invite to")


@dataclass(frozen=True, slots=True)
class ReviewAdviceCirculated:
    """The advice and information gathered were circulated for ``meeting_on`` (reg 20(4))."""

    event_id: str
    case_id: str
    occurred_on: date
    meeting_on: date


@dataclass(frozen=True, slots=True)
class ReviewReportSent:
    """The review report was prepared and sent after the meeting (reg 20(7)-(8), 21(7))."""

    event_id: str
    case_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class ReviewDecisionMade:
    """The LA decided, after a review meeting, to maintain, amend or cease (reg 20(10), 21(8)).

    MAINTAIN completes the review with no amendment; AMEND is followed by reg 22 proposals;
    CEASE by the reg 31 procedure.
    """

    event_id: str
    case_id: str
    occurred_on: date
    outcome: ReviewOutcome


# -- Ceasing to maintain a plan (CFA s.45, reg 29-31) ---------------------------------------


@dataclass(frozen=True, slots=True)
class CeaseIntentionNotified:
    """The LA told the family it is considering ceasing the plan and consults them (reg 31(1))."""

    event_id: str
    case_id: str
    occurred_on: date
    reason: CessationReason


@dataclass(frozen=True, slots=True)
class CessationDecided:
    """After consulting, the LA decided whether to cease the plan and notified it (reg 31(2)).

    Attributes:
        outcome: CEASE or CONTINUE.
        appeal_rights_notified: the notice of a decision to cease gave the right to appeal,
            its time limits and the mediation information (reg 31(3), reg 32). A decision to
            cease without them is recorded as it happened and shown as a breach.
    """

    event_id: str
    case_id: str
    occurred_on: date
    outcome: CessationOutcome
    appeal_rights_notified: bool = True


# -- Disputes: mediation (CFA s.53-55, reg 32-42) and the Tribunal (CFA s.51, reg 43-45) -----


@dataclass(frozen=True, slots=True)
class MediationRequested:
    """The family told the LA it wishes to pursue mediation (reg 32(e); regs 35-39).

    Attributes:
        mediation_id: the LA's id for this mediation.
        includes_health: the issues include health care provision, so the LA must tell the
            responsible commissioning body within 3 working days.
    """

    event_id: str
    case_id: str
    mediation_id: str
    occurred_on: date
    includes_health: bool = False


@dataclass(frozen=True, slots=True)
class MediationHealthBodyNotified:
    """The LA told the commissioning body the mediation issues (health care provision)."""

    event_id: str
    case_id: str
    mediation_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class MediationHeld:
    """The mediation took place; ``agreement_reached`` if the parties agreed in writing (reg 42)."""

    event_id: str
    case_id: str
    mediation_id: str
    occurred_on: date
    agreement_reached: bool = False


@dataclass(frozen=True, slots=True)
class MediationCertificateIssued:
    """The mediation adviser issued a certificate (CFA s.55(4)-(5)); the family may then appeal."""

    event_id: str
    case_id: str
    occurred_on: date
    kind: MediationCertificateKind
    mediation_id: str | None = None


@dataclass(frozen=True, slots=True)
class TribunalAppealRegistered:
    """The First-tier Tribunal registered the family's appeal (CFA s.51).

    Attributes:
        appeal_id: the Tribunal's or the LA's reference for the appeal.
        response_due_on: the date the Tribunal set for the LA's response, if known.
    """

    event_id: str
    case_id: str
    appeal_id: str
    occurred_on: date
    response_due_on: date | None = None

    def __post_init__(self) -> None:
        if self.response_due_on is not None and self.response_due_on < self.occurred_on:
            raise CaseworkError("response_due_on cannot be before the appeal was registered")


@dataclass(frozen=True, slots=True)
class TribunalResponseSubmitted:
    """The LA sent its response to the appeal."""

    event_id: str
    case_id: str
    appeal_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class TribunalOrderMade:
    """The Tribunal ordered the LA to act, or a mediation agreement bound it to (reg 42, 44).

    ``occurred_on`` is the date of the order (or of the mediation agreement), from which the
    reg 44(2) periods run.
    """

    event_id: str
    case_id: str
    order_id: str
    occurred_on: date
    kind: OrderKind
    source: OrderSource = OrderSource.TRIBUNAL
    appeal_id: str | None = None

    def __post_init__(self) -> None:
        if (
            self.kind is OrderKind.NON_APPEALABLE_ACTION
            and self.source is not OrderSource.MEDIATION_AGREEMENT
        ):
            raise CaseworkError("NON_APPEALABLE_ACTION comes only from a mediation agreement")


@dataclass(frozen=True, slots=True)
class OrderComplied:
    """The LA did what an order (or mediation agreement) required, where no other event shows it."""

    event_id: str
    case_id: str
    order_id: str
    occurred_on: date


# -- Placement: the school or college named in section I (CFA s.38-40, reg 13) --------------


@dataclass(frozen=True, slots=True)
class InstitutionRequested:
    """The family asked for a particular school or college to be named (CFA s.38(2)(b)(ii)).

    Made within the 15 days of reg 13(1) (draft plan) or reg 22(2)(c) (proposed amendments),
    it obliges the LA to consult the institution and name it unless s.39(4) applies.
    """

    event_id: str
    case_id: str
    request_id: str
    institution_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class InstitutionConsulted:
    """The LA consulted a school or college about being named in the plan (CFA s.39(2), 40(3))."""

    event_id: str
    case_id: str
    consultation_id: str
    institution_id: str
    occurred_on: date


@dataclass(frozen=True, slots=True)
class InstitutionConsultationAnswered:
    """The consulted institution replied; ``can_meet_needs`` if it said so."""

    event_id: str
    case_id: str
    consultation_id: str
    occurred_on: date
    can_meet_needs: bool | None = None


@dataclass(frozen=True, slots=True)
class InstitutionRequestRefused:
    """The LA will not name the requested institution, on a CFA s.39(4) ground."""

    event_id: str
    case_id: str
    request_id: str
    occurred_on: date
    ground: PreferenceRefusalGround


@dataclass(frozen=True, slots=True)
class InstitutionNamed:
    """The plan names this school or college in section I (reg 12(1)(i))."""

    event_id: str
    case_id: str
    institution_id: str
    occurred_on: date
    request_id: str | None = None


# -- Personal budget: section J (CFA s.49; SEN (Personal Budgets) Regulations 2014) ----------


@dataclass(frozen=True, slots=True)
class PersonalBudgetRequested:
    """The family asked for a personal budget (CFA s.49(1); PB regs reg 4)."""

    event_id: str
    case_id: str
    occurred_on: date
    direct_payments_requested: bool = False


@dataclass(frozen=True, slots=True)
class PersonalBudgetAgreed:
    """A personal budget was agreed and set out in section J; which parts it covers.

    At least one part (education, health, social care) must be covered.
    """

    event_id: str
    case_id: str
    occurred_on: date
    covers_education: bool
    covers_health: bool
    covers_social_care: bool
    direct_payments: bool = False

    def __post_init__(self) -> None:
        if not (self.covers_education or self.covers_health or self.covers_social_care):
            raise CaseworkError("a personal budget must cover education, health or social care")


@dataclass(frozen=True, slots=True)
class PersonalBudgetRefused:
    """The LA refused a personal budget or direct payments, with a coded reason.

    Attributes:
        reason: why (coded; the letter's own words stay in the LA's system).
        review_right_notified: the family was told the reasons and of its right to ask for
            the decision to be reviewed (PB regs reg 7 for direct payments [S]).
        direct_payments_only: only direct payments were refused; the budget stands.
    """

    event_id: str
    case_id: str
    occurred_on: date
    reason: PersonalBudgetRefusalReason
    review_right_notified: bool = True
    direct_payments_only: bool = False


# --- SEN Support evidence (CoP 6.44-6.56; high needs funding) and looked-after status ---------

#: Upper bound on any amount of money in pounds (refuses absurd or hostile figures).
MONEY_MAX_POUNDS = 10_000_000


class TopUpOutcome(enum.Enum):
    """The LA's decision on a school's request for top-up (high needs) funding."""

    AGREED = "AGREED"
    AGREED_IN_PART = "AGREED_IN_PART"
    REFUSED = "REFUSED"


class CareStatus(enum.Enum):
    """The child's care status as social care records it."""

    LOOKED_AFTER = "LOOKED_AFTER"  # Children Act 1989 s.22(1)
    PREVIOUSLY_LOOKED_AFTER = "PREVIOUSLY_LOOKED_AFTER"  # Children Act 1989 s.23ZZA(8)
    NOT_LOOKED_AFTER = "NOT_LOOKED_AFTER"


class PermanenceRoute(enum.Enum):
    """How a previously looked-after child left care (Children Act 1989 s.23ZZA(8))."""

    ADOPTION = "ADOPTION"
    SPECIAL_GUARDIANSHIP_ORDER = "SPECIAL_GUARDIANSHIP_ORDER"
    CHILD_ARRANGEMENTS_ORDER = "CHILD_ARRANGEMENTS_ORDER"
    ADOPTED_FROM_STATE_CARE_OUTSIDE_ENGLAND_AND_WALES = (
        "ADOPTED_FROM_STATE_CARE_OUTSIDE_ENGLAND_AND_WALES"
    )


def _check_pounds(value: int, field_name: str, *, positive: bool = False) -> None:
    low = 1 if positive else 0
    if not low <= value <= MONEY_MAX_POUNDS:
        raise CaseworkError(f"{field_name} must be {low} to {MONEY_MAX_POUNDS:,} pounds")


def _check_la_code(value: str, field_name: str) -> None:
    if not (len(value) == 3 and value.isascii() and value.isdigit()):
        raise CaseworkError(f"{field_name} must be a 3-digit LA code")


@dataclass(frozen=True, slots=True)
class GraduatedApproachCycleRecorded:
    """One assess-plan-do-review cycle of SEN Support at the child's setting (CoP 6.44-6.56).

    A later record of the same ``cycle_id`` replaces the earlier one (a cycle is first recorded
    while it runs, then again with its review date).

    Attributes:
        cycle_id: the setting's id for the cycle.
        assess_on: the day the need was assessed.
        plan_on: the day the plan (outcomes, support, review date) was agreed.
        do_from: the day the support started.
        review_on: the day the cycle was reviewed; None while it runs.
        setting_id: the LA's institution id for the setting.
    """

    event_id: str
    case_id: str
    cycle_id: str
    assess_on: date
    plan_on: date
    do_from: date
    review_on: date | None = None
    setting_id: str | None = None

    def __post_init__(self) -> None:
        steps = [self.assess_on, self.plan_on, self.do_from]
        if self.review_on is not None:
            steps.append(self.review_on)
        if steps != sorted(steps):
            raise CaseworkError(
                "a cycle's dates must run assess_on <= plan_on <= do_from <= review_on"
            )

    @property
    def occurred_on(self) -> date:
        """Event time: the latest step recorded."""
        return self.review_on if self.review_on is not None else self.do_from


@dataclass(frozen=True, slots=True)
class NotionalSenBudgetSpendRecorded:
    """What the school spent on the child's additional support from its notional SEN budget.

    ``academic_year`` is the year the academic year starts (2025 for 2025/26); a later record
    for the same year replaces the earlier one.
    """

    event_id: str
    case_id: str
    occurred_on: date
    academic_year: int
    amount_pounds: int
    setting_id: str | None = None

    def __post_init__(self) -> None:
        _check_pounds(self.amount_pounds, "amount_pounds")
        if not 2000 <= self.academic_year <= 2100:
            raise CaseworkError("academic_year must be a year from 2000 to 2100")
        if self.occurred_on.year < self.academic_year:
            raise CaseworkError("spend cannot be recorded before its academic year starts")


@dataclass(frozen=True, slots=True)
class TopUpFundingRequested:
    """The school asked the LA for top-up funding beyond its notional SEN budget (per year)."""

    event_id: str
    case_id: str
    request_id: str
    occurred_on: date
    amount_pounds: int
    setting_id: str | None = None

    def __post_init__(self) -> None:
        _check_pounds(self.amount_pounds, "amount_pounds", positive=True)


@dataclass(frozen=True, slots=True)
class TopUpFundingDecided:
    """The LA decided a top-up funding request; ``amount_pounds`` is what it agreed (per year)."""

    event_id: str
    case_id: str
    request_id: str
    occurred_on: date
    outcome: TopUpOutcome
    amount_pounds: int | None = None

    def __post_init__(self) -> None:
        if self.outcome is TopUpOutcome.REFUSED:
            if self.amount_pounds:
                raise CaseworkError("a refused request agrees no amount_pounds")
        elif self.amount_pounds is None:
            raise CaseworkError("an agreed request needs amount_pounds")
        else:
            _check_pounds(self.amount_pounds, "amount_pounds", positive=True)


@dataclass(frozen=True, slots=True)
class CareStatusRecorded:
    """Social care recorded the child's care status from ``occurred_on``.

    Attributes:
        status: looked after, previously looked after, or neither.
        route: with PREVIOUSLY_LOOKED_AFTER (required), how the child left care.
        looking_after_la: with LOOKED_AFTER, the 3-digit code of the LA that looks after the
            child (its Virtual School Head promotes the child's education, Children Act 1989
            s.22(3A)-(3B)); it may differ from the LA that maintains the plan.
    """

    event_id: str
    case_id: str
    occurred_on: date
    status: CareStatus
    route: PermanenceRoute | None = None
    looking_after_la: str | None = None

    def __post_init__(self) -> None:
        if (self.status is CareStatus.PREVIOUSLY_LOOKED_AFTER) != (self.route is not None):
            raise CaseworkError("route is required with PREVIOUSLY_LOOKED_AFTER and only with it")
        if self.looking_after_la is not None:
            if self.status is not CareStatus.LOOKED_AFTER:
                raise CaseworkError("looking_after_la goes only with LOOKED_AFTER")
            _check_la_code(self.looking_after_la, "looking_after_la")


@dataclass(frozen=True, slots=True)
class VirtualSchoolHeadNamed:
    """The Virtual School Head of LA ``la_code`` is a party to the case from ``occurred_on``.

    ``agency_id`` is the id the LA's advice requests to the VSH use (so the VSH's advice
    request and the party agree); None if the VSH has not been asked for advice.
    """

    event_id: str
    case_id: str
    occurred_on: date
    la_code: str
    agency_id: str | None = None

    def __post_init__(self) -> None:
        _check_la_code(self.la_code, "la_code")


@dataclass(frozen=True, slots=True)
class PupilPremiumPlusEligibilityRecorded:
    """Whether the child attracts Pupil Premium Plus, as the school or virtual school records it.

    ``basis`` is the care status the eligibility rests on (LOOKED_AFTER or
    PREVIOUSLY_LOOKED_AFTER), required when ``eligible``.
    """

    event_id: str
    case_id: str
    occurred_on: date
    eligible: bool
    basis: CareStatus | None = None

    def __post_init__(self) -> None:
        if self.eligible and self.basis not in (
            CareStatus.LOOKED_AFTER, CareStatus.PREVIOUSLY_LOOKED_AFTER
        ):
            raise CaseworkError("eligible needs basis LOOKED_AFTER or PREVIOUSLY_LOOKED_AFTER")
        if not self.eligible and self.basis is not None:
            raise CaseworkError("basis goes only with eligible true")


# --- health advice delegated by the ICB's Designated Clinical Officer --------------------------


class HealthService(enum.Enum):
    """The health service a DCO delegates part of the health advice to."""

    COMMUNITY_PAEDIATRICS = "COMMUNITY_PAEDIATRICS"
    SPEECH_AND_LANGUAGE_THERAPY = "SPEECH_AND_LANGUAGE_THERAPY"
    OCCUPATIONAL_THERAPY = "OCCUPATIONAL_THERAPY"
    PHYSIOTHERAPY = "PHYSIOTHERAPY"
    CAMHS = "CAMHS"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class AdviceDelegated:
    """The body asked for advice (the ICB's DCO) delegated a part of it to a provider.

    Not a reg 6 request of the LA: the parent request stays the one the body must answer within
    reg 8(1)'s 6 weeks. A part is done when the provider's advice names ``part_id``; it only
    says who is holding the parent request up.

    Attributes:
        part_id: the part's own request id (the sub-Task's identifier).
        parent_request_id: the LA's request it is part of.
        agency_id: the provider asked (``system|code``).
        service: the service asked.
        sent_on: the day the DCO delegated it.
        due_on: the day the DCO needs the part back (on or before the parent's due date).
    """

    event_id: str
    case_id: str
    part_id: str
    parent_request_id: str
    agency_id: str
    service: HealthService
    sent_on: date
    due_on: date

    def __post_init__(self) -> None:
        if self.due_on < self.sent_on:
            raise CaseworkError("a delegated part cannot be due before it was sent")
        if self.part_id == self.parent_request_id:
            raise CaseworkError("a part needs its own id")

    @property
    def occurred_on(self) -> date:
        """Event time: the day the part was sent."""
        return self.sent_on


# --- a child moves to another LA (reg 15) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanTransferred:
    """The old LA transferred the EHC plan to the new LA (reg 15(2)); ``occurred_on`` is that day.

    Attributes:
        from_la: the old authority (3-digit LA code).
        to_la: the new authority (3-digit LA code).
        moved_on: the day the child or young person moved into the new LA's area.
        became_aware_on: the day the old LA became aware of the move, if known (reg 15(2)).
    """

    event_id: str
    case_id: str
    occurred_on: date
    from_la: str
    to_la: str
    moved_on: date
    became_aware_on: date | None = None

    def __post_init__(self) -> None:
        _check_la_code(self.from_la, "from_la")
        _check_la_code(self.to_la, "to_la")
        if self.from_la == self.to_la:
            raise CaseworkError("a transfer goes to another LA")
        if self.became_aware_on is not None and self.became_aware_on > self.occurred_on:
            raise CaseworkError("the old LA cannot transfer a plan before it knows of the move")


@dataclass(frozen=True, slots=True)
class TransferNoticeGiven:
    """The new LA told the family the plan was transferred, whether it proposes to assess and
    when it will review (reg 15(4))."""

    event_id: str
    case_id: str
    occurred_on: date
    proposes_assessment: bool


class HealthRequestKind(enum.StrEnum):
    """What the new commissioning body asks the LA for under reg 16."""

    ASSESSMENT = "ASSESSMENT"  # an EHC needs assessment
    REVIEW = "REVIEW"  # a review of the EHC plan


def _check_ods_code(value: str, field_name: str) -> None:
    if not (3 <= len(value) <= 6 and value.isascii() and value.isalnum()
            and value.upper() == value):
        raise CaseworkError(f"{field_name} must be an ODS organisation code (3 to 6 upper-case "
                            "letters and digits)")


@dataclass(frozen=True, slots=True)
class CommissioningBodyChanged:
    """Another health commissioning body (ICB) became responsible for the child or young person
    (reg 16); ``occurred_on`` is the day of the change (the move, or the change of GP).

    Attributes:
        from_body: the old commissioning body (ODS code).
        to_body: the new commissioning body (ODS code).
        with_la_move: the change comes with a move into another LA's area (reg 15).
        old_body_aware_on: the day the old body became aware of the move or change, if known.
        notified_on: the day the old body notified the new body, once it has.
        new_body_aware_on: the day the new body became aware of the change (if not given: the
            day it was notified, else the day of the change).
        provision_practicable: the new body's finding whether it can secure the health care
            provision in the plan (None: not yet found); False starts its request clock.
    """

    event_id: str
    case_id: str
    occurred_on: date
    from_body: str
    to_body: str
    with_la_move: bool
    old_body_aware_on: date | None = None
    notified_on: date | None = None
    new_body_aware_on: date | None = None
    provision_practicable: bool | None = None

    def __post_init__(self) -> None:
        _check_ods_code(self.from_body, "from_body")
        _check_ods_code(self.to_body, "to_body")
        if self.from_body == self.to_body:
            raise CaseworkError("a change of commissioning body goes to another body")
        if self.old_body_aware_on is not None and self.notified_on is not None \
                and self.notified_on < self.old_body_aware_on:
            raise CaseworkError("the old body cannot notify before it knows of the change")


@dataclass(frozen=True, slots=True)
class HealthProvisionReviewRequested:
    """The new commissioning body, finding it not practicable to secure the health care
    provision in the plan, asked the LA for an EHC needs assessment or a review (reg 16)."""

    event_id: str
    case_id: str
    occurred_on: date
    kind: HealthRequestKind


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
    | ReviewMeetingScheduled
    | ReviewInvitationsSent
    | ReviewAdviceCirculated
    | ReviewReportSent
    | ReviewDecisionMade
    | CeaseIntentionNotified
    | CessationDecided
    | MediationRequested
    | MediationHealthBodyNotified
    | MediationHeld
    | MediationCertificateIssued
    | TribunalAppealRegistered
    | TribunalResponseSubmitted
    | TribunalOrderMade
    | OrderComplied
    | InstitutionRequested
    | InstitutionConsulted
    | InstitutionConsultationAnswered
    | InstitutionRequestRefused
    | InstitutionNamed
    | PersonalBudgetRequested
    | PersonalBudgetAgreed
    | PersonalBudgetRefused
    | GraduatedApproachCycleRecorded
    | NotionalSenBudgetSpendRecorded
    | TopUpFundingRequested
    | TopUpFundingDecided
    | CareStatusRecorded
    | VirtualSchoolHeadNamed
    | PupilPremiumPlusEligibilityRecorded
    | AdviceDelegated
    | PlanTransferred
    | TransferNoticeGiven
    | CommissioningBodyChanged
    | HealthProvisionReviewRequested
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
        ReviewMeetingScheduled,
        ReviewInvitationsSent,
        ReviewAdviceCirculated,
        ReviewReportSent,
        ReviewDecisionMade,
        CeaseIntentionNotified,
        CessationDecided,
        MediationRequested,
        MediationHealthBodyNotified,
        MediationHeld,
        MediationCertificateIssued,
        TribunalAppealRegistered,
        TribunalResponseSubmitted,
        TribunalOrderMade,
        OrderComplied,
        InstitutionRequested,
        InstitutionConsulted,
        InstitutionConsultationAnswered,
        InstitutionRequestRefused,
        InstitutionNamed,
        PersonalBudgetRequested,
        PersonalBudgetAgreed,
        PersonalBudgetRefused,
        GraduatedApproachCycleRecorded,
        NotionalSenBudgetSpendRecorded,
        TopUpFundingRequested,
        TopUpFundingDecided,
        CareStatusRecorded,
        VirtualSchoolHeadNamed,
        PupilPremiumPlusEligibilityRecorded,
        AdviceDelegated,
        PlanTransferred,
        TransferNoticeGiven,
        CommissioningBodyChanged,
        HealthProvisionReviewRequested,
    )
}
