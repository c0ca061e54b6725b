"""The plan's later life: review meeting, cessation, mediation, Tribunal orders, placement, budget.

Every worked date below was counted by hand from the regulation's words (see each docstring).
"""

from __future__ import annotations

from datetime import date

import pytest

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.casework.model import AlertKind, CaseAssessment, DateStatus, StatutoryDate
from ehcp.casework.policy import Policy
from ehcp.casework.rules import cessation, disputes, placement, review
from ehcp.errors import CaseworkError

from .builders import CASE, REAL_CALENDAR, next_id

PLAN_MADE = date(2024, 5, 22)


def final_plan(on: date = PLAN_MADE) -> ev.FinalPlanIssued:
    """The final plan, made on ``on``."""
    return ev.FinalPlanIssued(next_id(), CASE, on)


def run(events: list[ev.CaseEvent], as_of: date, policy: Policy | None = None) -> CaseAssessment:
    """Evaluate with the real England and Wales calendar."""
    return evaluate([final_plan(), *events], as_of, policy, REAL_CALENDAR)


def only(result: CaseAssessment, name: str) -> StatutoryDate:
    """The one statutory date called ``name``."""
    found = [d for d in result.statutory_dates if d.name == name]
    assert len(found) == 1, [d.name for d in result.statutory_dates]
    return found[0]


def named(result: CaseAssessment, name: str) -> list[StatutoryDate]:
    """Every statutory date called ``name``, in due-date order."""
    return [d for d in result.statutory_dates if d.name == name]


# -- review meeting (reg 20, 21) -------------------------------------------------------------

MEETING = date(2025, 4, 15)  # a Tuesday


def scheduled(meeting_on: date = MEETING, on: date = date(2025, 3, 1)) -> ev.ReviewMeetingScheduled:
    """The meeting fixed on ``on`` for ``meeting_on``."""
    return ev.ReviewMeetingScheduled(next_id(), CASE, on, meeting_on)


def test_two_weeks_notice_of_a_meeting_on_15_april_is_given_by_1_april() -> None:
    """Reg 20(3): notice on 1 April of a meeting on 15 April is two weeks' notice; 2 April is not."""
    assert review.review_invitations_due(MEETING) == date(2025, 4, 1)
    on_time = run([scheduled(), ev.ReviewInvitationsSent(next_id(), CASE, date(2025, 4, 1), MEETING)],
                  date(2025, 4, 2))
    late = run([scheduled(), ev.ReviewInvitationsSent(next_id(), CASE, date(2025, 4, 2), MEETING)],
               date(2025, 4, 2))
    assert only(on_time, "review_invitations_due").status is DateStatus.MET
    assert only(late, "review_invitations_due").status is DateStatus.MISSED


def test_advice_circulated_two_weeks_before_the_meeting() -> None:
    """Reg 20(4): advice for a 15 April meeting is circulated by 1 April; none by 2 April is missed."""
    result = run([scheduled()], date(2025, 4, 2))
    item = only(result, "review_advice_circulated_due")
    assert (item.due_on, item.status) == (date(2025, 4, 1), DateStatus.MISSED)
    assert any(a.kind is AlertKind.DEADLINE_MISSED and a.subject.startswith(
        "review_advice_circulated_due") for a in result.alerts)


def test_report_within_two_weeks_and_decision_within_four_weeks_of_the_meeting() -> None:
    """Reg 20(7), 20(10): a meeting on 15 April 2025 -> report by 29 April, decision by 13 May."""
    held = ev.AnnualReviewMeetingHeld(next_id(), CASE, MEETING)
    result = run([held, ev.ReviewReportSent(next_id(), CASE, date(2025, 4, 29))], date(2025, 5, 1))
    assert only(result, "review_report_due").status is DateStatus.MET
    assert only(result, "review_report_due").due_on == date(2025, 4, 29)
    decision = only(result, "review_decision_due")
    assert (decision.due_on, decision.status) == (date(2025, 5, 13), DateStatus.PENDING)


