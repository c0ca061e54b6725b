"""What the engine answers about a case: frozen result types (no behaviour beyond properties).

``CaseAssessment`` is the whole answer; ``StatutoryDate``, ``AdviceItem``,
``ExceptionInForce`` and ``Alert`` are its parts. ``ehcp.casework.explain`` renders them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ehcp.casework.events import AdviceType, DeclineReason, ExceptionGround

if TYPE_CHECKING:
    from ehcp.casework.delegation import DelegatedPart
    from ehcp.casework.support import CareSummary, SenSupportEvidence


class Stage(enum.Enum):
    """Where the case is in its lifecycle."""

    NO_REQUEST = "NO_REQUEST"  # events recorded but no request for assessment or plan yet
    REQUEST_RECEIVED = "REQUEST_RECEIVED"  # awaiting the decision whether to assess (reg 5)
    ASSESSMENT_REFUSED = "ASSESSMENT_REFUSED"
    ASSESSING = "ASSESSING"  # decided to assess; gathering reg 6 advice
    PLAN_NOT_ISSUED = "PLAN_NOT_ISSUED"  # decided not to issue a plan (reg 10)
    DRAFT_PLAN_ISSUED = "DRAFT_PLAN_ISSUED"  # reg 13(1)
    PLAN_MAINTAINED = "PLAN_MAINTAINED"  # final plan issued (reg 13(2)); reviews run
    AMENDING = "AMENDING"  # amendments proposed, amended plan not yet issued (reg 22)
    REASSESSING = "REASSESSING"  # reg 27
    CEASED = "CEASED"


class DateStatus(enum.Enum):
    """Whether a statutory date was kept."""

    PENDING = "PENDING"  # not done yet and the date has not passed
    MET = "MET"  # done on or before the date
    MISSED = "MISSED"  # done late, or not done and the date has passed
    NOT_APPLICABLE = "NOT_APPLICABLE"  # the case took another path (e.g. plan ceased)


class AdviceStatus(enum.Enum):
    """Status of one advice item. Names match the Avro ``AdviceStatus`` enum."""

    NOT_REQUESTED = "NOT_REQUESTED"
    REQUESTED = "REQUESTED"
    RECEIVED = "RECEIVED"
    REUSED = "REUSED"
    DECLINED = "DECLINED"
    OVERDUE = "OVERDUE"


class AlertKind(enum.Enum):
    """Kinds of alert. Names match the Avro ``AlertKind`` enum."""

    ADVICE_DUE_SOON = "ADVICE_DUE_SOON"
    ADVICE_OVERDUE = "ADVICE_OVERDUE"
    ADVICE_NOT_REQUESTED = "ADVICE_NOT_REQUESTED"
    DEADLINE_AT_RISK = "DEADLINE_AT_RISK"
    DEADLINE_MISSED = "DEADLINE_MISSED"
    CONTRIBUTION_UNROUTED = "CONTRIBUTION_UNROUTED"  # raised by routing, outside casework


class Severity(enum.Enum):
    """How urgently someone should look. Names match the Avro ``Severity`` enum."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class StatutoryDate:
    """One time limit of the case.

    Attributes:
        name: stable machine name, e.g. ``final_plan_due``.
        due_on: the last day on which the limit is kept.
        rule_text: the rule in plain words.
        regulation: where the rule comes from, e.g. ``reg 13(2)``.
        status: PENDING, MET, MISSED or NOT_APPLICABLE.
        completed_on: the date the step was done, if it was.
        excused: an exception ground applies, so missing it is not a breach.
        exception_ids: the exceptions that excuse it.
        clock_started_on: the date the clock started from.
    """

    name: str
    due_on: date
    rule_text: str
    regulation: str
    status: DateStatus
    completed_on: date | None
    excused: bool
    exception_ids: tuple[str, ...]
    clock_started_on: date

    @property
    def breached(self) -> bool:
        """Missed and not excused by any exception (the "excluding exceptions" breach)."""
        return self.status is DateStatus.MISSED and not self.excused


@dataclass(frozen=True, slots=True)
class AdviceItem:
    """One piece of advice the assessment needs or has asked for.

    Attributes:
        advice_type: which reg 6 advice.
        regulation: its regulation, e.g. ``reg 6(1)(b)``.
        status: NOT_REQUESTED, REQUESTED, RECEIVED, REUSED, DECLINED or OVERDUE.
        required: reg 6 (or policy) requires it; False for an optional extra request.
        request_id: the request, if one was sent.
        agency_id: the body asked.
        sent_on: when the request was sent.
        received_by_body_on: when the body received it (or ``sent_on`` if unknown).
        due_on: 6 weeks from the body's receipt (reg 8(1)).
        submitted_on: when the advice arrived.
        contribution_ids: the contributions that answered it.
        excused: a reg 8(2) exception applies to this request.
        exception_ids: those exceptions.
        reuse_id: the reg 6(4) reuse that satisfies it.
        decline_reason: with status DECLINED, why the body declined (the latest decline).
        subject: stable id of the item for alert ids (request id, reuse id or requirement).
    """

    advice_type: AdviceType
    regulation: str
    status: AdviceStatus
    required: bool
    request_id: str | None = None
    agency_id: str | None = None
    sent_on: date | None = None
    received_by_body_on: date | None = None
    due_on: date | None = None
    submitted_on: date | None = None
    contribution_ids: tuple[str, ...] = ()
    excused: bool = False
    exception_ids: tuple[str, ...] = ()
    reuse_id: str | None = None
    decline_reason: DeclineReason | None = None
    subject: str = ""

    @property
    def on_time(self) -> bool | None:
        """True if submitted by its due date, False if late, else None."""
        if self.submitted_on is None or self.due_on is None:
            return None
        return self.submitted_on <= self.due_on


