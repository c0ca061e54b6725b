"""The plan's later events through the JSON API: who may record which, with the same validation."""

from __future__ import annotations

from typing import Any

import pytest

from cli import demo
from ehcp.contract.avro import default_codec

from .test_education_api import Api, api  # noqa: F401 - the fixture, shared

EVENTS = f"/api/education/cases/{demo.DEMO_CASE}/events"


def body(event_type: str, /, **fields: Any) -> dict[str, Any]:
    """An event body of ``event_type`` for the demo case."""
    return {"type": event_type, "event_id": f"{event_type}-1", "case_id": demo.DEMO_CASE, **fields}


DECISION = body("ReviewDecisionMade", occurred_on="2026-10-05", outcome="MAINTAIN")
REPORT = body("ReviewReportSent", occurred_on="2026-10-05")
ORDER = body("TribunalOrderMade", order_id="ORD-1", occurred_on="2026-10-05", kind="AMEND_PLAN")
BUDGET = body("PersonalBudgetRefused", occurred_on="2026-10-05", reason="CANNOT_DISAGGREGATE")


@pytest.mark.parametrize("event", [DECISION, REPORT, ORDER, BUDGET], ids=lambda e: e["type"])
def test_the_la_records_the_plans_later_events(api: Api, event: dict[str, Any]) -> None:  # noqa: F811
    """An LA credential's event is 202, published with its v2 event type, and fits the schema."""
    r = api.post(EVENTS, "la", json=event)
    assert r.status_code == 202, r.text
    (published,) = api.publisher.events
    assert published.record["event_type"] == event["type"]
    default_codec().encode(published.schema_name, published.record)


def test_a_school_records_its_review_report_but_not_the_las_decision(api: Api) -> None:  # noqa: F811
    """Reg 20(7): the head teacher sends the report; the decision (reg 20(10)) is the LA's: 422 /type."""
    assert api.post(EVENTS, "school", json=REPORT).status_code == 202
    r = api.post(EVENTS, "school", json=DECISION)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "/type"
    assert len(api.publisher.events) == 1


@pytest.mark.parametrize(
    "event",
    [
        body("DecisionToAssessMade", occurred_on="2026-10-05"),
        body("FinalPlanIssued", occurred_on="2026-10-05"),
        body("PlanCeased", occurred_on="2026-10-05"),
        body("AmendedPlanIssued", occurred_on="2026-10-05"),
        body("TimescaleExceptionRecorded", exception_id="X-1", ground="REG_10_4_C",
             starts_on="2026-10-05"),
    ],
    ids=lambda e: e["type"],
)
def test_a_school_cannot_record_the_las_assessment_decisions_or_plans(
    api: Api, event: dict[str, Any]  # noqa: F811
) -> None:
    """A school's URN credential cannot decide to assess, issue or cease a plan or excuse the
    LA's limits (found in review: it could, on any case); the LA's own credential can."""
    r = api.post(EVENTS, "school", json=event)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "/type"
    assert "only the local authority" in r.json()["errors"][0]["message"]
    assert api.publisher.events == []
    assert api.post(EVENTS, "la", json=event).status_code == 202


def test_social_care_records_none_of_them(api: Api) -> None:  # noqa: F811
    """The social care route refuses the plan's later events (422 at /type)."""
    r = api.post(f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=DECISION)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "/type"


@pytest.mark.parametrize(
    ("event", "location"),
    [
        ({**DECISION, "outcome": "POSTPONE"}, "/outcome"),
        (body("PersonalBudgetAgreed", occurred_on="2026-10-05", covers_education=False,
              covers_health=False, covers_social_care=False), "/"),
        (body("TribunalOrderMade", order_id="O", occurred_on="2026-10-05",
              kind="NON_APPEALABLE_ACTION"), "/"),
        ({**ORDER, "order_id": "x" * 5000}, "/order_id"),
    ],
)
def test_bad_plan_events_are_422_at_the_field(
    api: Api, event: dict[str, Any], location: str  # noqa: F811
) -> None:
    """A bad enum, a budget covering nothing, a Tribunal-made reg 42(3) order or a huge id: 422."""
    r = api.post(EVENTS, "la", json=event)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == location
    assert api.publisher.events == []