def test_a_maintain_decision_on_the_last_day_is_met_and_the_day_after_is_missed() -> None:
    """Reg 20(10): MAINTAIN on 13 May meets the 4 weeks; on 14 May it does not."""
    held = ev.AnnualReviewMeetingHeld(next_id(), CASE, MEETING)
    for day, status in ((date(2025, 5, 13), DateStatus.MET), (date(2025, 5, 14), DateStatus.MISSED)):
        decided = ev.ReviewDecisionMade(next_id(), CASE, day, ev.ReviewOutcome.MAINTAIN)
        result = run([held, decided], date(2025, 6, 1))
        assert only(result, "review_decision_due").status is status
        assert any("complete with no amendment" in f.text for f in result.facts)


def test_no_decision_four_weeks_after_the_meeting_raises_deadline_missed() -> None:
    """With no decision by 13 May, 14 May shows review_decision_due MISSED and a CRITICAL alert."""
    held = ev.AnnualReviewMeetingHeld(next_id(), CASE, MEETING)
    report = ev.ReviewReportSent(next_id(), CASE, date(2025, 4, 22))
    result = run([held, report], date(2025, 5, 14))
    assert only(result, "review_decision_due").status is DateStatus.MISSED
    missed = [a for a in result.alerts if a.kind is AlertKind.DEADLINE_MISSED]
    assert [a.subject for a in missed] == ["review_decision_due:2025-05-13"]


def test_proposed_amendments_or_a_cease_notice_are_the_decision() -> None:
    """Amendments proposed (reg 22(2)) or a reg 31(1) notice within 4 weeks meet reg 20(10)."""
    held = ev.AnnualReviewMeetingHeld(next_id(), CASE, MEETING)
    proposed = ev.AmendmentsProposed(next_id(), CASE, date(2025, 5, 9))
    cease = ev.CeaseIntentionNotified(next_id(), CASE, date(2025, 5, 9),
                                      ev.CessationReason.NO_LONGER_NECESSARY)
    for step in (proposed, cease):
        assert only(run([held, step], date(2025, 6, 1)), "review_decision_due").status is (
            DateStatus.MET)


def test_a_rescheduled_meeting_drops_the_old_dates_clocks() -> None:
    """Moved from 15 to 22 April before notice was sent: only the 22 April clocks (due 8 April) run."""
    moved = scheduled(date(2025, 4, 22), on=date(2025, 3, 20))
    result = run([scheduled(), moved], date(2025, 4, 5))
    invitations = named(result, "review_invitations_due")
    assert [(d.due_on, d.status) for d in invitations] == [
        (date(2025, 4, 1), DateStatus.NOT_APPLICABLE),
        (date(2025, 4, 8), DateStatus.PENDING),
    ]


def test_invitations_after_the_meeting_are_refused() -> None:
    """Notice cannot be given after the meeting it invites to."""
    with pytest.raises(CaseworkError):
        ev.ReviewInvitationsSent(next_id(), CASE, date(2025, 4, 16), MEETING)


def test_a_review_that_keeps_the_plan_meets_the_phase_transfer_deadline() -> None:
    """Reg 18(1)(b): reviewed before 15 February, no amendment needed -> met without an amended plan."""
    transfer = ev.PhaseTransferNoted(next_id(), CASE, date(2025, 9, 1), date(2026, 9, 1),
                                     ev.PhaseTransferKind.SCHOOL_PHASE)
    decided = ev.ReviewDecisionMade(next_id(), CASE, date(2026, 1, 20), ev.ReviewOutcome.MAINTAIN)
    result = run([transfer, decided], date(2026, 3, 1))
    item = only(result, "phase_transfer_review_due")
    assert (item.due_on, item.status, item.completed_on) == (
        date(2026, 2, 14), DateStatus.MET, date(2026, 1, 20))