@dataclass(frozen=True, slots=True)
class ExceptionInForce:
    """An exception ground that applies (or applied) to the case.

    Attributes:
        exception_id: recorded id, or a derived id for reg 10(4)(a)/(b).
        ground: the ground.
        regulation: e.g. ``reg 10(4)(d)``.
        starts_on: first day it applied.
        ends_on: last day it applied, None while open.
        request_id: the advice request it concerns (reg 8(2) grounds and derived 10(4)(a)/(b)).
        derived: True for reg 10(4)(a)/(b), worked out from closure periods.
        qualifies: False when an absence ground ended before 4 continuous weeks.
    """

    exception_id: str
    ground: ExceptionGround
    regulation: str
    starts_on: date
    ends_on: date | None
    request_id: str | None
    derived: bool
    qualifies: bool


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a caseworker should act on, as of the assessment date.

    Attributes:
        alert_id: deterministic from (case, kind, subject, threshold): the same crossing
            always gives the same id, so a caller diffing evaluations fires it once.
        case_id: the case.
        kind: the alert kind.
        subject: what it is about (a request id, requirement or statutory date name).
        threshold: which crossing (e.g. ``10d`` before due, ``overdue``).
        severity: INFO, WARNING or CRITICAL.
        regulation: the rule behind it.
        message: plain words, never personal data.
        due_on: the date concerned.
        days_overdue: days past ``due_on`` (0 if not past).
        agency_id: the body concerned, if any.
        advice_type: the advice concerned, if any.
    """

    alert_id: str
    case_id: str
    kind: AlertKind
    subject: str
    threshold: str
    severity: Severity
    regulation: str
    message: str
    due_on: date | None
    days_overdue: int
    agency_id: str | None = None
    advice_type: AdviceType | None = None


@dataclass(frozen=True, slots=True)
class PlanFact:
    """Something recorded about the plan's life that has no clock of its own, in plain words.

    Reviews decided, cessation, mediation and appeals, the institution requested and named,
    and the personal budget. ``concern`` marks a fact that shows a rule was not followed
    (e.g. a decision to cease notified without the right to appeal).

    Attributes:
        topic: ``review``, ``cessation``, ``mediation``, ``tribunal``, ``placement`` or
            ``personal_budget``.
        on: the date of the fact.
        text: plain words, never personal data.
        regulation: the rule behind it.
        concern: True when the fact shows a rule was not followed.
    """

    topic: str
    on: date
    text: str
    regulation: str
    concern: bool = False


@dataclass(frozen=True, slots=True)
class Timeliness:
    """The 20-week figure both ways, as the DfE SEN2 return reports it.

    Attributes:
        final_plan_within_20_weeks: True/False once decided, None while pending or N/A.
        exceptions_apply: the SEN2 "20-week exceptions apply" flag.
        within_20_weeks_or_excused: timely, or late with an exception applying.
    """

    final_plan_within_20_weeks: bool | None
    exceptions_apply: bool
    within_20_weeks_or_excused: bool | None


@dataclass(frozen=True, slots=True)
class CaseAssessment:
    """The engine's whole answer for one case as of one date.

    Attributes:
        case_id: the case.
        as_of: the date evaluated (events after it are ignored).
        stage: lifecycle stage.
        received_on: the date the request counts as received (after the receipt rule).
        statutory_dates: every time limit, in due-date order.
        advice: advice items, required ones first.
        exceptions: exception grounds recorded or derived.
        alerts: alerts due as of ``as_of``.
        timeliness: the 20-week figure including and excluding exceptions.
        next_change_on: the earliest date after ``as_of`` on which the alerts would change
            with no new events (see ``next_alert_due_on``).
        facts: what the plan's life records beyond its clocks (reviews, cessation,
            disputes, placement, personal budget), in date order.
        sen_support: the setting's SEN Support evidence (``ehcp.casework.support``).
        care: care status, Virtual School Head and Pupil Premium Plus.
        delegations: parts of health advice requests the DCO delegated to providers.
    """

    case_id: str
    as_of: date
    stage: Stage
    received_on: date | None
    statutory_dates: tuple[StatutoryDate, ...]
    advice: tuple[AdviceItem, ...]
    exceptions: tuple[ExceptionInForce, ...]
    alerts: tuple[Alert, ...]
    timeliness: Timeliness
    next_change_on: date | None
    facts: tuple[PlanFact, ...] = ()
    sen_support: SenSupportEvidence | None = None
    care: CareSummary | None = None
    delegations: tuple[DelegatedPart, ...] = ()

    def statutory_date(self, name: str) -> StatutoryDate | None:
        """The statutory date with this name, or the latest-due one if it recurs (reviews)."""
        return next((d for d in reversed(self.statutory_dates) if d.name == name), None)

    @property
    def exceptions_in_force(self) -> tuple[ExceptionInForce, ...]:
        """Exceptions that qualify and are open on ``as_of``."""
        return tuple(
            e
            for e in self.exceptions
            if e.qualifies
            and e.starts_on <= self.as_of
            and (e.ends_on is None or self.as_of <= e.ends_on)
        )
