"""Worked cases through ``evaluate``: each reads like a real EHC case (synthetic data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

import pytest

from ehcp.casework.calendar import ClosurePeriod, ReceiptRule
from ehcp.casework.engine import evaluate
from ehcp.casework.events import (
    AdditionalAdviceAdded,
    AdviceRequestDeclined,
    AdviceReused,
    AdviceType,
    AssessmentRefused,
    CaseEvent,
    DecisionNotToIssuePlan,
    DeclineReason,
    DraftPlanIssued,
    ExceptionGround,
    FinalPlanIssued,
    InstitutionClosurePeriodRecorded,
    LookedAfterStatusChanged,
    PlanCeased,
    TimescaleExceptionEnded,
    TimescaleExceptionRecorded,
)
from ehcp.casework.model import (
    AdviceStatus,
    AlertKind,
    CaseAssessment,
    DateStatus,
    Stage,
    StatutoryDate,
)
from ehcp.casework.policy import Policy
from ehcp.errors import CaseworkError

from .builders import (
    CASE,
    REAL_CALENDAR,
    all_core_requests,
    decided,
    next_id,
    request_received,
    requested,
    submitted,
)

POLICY = Policy()
SCHOOL = "SCH-100001"
SUMMER = InstitutionClosurePeriodRecorded(
    event_id="ev-summer",
    case_id=CASE,
    institution_id=SCHOOL,
    first_day=date(2025, 7, 23),
    last_day=date(2025, 9, 2),
)


def run(events: Sequence[CaseEvent], as_of: date, policy: Policy = POLICY) -> CaseAssessment:
    return evaluate(events, as_of, policy, REAL_CALENDAR)


def named(assessment: CaseAssessment, name: str) -> StatutoryDate:
    found = assessment.statutory_date(name)
    assert found is not None, name
    return found


def kinds(assessment: CaseAssessment) -> set[tuple[AlertKind, str]]:
    return {(a.kind, a.subject) for a in assessment.alerts}


def advice_of(assessment: CaseAssessment, advice_type: AdviceType) -> list[AdviceStatus]:
    return [a.status for a in assessment.advice if a.advice_type is advice_type]


# --- A request just before the summer closure: reg 10(4)(a) -------------------------------


def _summer_case(educational_sent_on: date) -> list[CaseEvent]:
    return [
        request_received(date(2025, 5, 12), setting_id=SCHOOL),
        SUMMER,
        decided(date(2025, 6, 20)),
        requested("REQ-EDU", AdviceType.EDUCATIONAL, educational_sent_on, agency_id=SCHOOL),
    ]


def test_educational_request_in_summer_window_excuses_final_plan() -> None:
    """Educational advice asked of the school on 17 July, within a week of its summer closure,
    excuses the 20 weeks (reg 10(4)(a), 13(3))."""
    result = run(_summer_case(date(2025, 7, 17)), date(2025, 10, 6))
    final = result.statutory_date("final_plan_due")
    assert final is not None
    assert final.due_on == date(2025, 9, 29)
    assert final.status is DateStatus.MISSED
    assert final.excused
    assert final.exception_ids == ("derived:REG_10_4_A:REQ-EDU",)
    assert (AlertKind.DEADLINE_MISSED, "final_plan_due:2025-09-29") not in kinds(result)
    assert result.timeliness.exceptions_apply


def test_educational_request_before_window_does_not_excuse() -> None:
    """A request sent 15 July, eight days before the closure, is outside the window, so the missed
    20 weeks is a breach."""
    result = run(_summer_case(date(2025, 7, 15)), date(2025, 10, 6))
    final = result.statutory_date("final_plan_due")
    assert final is not None
    assert final.breached
    assert (AlertKind.DEADLINE_MISSED, "final_plan_due:2025-09-29") in kinds(result)


def test_closure_exception_does_not_excuse_the_schools_own_advice() -> None:
    """Reg 8(2) has no school-holiday ground: the school's advice is still overdue after 6 weeks."""
    result = run(_summer_case(date(2025, 7, 17)), date(2025, 9, 1))
    item = next(a for a in result.advice if a.request_id == "REQ-EDU")
    assert item.due_on == date(2025, 8, 28)
    assert item.status is AdviceStatus.OVERDUE
    assert not item.excused
    assert (AlertKind.ADVICE_OVERDUE, "request:REQ-EDU") in kinds(result)