# -- cessation (CFA s.45, reg 31; Tribunal Rules r.20(1)(c)) ----------------------------------


def cease_decision(on: date, *, rights: bool = True) -> ev.CessationDecided:
    """A decision to cease notified on ``on``."""
    return ev.CessationDecided(next_id(), CASE, on, ev.CessationOutcome.CEASE, rights)


@pytest.mark.parametrize(
    ("notice", "certificate", "ends"),
    [
        (date(2025, 3, 5), None, date(2025, 5, 5)),  # "within 2 months after" 5 March
        (date(2024, 12, 31), None, date(2025, 2, 28)),  # no 31 February: the month's last day
        (date(2025, 3, 5), date(2025, 4, 20), date(2025, 5, 20)),  # 1 month from a later certificate
        (date(2025, 3, 5), date(2025, 3, 10), date(2025, 5, 5)),  # an earlier certificate's month
    ],
)
def test_appeal_period(notice: date, certificate: date | None, ends: date) -> None:
    """r.20(1)(c): 2 months after the notice, or 1 month from the certificate if later."""
    assert cessation.appeal_period_ends(notice, certificate) == ends


def test_ceasing_on_the_last_day_to_appeal_is_too_early_and_the_day_after_is_in_time() -> None:
    """CFA s.45: a plan noticed to cease on 5 March is maintained through 5 May."""
    for ceased_on, status in ((date(2025, 5, 5), DateStatus.MISSED), (date(2025, 5, 6), DateStatus.MET)):
        result = run([cease_decision(date(2025, 3, 5)), ev.PlanCeased(next_id(), CASE, ceased_on)],
                     date(2025, 6, 1))
        assert only(result, "cessation_appeal_period_ends").status is status


def test_ceasing_while_an_appeal_is_pending_is_a_breach_until_the_tribunal_decides() -> None:
    """An appeal registered on 1 April: ceasing on 10 May, before any order, is early."""
    appeal = ev.TribunalAppealRegistered(next_id(), CASE, "APP-1", date(2025, 4, 1))
    early = run([cease_decision(date(2025, 3, 5)), appeal, ev.PlanCeased(next_id(), CASE, date(2025, 5, 10))],
                date(2025, 6, 1))
    waiting = run([cease_decision(date(2025, 3, 5)), appeal], date(2025, 6, 1))
    assert only(early, "cessation_appeal_period_ends").status is DateStatus.MISSED
    assert only(waiting, "cessation_appeal_period_ends").status is DateStatus.PENDING
    dismissed = ev.TribunalOrderMade(next_id(), CASE, "ORD-1", date(2025, 9, 1), ev.OrderKind.CEASE)
    on_order_day = run([cease_decision(date(2025, 3, 5)), appeal, dismissed,
                        ev.PlanCeased(next_id(), CASE, date(2025, 9, 1))], date(2025, 9, 2))
    assert only(on_order_day, "cessation_appeal_period_ends").status is DateStatus.MET


def test_a_decision_to_cease_without_appeal_rights_is_a_concern() -> None:
    """Reg 31(3): the notice must give the right to appeal, its time limits and mediation."""
    result = run([cease_decision(date(2025, 3, 5), rights=False)], date(2025, 3, 6))
    assert [f.concern for f in result.facts if f.topic == "cessation"] == [True]


# -- mediation (regs 35-42) -------------------------------------------------------------------


def test_health_body_told_within_three_working_days_over_easter() -> None:
    """Told on Wed 16 April 2025: Good Friday and Easter Monday do not count -> due Wed 23 April."""
    assert disputes.within_working_days(date(2025, 4, 16), REAL_CALENDAR) == date(2025, 4, 23)
    request = ev.MediationRequested(next_id(), CASE, "MED-1", date(2025, 4, 16), includes_health=True)
    result = run([request], date(2025, 4, 24))
    assert only(result, "mediation_health_body_notice_due").status is DateStatus.MISSED


