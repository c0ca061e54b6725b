"""SEN Support evidence and care status: worked cases and order properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehcp.casework.engine import evaluate
from ehcp.casework.events import (
    AdviceType,
    CareStatus,
    CareStatusRecorded,
    CaseEvent,
    DecisionToAssessMade,
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
from ehcp.casework.explain import render_text, to_json
from ehcp.casework.jsonl import parse_event
from ehcp.casework.policy import Policy
from ehcp.errors import CaseworkError, ValidationError

from .builders import CASE, request_received

RECEIVED = date(2026, 1, 5)


def cycle(cycle_id: str, a: date, p: date, d: date, r: date | None, eid: str) -> CaseEvent:
    return GraduatedApproachCycleRecorded(eid, CASE, cycle_id, a, p, d, r)


def spend(year: int, pounds: int, on: date, eid: str) -> CaseEvent:
    return NotionalSenBudgetSpendRecorded(eid, CASE, on, year, pounds)


SCHOOL_EVIDENCE: list[CaseEvent] = [
    request_received(RECEIVED, event_id="req"),
    cycle("C1", date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20), date(2025, 4, 28), "c1a"),
    cycle("C2", date(2025, 5, 5), date(2025, 5, 12), date(2025, 5, 19), None, "c2a"),
    cycle("C2", date(2025, 5, 5), date(2025, 5, 12), date(2025, 5, 19), date(2025, 10, 20), "c2b"),
    spend(2024, 3200, date(2025, 7, 18), "s24"),
    spend(2025, 5100, date(2025, 12, 12), "s25a"),
    spend(2025, 6150, date(2025, 12, 19), "s25b"),
    TopUpFundingRequested("tr", CASE, "TU-1", date(2025, 12, 19), 4500),
    TopUpFundingDecided("td", CASE, "TU-1", date(2026, 1, 9), TopUpOutcome.AGREED_IN_PART, 3000),
]


def test_worked_case_school_evidence() -> None:
    """Two cycles (the second re-recorded with its review), spend per year, a part-agreed top-up."""
    evidence = evaluate(SCHOOL_EVIDENCE, date(2026, 1, 12)).sen_support
    assert evidence is not None
    assert [(c.cycle_id, c.review_on) for c in evidence.cycles] == [
        ("C1", date(2025, 4, 28)), ("C2", date(2025, 10, 20))]
    assert evidence.reviewed_cycles == 2
    assert evidence.notional_spend == ((2024, 3200), (2025, 6150))
    assert evidence.threshold_reached is True
    (top_up,) = evidence.top_up
    assert (top_up.outcome, top_up.decided_on, top_up.agreed_pounds) == (
        TopUpOutcome.AGREED_IN_PART, date(2026, 1, 9), 3000)
    assert evidence.notes == ()


def test_before_the_decision_the_top_up_is_pending_and_spend_below_threshold() -> None:
    """As of 15 December the 2025/26 spend was 5,100 (below 6,000) and nothing was requested."""
    evidence = evaluate(SCHOOL_EVIDENCE, date(2025, 12, 15)).sen_support
    assert evidence is not None
    assert evidence.threshold_reached is False
    assert evidence.top_up == ()
    pending = evaluate(SCHOOL_EVIDENCE, date(2026, 1, 8)).sen_support
    assert pending is not None
    assert pending.top_up[0].outcome is None


def test_the_threshold_is_policy() -> None:
    """An LA with a 7,000-pound threshold sees 6,150 as below it."""
    evidence = evaluate(SCHOOL_EVIDENCE, date(2026, 1, 12),
                        Policy(notional_sen_threshold_pounds=7000)).sen_support
    assert evidence is not None
    assert evidence.threshold_reached is False


def test_a_decision_before_its_request_or_for_no_request_is_a_note() -> None:
    """Not applied, and said so: a decision dated before the request, one naming no request."""
    events = [
        request_received(RECEIVED, event_id="req"),
        TopUpFundingRequested("tr", CASE, "TU-1", date(2026, 1, 7), 4500),
        TopUpFundingDecided("td0", CASE, "TU-1", date(2026, 1, 6), TopUpOutcome.REFUSED),
        TopUpFundingDecided("td9", CASE, "TU-9", date(2026, 1, 8), TopUpOutcome.REFUSED),
    ]
    evidence = evaluate(events, date(2026, 1, 12)).sen_support
    assert evidence is not None
    assert evidence.top_up[0].outcome is None
    assert len(evidence.notes) == 2
    assert "before request TU-1" in evidence.notes[0]
    assert "TU-9" in evidence.notes[1]


def test_explain_shows_the_evidence() -> None:
    """Text and JSON both carry the cycles, the spend and the decision."""
    assessment = evaluate(SCHOOL_EVIDENCE, date(2026, 1, 12))
    text = render_text(assessment)
    assert "SEN Support evidence:" in text
    assert "Graduated approach: 2 cycle(s), 2 reviewed" in text
    assert "Notional SEN budget spent 2025/26: 6,150 pounds" in text
    assert "First 6,000 pounds met from the notional SEN budget: yes" in text
    assert "Top-up request TU-1 on 2025-12-19 for 4,500 pounds: AGREED_IN_PART on 2026-01-09, 3,000 pounds" in text
    data = to_json(assessment)["sen_support"]
    assert data["top_up"][0]["outcome"] == "AGREED_IN_PART"
    assert data["notional_spend"][-1] == {"academic_year": 2025, "amount_pounds": 6150}


def test_no_evidence_leaves_the_text_unchanged() -> None:
    """A case without these events prints no SEN Support or care section."""
    text = render_text(evaluate([request_received(RECEIVED, event_id="req")], RECEIVED))
    assert "SEN Support evidence" not in text
    assert "Care status" not in text


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: cycle("C", date(2025, 1, 13), date(2025, 1, 6), date(2025, 1, 20), None, "x"),
         "assess_on <= plan_on"),
        (lambda: cycle("C", date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20),
                       date(2025, 1, 19), "x"), "assess_on <= plan_on"),
        (lambda: spend(2025, 6000, date(2024, 12, 1), "x"), "before its academic year"),
        (lambda: spend(2025, 10_000_001, date(2025, 12, 1), "x"), "pounds"),
        (lambda: TopUpFundingRequested("x", CASE, "T", date(2026, 1, 1), 0), "pounds"),
        (lambda: TopUpFundingDecided("x", CASE, "T", date(2026, 1, 1), TopUpOutcome.AGREED),
         "needs amount_pounds"),
        (lambda: CareStatusRecorded("x", CASE, date(2026, 1, 1),
                                    CareStatus.PREVIOUSLY_LOOKED_AFTER), "route"),
        (lambda: CareStatusRecorded("x", CASE, date(2026, 1, 1), CareStatus.NOT_LOOKED_AFTER,
                                    looking_after_la="886"), "only with LOOKED_AFTER"),
        (lambda: VirtualSchoolHeadNamed("x", CASE, date(2026, 1, 1), "88a"), "3-digit"),
        (lambda: PupilPremiumPlusEligibilityRecorded("x", CASE, date(2026, 1, 1), True),
         "basis"),
    ],
)
def test_events_refuse_what_cannot_be(build: object, message: str) -> None:
    """Each event's own checks."""
    with pytest.raises(CaseworkError, match=message):
        build()  # type: ignore[operator]