def test_la_default_closures_apply_to_schools_without_term_dates() -> None:
    """A school with no term dates of its own uses the LA default closures from policy."""
    policy = Policy(la_default_closures=(ClosurePeriod(date(2025, 7, 23), date(2025, 9, 2)),))
    events: list[CaseEvent] = [e for e in _summer_case(date(2025, 7, 17)) if e is not SUMMER]
    result = run(events, date(2025, 10, 6), policy)
    final = result.statutory_date("final_plan_due")
    assert final is not None
    assert final.excused


def test_medical_request_in_summer_window_does_not_excuse() -> None:
    """Only advice asked of a head teacher or principal counts for reg 10(4)(a), not medical."""
    events: list[CaseEvent] = [
        request_received(date(2025, 5, 12)),
        SUMMER,
        decided(date(2025, 6, 20)),
        requested("REQ-MED", AdviceType.MEDICAL, date(2025, 7, 17), agency_id=SCHOOL),
    ]
    final = run(events, date(2025, 10, 6)).statutory_date("final_plan_due")
    assert final is not None
    assert not final.excused


def test_early_years_setting_gives_ground_b() -> None:
    """Educational advice asked of the child's early years provider in the window gives reg
    10(4)(b)."""
    events: list[CaseEvent] = [
        request_received(
            date(2025, 5, 12),
            setting_id=SCHOOL,
            early_years=True,
            year_group=None,
            date_of_birth=date(2021, 10, 1),
        ),
        SUMMER,
        requested("REQ-EY", AdviceType.EDUCATIONAL, date(2025, 7, 20), agency_id=SCHOOL),
    ]
    result = run(events, date(2025, 8, 1))
    assert [e.ground for e in result.exceptions] == [ExceptionGround.REG_10_4_B]


# --- A child absent from the area: reg 10(4)(d) -----------------------------------------------


def _absence(starts: date, ends: date | None) -> TimescaleExceptionRecorded:
    return TimescaleExceptionRecorded(
        event_id=next_id(),
        case_id=CASE,
        exception_id="EXC-ABSENT",
        ground=ExceptionGround.REG_10_4_D,
        starts_on=starts,
        ends_on=ends,
    )


def _absent_case(*extra: CaseEvent) -> list[CaseEvent]:
    return [request_received(date(2025, 1, 6)), decided(date(2025, 2, 10)), *extra]


def test_absence_of_four_weeks_excuses_la_limits() -> None:
    """A family away from the area 1 March to 15 April (over 4 weeks) excuses the 20 weeks (reg
    10(4)(d))."""
    result = run(_absent_case(_absence(date(2025, 3, 1), date(2025, 4, 15))), date(2025, 6, 2))
    final = result.statutory_date("final_plan_due")
    assert final is not None
    assert final.status is DateStatus.MISSED
    assert final.excused
    assert result.timeliness.final_plan_within_20_weeks is False
    assert result.timeliness.within_20_weeks_or_excused is True


def test_absence_under_four_weeks_does_not_excuse() -> None:
    """An absence that ended after 20 days does not meet reg 10(4)(d), so the limit is a breach."""
    result = run(_absent_case(_absence(date(2025, 3, 1), date(2025, 3, 20))), date(2025, 6, 2))
    final = result.statutory_date("final_plan_due")
    assert final is not None
    assert final.breached
    assert not result.exceptions[0].qualifies


def test_absence_end_recorded_separately() -> None:
    """An open absence ended by TimescaleExceptionEnded after 13 days stops qualifying."""
    ended = TimescaleExceptionEnded(
        event_id=next_id(), case_id=CASE, exception_id="EXC-ABSENT", ends_on=date(2025, 3, 13)
    )
    open_only = run(_absent_case(_absence(date(2025, 3, 1), None)), date(2025, 6, 2))
    with_end = run(_absent_case(_absence(date(2025, 3, 1), None), ended), date(2025, 6, 2))
    assert named(open_only, "final_plan_due").excused
    assert not named(with_end, "final_plan_due").excused


def test_exception_excuses_but_never_moves_the_date() -> None:
    """Recording an exception leaves every due date exactly where it was."""
    without = run(_absent_case(), date(2025, 6, 2))
    with_exc = run(_absent_case(_absence(date(2025, 3, 1), date(2025, 4, 15))), date(2025, 6, 2))
    assert [d.due_on for d in without.statutory_dates] == [
        d.due_on for d in with_exc.statutory_dates
    ]