def test_mediation_within_30_days_and_certificate_three_working_days_after() -> None:
    """Requested 3 April 2025 -> held by 3 May; held Fri 2 May -> certificate by Thu 8 May (5 May a bank holiday)."""
    request = ev.MediationRequested(next_id(), CASE, "MED-1", date(2025, 4, 3))
    held = ev.MediationHeld(next_id(), CASE, "MED-1", date(2025, 5, 2))
    result = run([request, held], date(2025, 5, 9))
    assert only(result, "mediation_due").due_on == date(2025, 5, 3)
    assert only(result, "mediation_due").status is DateStatus.MET
    certificate = only(result, "mediation_certificate_due")
    assert (certificate.due_on, certificate.status) == (date(2025, 5, 8), DateStatus.MISSED)


def test_a_family_that_declines_mediation_owes_no_mediation_date() -> None:
    """A MEDIATION_DECLINED certificate after the request makes the 30 days not applicable."""
    request = ev.MediationRequested(next_id(), CASE, "MED-1", date(2025, 4, 3))
    declined = ev.MediationCertificateIssued(next_id(), CASE, date(2025, 4, 7),
                                             ev.MediationCertificateKind.MEDIATION_DECLINED, "MED-1")
    result = run([request, declined], date(2025, 6, 1))
    assert only(result, "mediation_due").status is DateStatus.NOT_APPLICABLE


# -- Tribunal orders (reg 44(2)) and mediation agreements (reg 42) ----------------------------

ORDER_DAY = date(2025, 6, 2)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ev.OrderKind.ASSESS, {"order_assessment_notice_due": date(2025, 6, 16),
                               "order_decision_not_to_issue_due": date(2025, 8, 11),
                               "order_assessment_plan_due": date(2025, 9, 8)}),
        (ev.OrderKind.MAKE_AND_MAINTAIN_PLAN, {"order_draft_plan_due": date(2025, 7, 7),
                                               "order_final_plan_due": date(2025, 8, 18)}),
        (ev.OrderKind.AMEND_PLAN, {"order_amended_plan_due": date(2025, 7, 7)}),
        (ev.OrderKind.NAME_INSTITUTION, {"order_named_institution_due": date(2025, 6, 16)}),
        (ev.OrderKind.CONTINUE_TO_MAINTAIN, {}),
        (ev.OrderKind.CEASE, {}),
    ],
)
def test_order_periods_from_2_june_2025(kind: ev.OrderKind, expected: dict[str, date]) -> None:
    """Reg 44(2): 2, 10, 14 weeks (assess); 5 and 11 (make a plan); 5 (amend); 2 (name a school)."""
    order = ev.TribunalOrderMade(next_id(), CASE, "ORD-1", ORDER_DAY, kind)
    result = run([order], ORDER_DAY)
    got = {d.name: d.due_on for d in result.statutory_dates if d.name.startswith("order_")}
    assert got == expected


def test_a_plan_after_an_assessment_order_closes_the_not_to_issue_branch() -> None:
    """Final plan 1 September after an order of 2 June: 14 weeks met, the 10-week branch not applicable."""
    order = ev.TribunalOrderMade(next_id(), CASE, "ORD-1", ORDER_DAY, ev.OrderKind.ASSESS)
    notice = ev.DecisionToAssessMade(next_id(), CASE, date(2025, 6, 13))
    plan = ev.FinalPlanIssued(next_id(), CASE, date(2025, 9, 1))
    result = run([order, notice, plan], date(2025, 9, 10))
    assert only(result, "order_assessment_notice_due").status is DateStatus.MET
    assert only(result, "order_decision_not_to_issue_due").status is DateStatus.NOT_APPLICABLE
    assert only(result, "order_assessment_plan_due").status is DateStatus.MET


