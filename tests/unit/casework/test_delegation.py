"""Health advice delegated by the ICB's DCO: who holds the request up (worked cases)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from ehcp.casework.delegation import PartStatus
from ehcp.casework.engine import evaluate
from ehcp.casework.events import (
    AdviceDelegated,
    AdviceRequestDeclined,
    AdviceRequested,
    AdviceSubmitted,
    AdviceType,
    CaseEvent,
    DecisionToAssessMade,
    DeclineReason,
    HealthService,
)
from ehcp.casework.explain import render_text, to_json
from ehcp.casework.model import AdviceStatus, AlertKind

from .builders import CASE, request_received

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
ICB, PAEDS, SALT = f"{ODS}|QWE", f"{ODS}|RXA01", f"{ODS}|RXB02"

# Request on 6 Jan 2025, decision 3 Feb; the ICB gets the medical request on 5 Feb, so its
# advice is due 19 March (reg 8(1): 6 weeks). The DCO delegates paediatrics and SALT on 7 Feb,
# each due back 12 March so the DCO has a week to collate.
BASE: list[CaseEvent] = [
    request_received(date(2025, 1, 6), event_id="req"),
    DecisionToAssessMade("dta", CASE, date(2025, 2, 3)),
    AdviceRequested("ar", CASE, "MED-1", AdviceType.MEDICAL, ICB, date(2025, 2, 5)),
    AdviceDelegated("p1", CASE, "MED-1-PAEDS", "MED-1", PAEDS,
                    HealthService.COMMUNITY_PAEDIATRICS, date(2025, 2, 7), date(2025, 3, 12)),
    AdviceDelegated("p2", CASE, "MED-1-SALT", "MED-1", SALT,
                    HealthService.SPEECH_AND_LANGUAGE_THERAPY, date(2025, 2, 7),
                    date(2025, 3, 12)),
    AdviceSubmitted("s1", CASE, "C-PAEDS", AdviceType.MEDICAL, date(2025, 3, 10),
                    request_id="MED-1-PAEDS", agency_id=PAEDS),
]


def _medical(events: list[CaseEvent], as_of: date):  # type: ignore[no-untyped-def]
    assessment = evaluate(events, as_of)
    (item,) = [a for a in assessment.advice if a.request_id == "MED-1"]
    return assessment, item


def test_a_part_answered_does_not_answer_the_icb_request() -> None:
    """The paediatrician's part is done; the ICB's request is still REQUESTED."""
    assessment, item = _medical(BASE, date(2025, 3, 11))
    assert item.status is AdviceStatus.REQUESTED
    parts = {p.part_id: p.status for p in assessment.delegations}
    assert parts == {"MED-1-PAEDS": PartStatus.DONE, "MED-1-SALT": PartStatus.OPEN}
    assert not [a for a in assessment.alerts if a.subject.startswith("part:")]


def test_the_late_part_names_its_provider() -> None:
    """On 13 March the SALT part is a day late: an alert with SALT's ODS code as its agency."""
    assessment, _ = _medical(BASE, date(2025, 3, 13))
    (late,) = [a for a in assessment.alerts if a.subject == "part:MED-1-SALT"]
    assert late.kind is AlertKind.ADVICE_OVERDUE
    assert late.agency_id == SALT
    assert late.advice_type is AdviceType.MEDICAL
    assert late.days_overdue == 1
    assert "RXB02" in late.message
    assert "speech and language therapy" in late.message


def test_the_icb_overdue_alert_names_who_holds_it_up() -> None:
    """On 20 March the ICB's advice is a day overdue and its alert says SALT is still out."""
    assessment, item = _medical(BASE, date(2025, 3, 20))
    assert item.status is AdviceStatus.OVERDUE
    (icb,) = [a for a in assessment.alerts if a.subject == item.subject
              and a.kind is AlertKind.ADVICE_OVERDUE]
    assert icb.agency_id == ICB
    assert "Waiting for: speech and language therapy at RXB02 (part MED-1-SALT, due 2025-03-12)" \
        in icb.message
    assert "RXA01" not in icb.message


def test_the_collated_advice_completes_the_request_and_silences_the_parts() -> None:
    """The DCO's collated advice names MED-1: the request is RECEIVED; no part alert remains."""
    events = [*BASE, AdviceSubmitted("s9", CASE, "C-ICB", AdviceType.MEDICAL, date(2025, 3, 14),
                                     request_id="MED-1", agency_id=ICB)]
    assessment, item = _medical(events, date(2025, 3, 20))
    assert item.status is AdviceStatus.RECEIVED
    assert not [a for a in assessment.alerts if a.kind is AlertKind.ADVICE_OVERDUE]


def test_a_declined_part_holds_nothing_up() -> None:
    """SALT declines its part: not named as holding up; the parent still waits."""
    events = [*BASE, AdviceRequestDeclined("d", CASE, "MED-1-SALT", date(2025, 3, 1),
                                           DeclineReason.WRONG_SERVICE)]
    assessment, item = _medical(events, date(2025, 3, 20))
    assert {p.part_id: p.status for p in assessment.delegations}["MED-1-SALT"] \
        is PartStatus.DECLINED
    (icb,) = [a for a in assessment.alerts if a.subject == item.subject]
    assert "Waiting for" not in icb.message
    # A declined part is not the ICB's decline: the medical request is still open.
    assert item.status is AdviceStatus.OVERDUE


def test_explain_lists_the_parts() -> None:
    """Text and JSON show each part with its provider and status."""
    assessment = evaluate(BASE, date(2025, 3, 13))
    assert "Health advice delegated by the DCO:" in render_text(assessment)
    parts = to_json(assessment)["delegations"]
    assert [(p["part_id"], p["status"]) for p in parts] == [
        ("MED-1-PAEDS", "DONE"), ("MED-1-SALT", "OPEN")]


def test_the_alerts_change_the_day_after_a_part_falls_due() -> None:
    """The next change after 11 March is 13 March (SALT's part late), not later."""
    assessment = evaluate(BASE, date(2025, 3, 11))
    assert assessment.next_change_on == date(2025, 3, 13)


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2025, 2, 7), max_value=date(2025, 6, 30)))
def test_a_part_alert_exactly_when_late_and_the_parent_open(as_of: date) -> None:
    """A part alert is raised exactly on the days after its due date while MED-1 is unanswered."""
    assessment, item = _medical(BASE, as_of)
    raised = any(a.subject == "part:MED-1-SALT" for a in assessment.alerts)
    assert raised == (as_of > date(2025, 3, 12) and item.status in (
        AdviceStatus.REQUESTED, AdviceStatus.OVERDUE))


def test_a_part_delegated_after_the_icb_is_late_holds_it_up_at_once() -> None:
    """Delegated on 25 March, after MED-1 fell due on 19 March: the part alert fires that day."""
    events = [
        *BASE[:3],
        AdviceDelegated("p3", CASE, "MED-1-OT", "MED-1", PAEDS,
                        HealthService.OCCUPATIONAL_THERAPY, date(2025, 3, 25), date(2025, 3, 25)),
    ]
    assessment, _ = _medical(events, date(2025, 3, 25))
    (late,) = [a for a in assessment.alerts if a.subject == "part:MED-1-OT"]
    assert late.due_on == date(2025, 3, 19)
    assert late.days_overdue == 6
    assert late.agency_id == PAEDS