def test_advice_exception_does_not_excuse_la_limit() -> None:
    """A missed appointment (reg 8(2)(c)) excuses that body's advice, not the LA's 20 weeks."""
    missed = TimescaleExceptionRecorded(
        event_id=next_id(),
        case_id=CASE,
        exception_id="EXC-DNA",
        ground=ExceptionGround.REG_8_2_C,
        starts_on=date(2025, 3, 4),
        request_id="REQ-MED",
    )
    events = _absent_case(
        requested(
            "REQ-MED", AdviceType.MEDICAL, date(2025, 2, 12), received_by_body_on=date(2025, 2, 13)
        ),
        missed,
    )
    result = run(events, date(2025, 6, 2))
    med = next(a for a in result.advice if a.request_id == "REQ-MED")
    assert med.status is AdviceStatus.OVERDUE
    assert med.excused
    assert (AlertKind.ADVICE_OVERDUE, "request:REQ-MED") not in kinds(result)
    assert named(result, "final_plan_due").breached


def test_recorded_la_exception_must_be_c_or_d() -> None:
    """Reg 10(4)(a) cannot be recorded by hand: it is derived from closure periods."""
    with pytest.raises(CaseworkError):
        TimescaleExceptionRecorded(
            event_id="e",
            case_id=CASE,
            exception_id="x",
            ground=ExceptionGround.REG_10_4_A,
            starts_on=date(2025, 3, 1),
        )


# --- Required advice by the child's circumstances --------------------------------------------


def test_year_9_young_person_needs_preparation_for_adulthood_advice() -> None:
    """A year 9 pupil needs reg 6(1)(g) advice; once the decision is made it is flagged as not
    requested."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), year_group=9, date_of_birth=date(2011, 2, 3)),
        decided(date(2025, 2, 10)),
        *all_core_requests(date(2025, 2, 11)),
    ]
    result = run(events, date(2025, 2, 12))
    assert advice_of(result, AdviceType.PREPARATION_FOR_ADULTHOOD) == [AdviceStatus.NOT_REQUESTED]
    assert (AlertKind.ADVICE_NOT_REQUESTED, "required:PREPARATION_FOR_ADULTHOOD") in kinds(result)


def test_year_8_pupil_needs_no_preparation_for_adulthood_advice() -> None:
    """A year 8 pupil does not yet need reg 6(1)(g) advice."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), year_group=8, date_of_birth=date(2012, 2, 3)),
        decided(date(2025, 2, 10)),
    ]
    result = run(events, date(2025, 2, 12))
    assert advice_of(result, AdviceType.PREPARATION_FOR_ADULTHOOD) == []


def test_hearing_impairment_needs_specialist_teacher_advice() -> None:
    """A child with a hearing impairment needs advice from a qualified specialist teacher (reg
    6(2))."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), hearing=True),
        decided(date(2025, 2, 10)),
    ]
    result = run(events, date(2025, 2, 12))
    assert advice_of(result, AdviceType.VISION_HEARING_SPECIALIST) == [AdviceStatus.NOT_REQUESTED]
    item = next(a for a in result.advice if a.advice_type is AdviceType.VISION_HEARING_SPECIALIST)
    assert item.regulation == "reg 6(2)"
    assert item.required


def test_looked_after_child_needs_virtual_school_head_by_policy() -> None:
    """A looked-after child needs Virtual School Head advice when LA policy says so, and not
    otherwise."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), looked_after=True),
        decided(date(2025, 2, 10)),
    ]
    assert advice_of(run(events, date(2025, 2, 12)), AdviceType.VIRTUAL_SCHOOL_HEAD) == [
        AdviceStatus.NOT_REQUESTED
    ]
    off = Policy(virtual_school_head_for_looked_after=False)
    assert advice_of(run(events, date(2025, 2, 12), off), AdviceType.VIRTUAL_SCHOOL_HEAD) == []


def test_child_who_becomes_looked_after_needs_virtual_school_head() -> None:
    """A child who becomes looked after during the assessment then needs VSH advice."""
    change = LookedAfterStatusChanged(
        event_id=next_id(), case_id=CASE, occurred_on=date(2025, 3, 1), looked_after=True
    )
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        change,
    ]
    assert advice_of(run(events, date(2025, 2, 20)), AdviceType.VIRTUAL_SCHOOL_HEAD) == []
    assert advice_of(run(events, date(2025, 3, 2)), AdviceType.VIRTUAL_SCHOOL_HEAD) == [
        AdviceStatus.NOT_REQUESTED
    ]