def test_an_amended_plan_issued_late_misses_the_order() -> None:
    """Ordered to amend on 2 June: an amended plan on 8 July misses 7 July (reg 44(2)(e))."""
    order = ev.TribunalOrderMade(next_id(), CASE, "ORD-1", ORDER_DAY, ev.OrderKind.AMEND_PLAN)
    result = run([order, ev.AmendedPlanIssued(next_id(), CASE, date(2025, 7, 8))], date(2025, 7, 9))
    assert only(result, "order_amended_plan_due").status is DateStatus.MISSED


def test_a_mediation_agreement_binds_like_an_order_and_otherwise_within_two_weeks() -> None:
    """Reg 42(2) applies reg 44's periods to an appealable issue; reg 42(3) gives 2 weeks otherwise."""
    amend = ev.TribunalOrderMade(next_id(), CASE, "AGR-1", ORDER_DAY, ev.OrderKind.AMEND_PLAN,
                                 ev.OrderSource.MEDIATION_AGREEMENT)
    other = ev.TribunalOrderMade(next_id(), CASE, "AGR-2", ORDER_DAY,
                                 ev.OrderKind.NON_APPEALABLE_ACTION, ev.OrderSource.MEDIATION_AGREEMENT)
    done = ev.OrderComplied(next_id(), CASE, "AGR-2", date(2025, 6, 16))
    result = run([amend, other, done], date(2025, 6, 20))
    assert only(result, "order_amended_plan_due").regulation == "reg 42(2) applying reg 44(2)(e)"
    action = only(result, "mediation_agreement_action_due")
    assert (action.due_on, action.status) == (date(2025, 6, 16), DateStatus.MET)


def test_a_tribunal_cannot_make_a_non_appealable_action_order() -> None:
    """NON_APPEALABLE_ACTION is reg 42(3), a mediation agreement only."""
    with pytest.raises(CaseworkError):
        ev.TribunalOrderMade(next_id(), CASE, "ORD-1", ORDER_DAY, ev.OrderKind.NON_APPEALABLE_ACTION)


def test_response_to_an_appeal_by_the_date_the_tribunal_set() -> None:
    """Response due 14 July (the Tribunal's date): sent 15 July is missed."""
    appeal = ev.TribunalAppealRegistered(next_id(), CASE, "APP-1", ORDER_DAY, date(2025, 7, 14))
    sent = ev.TribunalResponseSubmitted(next_id(), CASE, "APP-1", date(2025, 7, 15))
    assert only(run([appeal, sent], date(2025, 7, 16)), "tribunal_response_due").status is (
        DateStatus.MISSED)


# -- placement (CFA s.38-40) and personal budget ---------------------------------------------


def test_a_consulted_school_replies_within_15_days_or_the_policy_setting() -> None:
    """Consulted 2 June 2025: by 17 June by default (CoP 9.79), by 12 June with a 10-day policy."""
    consulted = ev.InstitutionConsulted(next_id(), CASE, "CON-1", "SCH-100002", ORDER_DAY)
    assert placement.consultation_response_due(ORDER_DAY, 15) == date(2025, 6, 17)
    assert only(run([consulted], ORDER_DAY), "institution_consultation_response_due").due_on == (
        date(2025, 6, 17))
    short = run([consulted], ORDER_DAY, Policy(institution_consultation_days=10))
    assert only(short, "institution_consultation_response_due").due_on == date(2025, 6, 12)
    answered = ev.InstitutionConsultationAnswered(next_id(), CASE, "CON-1", date(2025, 6, 17), True)
    assert only(run([consulted, answered], date(2025, 6, 18)),
                "institution_consultation_response_due").status is DateStatus.MET


def test_a_request_on_day_15_is_in_time_and_day_16_is_not() -> None:
    """Reg 13(1): a draft served 1 May 2025 leaves until 15 May to ask for a school."""
    draft = ev.DraftPlanIssued(next_id(), CASE, date(2025, 5, 1))
    for day, word in ((date(2025, 5, 15), "within the 15 days"), (date(2025, 5, 16), "outside")):
        asked = ev.InstitutionRequested(next_id(), CASE, "PREF-1", "SCH-100002", day)
        facts = run([draft, asked], day).facts
        assert any(word in f.text for f in facts if f.topic == "placement")