def test_json_lines_refuse_a_float_sum() -> None:
    """Pounds are whole numbers; 4500.5 is refused naming the field."""
    with pytest.raises(ValidationError, match="amount_pounds"):
        parse_event({"type": "TopUpFundingRequested", "event_id": "x", "case_id": CASE,
                     "request_id": "T", "occurred_on": "2026-01-01", "amount_pounds": 4500.5})


# --- looked-after and adopted children ---------------------------------------------------------


def test_worked_case_looked_after_child_with_vsh_and_pupil_premium_plus() -> None:
    """A year 4 child comes into care of LA 886; the maintaining LA's own VSH is named by mistake."""
    events = [
        request_received(RECEIVED, event_id="req", year_group=4),
        CareStatusRecorded("cs", CASE, date(2026, 1, 20), CareStatus.LOOKED_AFTER,
                           looking_after_la="886"),
        VirtualSchoolHeadNamed("v1", CASE, date(2026, 1, 21), "999", "LA-999-VSH"),
        PupilPremiumPlusEligibilityRecorded("pp", CASE, date(2026, 1, 22), True,
                                            CareStatus.LOOKED_AFTER),
        DecisionToAssessMade("dta", CASE, date(2026, 2, 2)),
    ]
    assessment = evaluate(events, date(2026, 2, 3))
    care = assessment.care
    assert care is not None
    assert (care.status, care.since, care.looking_after_la) == (
        CareStatus.LOOKED_AFTER, date(2026, 1, 20), "886")
    assert care.pupil_premium_plus is True
    assert care.pupil_premium_plus_expected is True
    assert len(care.notes) == 1
    assert "LA 886 looks after" in care.notes[0]
    # Looked after, so the VSH's advice is required (policy), as with LookedAfterStatusChanged.
    assert AdviceType.VIRTUAL_SCHOOL_HEAD in {a.advice_type for a in assessment.advice}
    text = render_text(assessment)
    assert "Care status:" in text
    assert "Virtual School Head: LA 999 (agency LA-999-VSH)" in text
    # Naming the looking-after LA's VSH clears the note.
    fixed = evaluate([*events, VirtualSchoolHeadNamed("v2", CASE, date(2026, 2, 3), "886")],
                     date(2026, 2, 3)).care
    assert fixed is not None
    assert fixed.notes == ()