def test_family_requested_advice_is_required_until_requested() -> None:
    """Speech and language therapy the family reasonably asked for (reg 6(1)(h)) is required until
    requested."""
    added = AdditionalAdviceAdded(
        event_id=next_id(),
        case_id=CASE,
        addition_id="ADD-SALT",
        advice_type=AdviceType.FAMILY_REQUESTED,
        occurred_on=date(2025, 2, 12),
        agency_id="NHS-SALT",
    )
    base: list[CaseEvent] = [request_received(date(2025, 1, 6)), decided(date(2025, 2, 10)), added]
    before = run(base, date(2025, 2, 14))
    assert (AlertKind.ADVICE_NOT_REQUESTED, "addition:ADD-SALT") in kinds(before)
    after = run(
        [
            *base,
            requested(
                "REQ-SALT", AdviceType.FAMILY_REQUESTED, date(2025, 2, 13), agency_id="NHS-SALT"
            ),
        ],
        date(2025, 2, 14),
    )
    assert (AlertKind.ADVICE_NOT_REQUESTED, "addition:ADD-SALT") not in kinds(after)
    salt = next(a for a in after.advice if a.request_id == "REQ-SALT")
    assert salt.required
    assert salt.status is AdviceStatus.REQUESTED


# --- Reuse of advice under reg 6(4) ---------------------------------------------------------


def _reuse(family_agreed: bool) -> AdviceReused:
    return AdviceReused(
        event_id=next_id(),
        case_id=CASE,
        reuse_id="REUSE-EP",
        advice_type=AdviceType.PSYCHOLOGICAL,
        source_contribution_id="CON-2024-77",
        occurred_on=date(2025, 2, 14),
        author_agreed=True,
        la_agreed=True,
        family_agreed=family_agreed,
    )


def test_reuse_with_all_three_agreements_satisfies_without_request() -> None:
    """EP advice from last year reused with author, LA and family agreement meets reg 6(1)(d) with
    no new request."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        _reuse(True),
    ]
    result = run(events, date(2025, 2, 20))
    assert advice_of(result, AdviceType.PSYCHOLOGICAL) == [AdviceStatus.REUSED]
    assert (AlertKind.ADVICE_NOT_REQUESTED, "required:PSYCHOLOGICAL") not in kinds(result)


def test_reuse_without_family_agreement_does_not_satisfy() -> None:
    """Without the family's agreement reg 6(4) does not apply, so psychological advice is still
    required."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        _reuse(False),
    ]
    result = run(events, date(2025, 2, 20))
    assert advice_of(result, AdviceType.PSYCHOLOGICAL) == [AdviceStatus.NOT_REQUESTED]


def test_reuse_of_family_views_is_refused() -> None:
    """Reg 6(4) never applies to the parent or young person's own advice (6(1)(a))."""
    with pytest.raises(CaseworkError):
        AdviceReused(
            event_id="e",
            case_id=CASE,
            reuse_id="r",
            advice_type=AdviceType.PARENT_OR_YOUNG_PERSON,
            source_contribution_id="c",
            occurred_on=date(2025, 2, 14),
            author_agreed=True,
            la_agreed=True,
            family_agreed=True,
        )


# --- Declines, unlinked advice, stages ------------------------------------------------------------


def test_declined_request_needs_a_new_request() -> None:
    """A health body declining as 'not known to service' excuses nothing: the advice must be sought
    again."""
    declined = AdviceRequestDeclined(
        event_id=next_id(),
        case_id=CASE,
        request_id="REQ-MED",
        occurred_on=date(2025, 2, 20),
        reason=DeclineReason.NOT_KNOWN_TO_SERVICE,
    )
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        requested("REQ-MED", AdviceType.MEDICAL, date(2025, 2, 11)),
        declined,
    ]
    result = run(events, date(2025, 2, 21))
    assert sorted(s.value for s in advice_of(result, AdviceType.MEDICAL)) == [
        "DECLINED",
        "NOT_REQUESTED",
    ]
    assert (AlertKind.ADVICE_NOT_REQUESTED, "required:MEDICAL") in kinds(result)
    assert not result.exceptions