def test_naming_another_school_without_refusing_the_request_is_a_concern() -> None:
    """CFA s.39(3): an in-time request must be named unless refused on a s.39(4) ground."""
    draft = ev.DraftPlanIssued(next_id(), CASE, date(2025, 5, 1))
    asked = ev.InstitutionRequested(next_id(), CASE, "PREF-1", "SCH-100002", date(2025, 5, 10))
    other = ev.InstitutionNamed(next_id(), CASE, "SCH-100003", date(2025, 6, 1))
    refused = ev.InstitutionRequestRefused(next_id(), CASE, "PREF-1", date(2025, 5, 30),
                                           ev.PreferenceRefusalGround.UNSUITABLE)
    concern = [f.concern for f in run([draft, asked, other], date(2025, 6, 2)).facts
               if f.text.startswith("Section I")]
    fine = [f.concern for f in run([draft, asked, refused, other], date(2025, 6, 2)).facts
            if f.text.startswith("Section I")]
    assert (concern, fine) == ([True], [False])


def test_personal_budget_parts_and_refusal_reasons() -> None:
    """A budget covers at least one part; a refusal without the review right is a concern."""
    with pytest.raises(CaseworkError):
        ev.PersonalBudgetAgreed(next_id(), CASE, ORDER_DAY, False, False, False)
    agreed = ev.PersonalBudgetAgreed(next_id(), CASE, ORDER_DAY, True, False, True, direct_payments=True)
    refused = ev.PersonalBudgetRefused(next_id(), CASE, ORDER_DAY,
                                       ev.PersonalBudgetRefusalReason.CANNOT_DISAGGREGATE,
                                       review_right_notified=False, direct_payments_only=True)
    facts = [f for f in run([agreed, refused], ORDER_DAY).facts if f.topic == "personal_budget"]
    texts = " ".join(f.text for f in facts)
    assert "covering education, social care; paid as direct payments" in texts
    assert [f.concern for f in facts if "refused" in f.text] == [True]


def test_thousands_of_plan_events_evaluate_and_facts_stay_short() -> None:
    """Hostile volume: 2,000 requests, namings, orders and mediations evaluate; a fact lists at most 5 ids."""
    draft = ev.DraftPlanIssued(next_id(), CASE, date(2025, 5, 1))
    events: list[ev.CaseEvent] = [draft]
    for n in range(2000):
        events += [
            ev.InstitutionRequested(next_id(), CASE, f"PREF-{n}", f"SCH-{n}", date(2025, 5, 10)),
            ev.InstitutionNamed(next_id(), CASE, "SCH-999999", date(2025, 6, 1)),
            ev.TribunalOrderMade(next_id(), CASE, f"ORD-{n}", ORDER_DAY, ev.OrderKind.AMEND_PLAN),
            ev.MediationRequested(next_id(), CASE, f"MED-{n}", date(2025, 4, 3)),
        ]
    result = run(events, date(2025, 7, 1))
    assert len(named(result, "order_amended_plan_due")) == 2000
    naming = [f for f in result.facts if f.text.startswith("Section I")]
    assert len(naming) == 2000
    assert all(f.concern and f.text.count("PREF-") == 5 for f in naming)


def test_explain_shows_the_plan_history_with_its_concerns() -> None:
    """The text has a "Plan history" with [CONCERN]; the JSON carries the same facts with their flag."""
    from ehcp.casework.explain import render_text, to_json

    result = run([cease_decision(date(2025, 3, 5), rights=False)], date(2025, 3, 6))
    text = render_text(result)
    assert "Plan history:" in text
    assert "[CONCERN] [reg 31(3), reg 32]" in text
    (fact,) = to_json(result)["facts"]
    assert (fact["topic"], fact["on"], fact["concern"]) == ("cessation", "2025-03-05", True)