def test_worked_case_adopted_child() -> None:
    """Adopted from care: previously looked after, no VSH advice required, PP+ expected in year 4."""
    events = [
        request_received(RECEIVED, event_id="req", looked_after=True, year_group=4),
        CareStatusRecorded("cs", CASE, date(2026, 1, 10), CareStatus.PREVIOUSLY_LOOKED_AFTER,
                           route=PermanenceRoute.ADOPTION),
        DecisionToAssessMade("dta", CASE, date(2026, 2, 2)),
    ]
    assessment = evaluate(events, date(2026, 2, 3))
    care = assessment.care
    assert care is not None
    assert care.status is CareStatus.PREVIOUSLY_LOOKED_AFTER
    assert care.route is PermanenceRoute.ADOPTION
    assert care.pupil_premium_plus is None
    assert care.pupil_premium_plus_expected is True
    assert care.notes == ("no Virtual School Head named for a looked-after or previously "
                          "looked-after child",)
    assert AdviceType.VIRTUAL_SCHOOL_HEAD not in {a.advice_type for a in assessment.advice}
    assert to_json(assessment)["care"]["route"] == "ADOPTION"


def test_pupil_premium_plus_is_not_expected_after_year_11() -> None:
    """A year 12 looked-after young person: PP+ recorded eligible is flagged for a check."""
    events = [
        request_received(RECEIVED, event_id="req", looked_after=True, year_group=12,
                         date_of_birth=date(2009, 3, 1)),
        VirtualSchoolHeadNamed("v", CASE, date(2026, 1, 6), "999"),
        PupilPremiumPlusEligibilityRecorded("pp", CASE, date(2026, 1, 7), True,
                                            CareStatus.LOOKED_AFTER),
    ]
    care = evaluate(events, date(2026, 1, 8)).care
    assert care is not None
    assert care.pupil_premium_plus_expected is False
    assert any("Pupil Premium Plus recorded as eligible" in n for n in care.notes)