def test_unlinked_advice_answers_the_open_request_of_its_type() -> None:
    """Advice submitted without a request id answers the earliest open request of the same type."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        requested("REQ-EP", AdviceType.PSYCHOLOGICAL, date(2025, 2, 11)),
        submitted("CON-1", AdviceType.PSYCHOLOGICAL, date(2025, 3, 1)),
    ]
    result = run(events, date(2025, 3, 2))
    item = next(a for a in result.advice if a.request_id == "REQ-EP")
    assert item.status is AdviceStatus.RECEIVED
    assert item.contribution_ids == ("CON-1",)
    assert item.on_time


def test_unlinked_advice_answers_the_request_to_its_own_body_first() -> None:
    """Two trusts asked for medical advice: the later one's unlinked advice answers its request."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        requested("REQ-A", AdviceType.MEDICAL, date(2025, 2, 11), agency_id="ods|TRUST-A"),
        requested("REQ-B", AdviceType.MEDICAL, date(2025, 2, 18), agency_id="ods|TRUST-B"),
        submitted("CON-B", AdviceType.MEDICAL, date(2025, 3, 1), agency_id="ods|TRUST-B"),
        submitted("CON-X", AdviceType.MEDICAL, date(2025, 3, 2), agency_id="ods|TRUST-X"),
    ]
    result = run(events, date(2025, 3, 3))
    by_request = {a.request_id: a for a in result.advice if a.request_id}
    assert by_request["REQ-B"].contribution_ids == ("CON-B",)
    assert by_request["REQ-B"].status is AdviceStatus.RECEIVED
    # Advice from a body nobody asked still answers the earliest open request of its type.
    assert by_request["REQ-A"].contribution_ids == ("CON-X",)


def test_request_delivered_friday_evening_counts_that_friday() -> None:
    """By default a request emailed at 18:30 on Friday 10 January 2025 counts as received that
    Friday, as the Regulations read (reg 5(1), 13(2))."""
    result = run([request_received(date(2025, 1, 10), at=time(18, 30))], date(2025, 1, 14))
    assert result.received_on == date(2025, 1, 10)
    assert named(result, "decision_to_assess_due").due_on == date(2025, 2, 21)
    assert named(result, "final_plan_due").due_on == date(2025, 5, 30)


def test_request_delivered_on_a_saturday_counts_that_saturday() -> None:
    """By default a request delivered on Saturday 11 January 2025 counts from that Saturday."""
    result = run([request_received(date(2025, 1, 11), at=time(9, 0))], date(2025, 1, 14))
    assert result.received_on == date(2025, 1, 11)
    assert named(result, "decision_to_assess_due").due_on == date(2025, 2, 22)


def test_next_working_day_setting_counts_friday_evening_from_monday() -> None:
    """With the next-working-day receipt setting on, a Friday 18:30 request counts from Monday."""
    policy = Policy(receipt_rule=ReceiptRule(enabled=True))
    result = run([request_received(date(2025, 1, 10), at=time(18, 30))], date(2025, 1, 14), policy)
    assert result.received_on == date(2025, 1, 13)
    assert named(result, "decision_to_assess_due").due_on == date(2025, 2, 24)


@pytest.mark.parametrize(
    ("extra", "stage"),
    [
        ([], Stage.REQUEST_RECEIVED),
        (
            [AssessmentRefused(event_id="r", case_id=CASE, occurred_on=date(2025, 2, 3))],
            Stage.ASSESSMENT_REFUSED,
        ),
        ([decided(date(2025, 2, 3))], Stage.ASSESSING),
        (
            [
                decided(date(2025, 2, 3)),
                DecisionNotToIssuePlan(event_id="n", case_id=CASE, occurred_on=date(2025, 4, 1)),
            ],
            Stage.PLAN_NOT_ISSUED,
        ),
        (
            [
                decided(date(2025, 2, 3)),
                DraftPlanIssued(event_id="d", case_id=CASE, occurred_on=date(2025, 4, 1)),
            ],
            Stage.DRAFT_PLAN_ISSUED,
        ),
        (
            [
                decided(date(2025, 2, 3)),
                DraftPlanIssued(event_id="d", case_id=CASE, occurred_on=date(2025, 4, 1)),
                FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2025, 5, 1)),
            ],
            Stage.PLAN_MAINTAINED,
        ),
        (
            [
                decided(date(2025, 2, 3)),
                PlanCeased(event_id="c", case_id=CASE, occurred_on=date(2025, 3, 1)),
            ],
            Stage.CEASED,
        ),
    ],
)
def test_stage_follows_events(extra: list[CaseEvent], stage: Stage) -> None:
    """The stage reflects the latest step of the case."""
    assert run([request_received(date(2025, 1, 6)), *extra], date(2025, 6, 1)).stage is stage


def test_refused_case_has_no_plan_deadlines() -> None:
    """After a refusal to assess (reg 4), the 16- and 20-week limits no longer apply."""
    refused = AssessmentRefused(event_id="r", case_id=CASE, occurred_on=date(2025, 2, 3))
    result = run([request_received(date(2025, 1, 6)), refused], date(2025, 6, 30))
    assert named(result, "final_plan_due").status is DateStatus.NOT_APPLICABLE
    assert named(result, "decision_to_assess_due").status is DateStatus.MET
    assert not result.alerts


def test_final_plan_before_comment_period_ends_is_flagged() -> None:
    """Issuing the final plan on day 10 of the family's 15 days breaks reg 13(1)."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 3)),
        DraftPlanIssued(event_id="d", case_id=CASE, occurred_on=date(2025, 4, 1)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2025, 4, 10)),
    ]
    result = run(events, date(2025, 5, 1))
    comments = result.statutory_date("draft_comment_period_ends")
    assert comments is not None
    assert comments.due_on == date(2025, 4, 15)
    assert comments.status is DateStatus.MISSED
    assert result.timeliness.final_plan_within_20_weeks is True


def test_ceased_plan_raises_no_alerts() -> None:
    """Once the plan has ceased no alert is raised and open limits no longer apply."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 3)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2025, 5, 1)),
        PlanCeased(event_id="c", case_id=CASE, occurred_on=date(2026, 4, 1)),
    ]
    result = run(events, date(2026, 5, 1))
    assert result.stage is Stage.CEASED
    assert not result.alerts
    assert named(result, "annual_review_due").status is DateStatus.NOT_APPLICABLE


def test_events_after_as_of_are_ignored() -> None:
    """Evaluating as of a past date ignores events dated after it."""
    events: list[CaseEvent] = [request_received(date(2025, 1, 6)), decided(date(2025, 2, 3))]
    assert run(events, date(2025, 1, 20)).stage is Stage.REQUEST_RECEIVED


def test_events_of_two_cases_are_refused() -> None:
    """Events of different cases cannot be evaluated together."""
    other = AssessmentRefused(event_id="x", case_id="CASE-OTHER", occurred_on=date(2025, 2, 3))
    with pytest.raises(CaseworkError):
        run([request_received(date(2025, 1, 6)), other], date(2025, 3, 1))


def test_no_events_is_refused() -> None:
    """An empty event list is refused."""
    with pytest.raises(CaseworkError):
        run([], date(2025, 3, 1))