def test_the_older_event_and_the_new_one_agree() -> None:
    """LookedAfterStatusChanged(false) after CareStatusRecorded(LOOKED_AFTER) ends it; the latest wins."""
    events = [
        request_received(RECEIVED, event_id="req"),
        CareStatusRecorded("cs", CASE, date(2026, 1, 6), CareStatus.LOOKED_AFTER),
        LookedAfterStatusChanged("lc", CASE, date(2026, 1, 9), False),
    ]
    care = evaluate(events, date(2026, 1, 10)).care
    assert care is not None
    assert care.status is CareStatus.NOT_LOOKED_AFTER


# --- properties -----------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))


@settings(max_examples=60, deadline=None)
@given(st.permutations(SCHOOL_EVIDENCE))
def test_delivery_order_never_changes_the_evidence(events: list[CaseEvent]) -> None:
    """Any arrival order of the same events gives the same summary (history order decides)."""
    assert evaluate(events, date(2026, 1, 12)).sen_support == evaluate(
        SCHOOL_EVIDENCE, date(2026, 1, 12)).sen_support


@settings(max_examples=100, deadline=None)
@given(st.lists(DAYS, min_size=4, max_size=4))
def test_a_cycle_is_accepted_exactly_when_its_dates_are_in_order(days: list[date]) -> None:
    """assess <= plan <= do <= review, or the event is refused."""
    in_order = days == sorted(days)
    try:
        cycle("C", days[0], days[1], days[2], days[3], "x")
    except CaseworkError:
        assert not in_order
    else:
        assert in_order


@settings(max_examples=100, deadline=None)
@given(DAYS, DAYS)
def test_a_decision_applies_exactly_when_not_before_its_request(asked: date, decided: date) -> None:
    """The decision answers the request only if dated on or after it."""
    events = [
        request_received(RECEIVED, event_id="req"),
        TopUpFundingRequested("tr", CASE, "TU-1", asked, 4500),
        TopUpFundingDecided("td", CASE, "TU-1", decided, TopUpOutcome.REFUSED),
    ]
    evidence = evaluate(events, date(2027, 1, 1)).sen_support
    assert evidence is not None
    assert (evidence.top_up[0].outcome is TopUpOutcome.REFUSED) == (decided >= asked)
    assert (len(evidence.notes) == 1) == (decided < asked)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(DAYS, st.sampled_from(list(CareStatus))), min_size=1, max_size=5,
                unique_by=lambda t: t[0]))
def test_the_latest_care_status_wins(changes: list[tuple[date, CareStatus]]) -> None:
    """Whatever the order recorded, the status is the one with the latest date."""
    events: list[CaseEvent] = [request_received(date(2024, 1, 1), event_id="req")]
    for n, (day, status) in enumerate(changes):
        route = PermanenceRoute.ADOPTION if status is CareStatus.PREVIOUSLY_LOOKED_AFTER else None
        events.append(CareStatusRecorded(f"cs{n}", CASE, day, status, route=route))
    care = evaluate(events, date(2027, 1, 1)).care
    assert care is not None
    assert care.status is max(changes)[1]


def test_the_documented_example_explains_as_the_doc_shows() -> None:
    """docs/examples/case-sen-support-and-care.jsonl gives the lines docs/casework-events.md quotes."""
    from pathlib import Path

    from ehcp.casework.jsonl import parse_lines

    root = Path(__file__).parents[3]
    example = root / "docs" / "examples" / "case-sen-support-and-care.jsonl"
    text = render_text(evaluate(parse_lines(example.read_text().splitlines()), date(2026, 3, 20)))
    doc = (root / "docs" / "casework-events.md").read_text()
    quoted = [line for line in doc.splitlines()
              if line.startswith(("  Top-up", "  part MED-1-SALT", "  [WARNING] ADVICE_OVERDUE",
                                  "  previously looked after")) and "REQ-0002" not in line]
    assert len(quoted) == 5
    for line in quoted:
        assert line in text.splitlines()