def test_duplicate_contribution_is_counted_once() -> None:
    """The same contribution delivered twice under different event ids is one contribution."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        requested("REQ-EP", AdviceType.PSYCHOLOGICAL, date(2025, 2, 11)),
        submitted("CON-1", AdviceType.PSYCHOLOGICAL, date(2025, 3, 1), "REQ-EP"),
        submitted("CON-1", AdviceType.PSYCHOLOGICAL, date(2025, 3, 2), "REQ-EP"),
    ]
    item = next(a for a in run(events, date(2025, 3, 5)).advice if a.request_id == "REQ-EP")
    assert item.contribution_ids == ("CON-1",)
    assert item.submitted_on == date(2025, 3, 1)


# --- Maintained plans: reviews, amendments, re-assessment -------------------------------------


def _maintained(*extra: CaseEvent) -> list[CaseEvent]:
    from ehcp.casework.events import AmendmentsProposed, AnnualReviewMeetingHeld

    return [
        request_received(date(2023, 1, 9), year_group=7, date_of_birth=date(2011, 11, 2)),
        decided(date(2023, 2, 13)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2023, 5, 22)),
        AnnualReviewMeetingHeld(event_id="m1", case_id=CASE, occurred_on=date(2024, 5, 13)),
        AnnualReviewMeetingHeld(event_id="m2", case_id=CASE, occurred_on=date(2025, 6, 2)),
        AmendmentsProposed(event_id="p", case_id=CASE, occurred_on=date(2025, 6, 16)),
        *extra,
    ]


def test_annual_reviews_chain_from_plan_then_last_review() -> None:
    """Each review falls in the 12 months starting with the plan, then with the last review, which
    end the day before the anniversary (CFA s.44(1))."""
    result = run(_maintained(), date(2025, 8, 1))
    reviews = [
        (d.due_on, d.status) for d in result.statutory_dates if d.name == "annual_review_due"
    ]
    assert reviews == [
        (date(2024, 5, 21), DateStatus.MET),
        (date(2025, 5, 12), DateStatus.MISSED),  # held 2 June 2025, three weeks late
        (date(2026, 6, 1), DateStatus.PENDING),
    ]


@pytest.mark.parametrize(
    ("held_on", "status"),
    [(date(2024, 5, 21), DateStatus.MET), (date(2024, 5, 22), DateStatus.MISSED)],
)
def test_review_held_on_the_anniversary_is_late(held_on: date, status: DateStatus) -> None:
    """A plan made on 22 May 2023 reviewed on 22 May 2024 is outside the 12 months starting with
    22 May 2023 (CFA s.44(1))."""
    from ehcp.casework.events import AnnualReviewMeetingHeld

    events: list[CaseEvent] = [
        request_received(date(2023, 1, 9), year_group=7, date_of_birth=date(2011, 11, 2)),
        decided(date(2023, 2, 13)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2023, 5, 22)),
        AnnualReviewMeetingHeld(event_id="m1", case_id=CASE, occurred_on=held_on),
    ]
    first = run(events, date(2024, 6, 1)).statutory_dates
    review = next(d for d in first if d.name == "annual_review_due")
    assert (review.due_on, review.completed_on, review.status) == (
        date(2024, 5, 21),
        held_on,
        status,
    )


def test_amendment_limits_after_review() -> None:
    """Amendments sent 16 June are due by 11 August (reg 22(3)) and within 12 weeks of the 2 June
    meeting (25 August)."""
    result = run(_maintained(), date(2025, 8, 20))
    assert result.stage is Stage.AMENDING
    amended = result.statutory_date("amended_plan_due")
    devon = result.statutory_date("amended_plan_due_after_review_meeting")
    assert amended is not None
    assert (amended.due_on, amended.status) == (
        date(2025, 8, 11),
        DateStatus.MISSED,
    )
    assert devon is not None
    assert (devon.due_on, devon.status) == (
        date(2025, 8, 25),
        DateStatus.PENDING,
    )
    assert {(a.kind, a.threshold) for a in result.alerts} >= {
        (AlertKind.DEADLINE_MISSED, "missed"),
        (AlertKind.DEADLINE_AT_RISK, "5d"),
    }


def test_reassessment_runs_14_weeks_and_rejudges_required_advice() -> None:
    """A re-assessment noticed 1 October 2025 is due 7 January 2026 (reg 27(2)); the pupil, now in
    year 10, needs reg 6(1)(g) advice."""
    from ehcp.casework.events import ReassessmentDecided

    notice = ReassessmentDecided(event_id="ra", case_id=CASE, occurred_on=date(2025, 10, 1))
    result = run(_maintained(notice), date(2025, 10, 2))
    assert result.stage is Stage.REASSESSING
    due = result.statutory_date("reassessment_plan_due")
    assert due is not None
    assert due.due_on == date(2026, 1, 7)
    assert advice_of(result, AdviceType.PREPARATION_FOR_ADULTHOOD) == [AdviceStatus.NOT_REQUESTED]


def test_under_five_reviewed_on_policy_interval() -> None:
    """A plan for a 3-year-old made 1 May 2025 is reviewed within the policy's 3 months starting
    with that day, so by 31 July (CoP 9.178)."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6), year_group=None, date_of_birth=date(2021, 9, 1)),
        decided(date(2025, 2, 3)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2025, 5, 1)),
    ]
    result = run(events, date(2025, 5, 2), Policy(under_five_review_months=3))
    review = result.statutory_date("annual_review_due")
    assert review is not None
    assert review.due_on == date(2025, 7, 31)


def _phase_transfer(kind_name: str, transfer_on: date, amended_on: date) -> list[CaseEvent]:
    from ehcp.casework.events import AmendedPlanIssued, PhaseTransferKind, PhaseTransferNoted

    return [
        request_received(date(2023, 1, 9), year_group=5, date_of_birth=date(2014, 11, 2)),
        decided(date(2023, 2, 13)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2023, 5, 22)),
        PhaseTransferNoted(
            event_id="pt",
            case_id=CASE,
            occurred_on=date(2024, 9, 2),
            transfer_on=transfer_on,
            kind=PhaseTransferKind[kind_name],
        ),
        AmendedPlanIssued(event_id="a", case_id=CASE, occurred_on=amended_on),
    ]


def test_phase_transfer_review_before_15_february() -> None:
    """A year 6 pupil moving to secondary in September 2026 needs the amended plan by 14 February
    2026, the last day before 15 February (reg 18(1)(b))."""
    from ehcp.casework.events import PhaseTransferKind, PhaseTransferNoted

    noted = PhaseTransferNoted(
        event_id="pt",
        case_id=CASE,
        occurred_on=date(2025, 9, 1),
        transfer_on=date(2026, 9, 2),
        kind=PhaseTransferKind.SCHOOL_PHASE,
    )
    result = run(_maintained(noted), date(2026, 2, 15))
    due = result.statutory_date("phase_transfer_review_due")
    assert due is not None
    assert (due.due_on, due.status) == (date(2026, 2, 14), DateStatus.MISSED)


@pytest.mark.parametrize(
    ("kind_name", "amended_on", "status"),
    [
        ("SCHOOL_PHASE", date(2026, 2, 14), DateStatus.MET),
        ("SCHOOL_PHASE", date(2026, 2, 15), DateStatus.MISSED),  # on, not before, 15 February
        ("SECONDARY_TO_POST_16", date(2026, 3, 30), DateStatus.MET),
        ("SECONDARY_TO_POST_16", date(2026, 3, 31), DateStatus.MISSED),  # on, not before, 31 March
    ],
)
def test_phase_transfer_amended_on_the_named_day_is_late(
    kind_name: str, amended_on: date, status: DateStatus
) -> None:
    """Reg 18(1) requires the plan amended "before" 15 February or 31 March: on that day is late."""
    result = run(_phase_transfer(kind_name, date(2026, 9, 2), amended_on), date(2026, 4, 1))
    due = result.statutory_date("phase_transfer_review_due")
    assert due is not None
    assert (due.completed_on, due.status) == (amended_on, status)


@pytest.mark.parametrize(
    ("amended_on", "status"),
    [
        (date(2025, 2, 15), DateStatus.MET),  # first day of the 12 months ending 14 Feb 2026
        (date(2025, 2, 14), DateStatus.MISSED),  # the previous year's amendment
    ],
)
def test_phase_transfer_counts_amendments_in_the_12_months_ending_with_the_deadline(
    amended_on: date, status: DateStatus
) -> None:
    """Only an amended plan issued in the 12 months ending with the reg 18 deadline meets it."""
    result = run(_phase_transfer("SCHOOL_PHASE", date(2026, 9, 2), amended_on), date(2026, 3, 1))
    due = result.statutory_date("phase_transfer_review_due")
    assert due is not None
    assert (due.due_on, due.status) == (date(2026, 2, 14), status)


def test_maintained_plan_without_recorded_draft_raises_no_stale_alerts() -> None:
    """A plan imported with only its final issue date does not keep alerting about the draft."""
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        FinalPlanIssued(event_id="f", case_id=CASE, occurred_on=date(2025, 5, 20)),
    ]
    result = run(events, date(2025, 9, 1))
    assert result.stage is Stage.PLAN_MAINTAINED
    assert not result.alerts
    assert named(result, "latest_draft_plan_due").status is DateStatus.MISSED
    assert named(result, "final_plan_due").status is DateStatus.MET


@pytest.mark.parametrize(
    ("starts", "ends", "excused"),
    [
        (date(2025, 2, 20), date(2025, 3, 25), True),  # 34 days, all within the 6 weeks
        (date(2025, 1, 20), date(2025, 2, 24), False),  # 36 days, but only 12 within them
        (date(2025, 3, 10), None, True),  # still away
    ],
)
def test_advice_absence_must_be_four_weeks_within_the_six(
    starts: date, ends: date | None, excused: bool
) -> None:
    """Reg 8(2)(b): the absence must last 4 continuous weeks within the body's 6 weeks."""
    away = TimescaleExceptionRecorded(
        event_id=next_id(),
        case_id=CASE,
        exception_id="EXC-AWAY",
        ground=ExceptionGround.REG_8_2_B,
        starts_on=starts,
        ends_on=ends,
        request_id="REQ-EP",
    )
    events: list[CaseEvent] = [
        request_received(date(2025, 1, 6)),
        decided(date(2025, 2, 10)),
        # The EP service received the request on 13 February: due 27 March.
        requested(
            "REQ-EP",
            AdviceType.PSYCHOLOGICAL,
            date(2025, 2, 12),
            received_by_body_on=date(2025, 2, 13),
        ),
        away,
    ]
    item = next(a for a in run(events, date(2025, 4, 1)).advice if a.request_id == "REQ-EP")
    assert item.due_on == date(2025, 3, 27)
    assert item.excused is excused
