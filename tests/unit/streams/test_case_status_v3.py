"""CaseStatus v3 carries every statutory date the engine works out, the decision and final plan
dates and the SEN2 "20-week exceptions apply" flag (issue #9)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ehcp.contract.avro import default_codec
from ehcp.contract.records import CASE_STATUS as CASE_STATUS_RECORD
from ehcp.contract.records import CASEWORK_EVENT_RECORDED
from ehcp.contract.topics import CASE_STATUS
from streams.stages.cases import CaseOutcome, CaseProcessor

from .test_case_processor import CASE, KEY, opened


def casework(event_type: str, event_id: str, occurred_on: date, **fields: Any) -> dict[str, Any]:
    """A CaseworkEventRecorded from the LA."""
    event = {"type": event_type, "event_id": event_id, "case_id": CASE,
             "occurred_on": occurred_on.isoformat(), **fields}
    return {
        "event_id": event_id, "case_id": CASE, "event_type": event_type,
        "occurred_on": occurred_on,
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "999"},
        "event_json": json.dumps(event),
    }


def status_of(outcome: CaseOutcome) -> dict[str, Any]:
    """The CaseStatus record an outcome emits."""
    record: dict[str, Any] = next(r for t, _, r, _ in outcome.outputs if t == CASE_STATUS)
    return record


@pytest.fixture
def processor() -> CaseProcessor:
    """The case stage with the default policy."""
    return CaseProcessor.default(KEY)


def test_a_late_plan_with_an_exception_carries_every_date_and_the_sen2_flag(
        processor: CaseProcessor) -> None:
    """Decision on time, an exception, the final plan after 20 weeks: all of it is in the status."""
    state, _, _ = opened(processor)
    for event in (
        casework("DecisionToAssessMade", "D-1", date(2026, 10, 5)),
        casework("TimescaleExceptionRecorded", "X-1", date(2026, 12, 1), exception_id="X-1",
                 ground="REG_10_4_C", starts_on="2026-12-01", ends_on="2026-12-31"),
        casework("DraftPlanIssued", "P-1", date(2027, 1, 15)),
    ):
        state = processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED, event).state
    outcome = processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED,
                                 casework("FinalPlanIssued", "P-2", date(2027, 2, 10)))
    status = status_of(outcome)
    dates = {d["name"]: d for d in status["statutory_dates"]}
    assert dates["decision_to_assess_due"]["status"] == "MET"
    assert dates["decision_to_assess_due"]["completed_on"] == date(2026, 10, 5)
    assert dates["decision_to_assess_due"]["regulation"].startswith("reg 5(1)")
    final = dates["final_plan_due"]
    assert (final["due_on"], final["status"], final["completed_on"]) == (
        date(2027, 1, 25), "MISSED", date(2027, 2, 10))
    assert final["excused"] is True
    assert final["exception_ids"] == ["X-1"]
    assert "annual_review_due" in dates  # limits the plan starts are carried too
    assert status["received_on"] == date(2026, 9, 7)
    assert status["decided_to_assess_on"] == date(2026, 10, 5)
    assert status["final_plan_issued_on"] == date(2027, 2, 10)
    assert status["exceptions_apply"] is True
    assessment = processor.assess(outcome.state)
    assert assessment is not None
    assert [d["name"] for d in status["statutory_dates"]] == [
        d.name for d in assessment.statutory_dates]


def test_a_refusal_is_not_a_decision_to_assess(processor: CaseProcessor) -> None:
    """A refusal completes the 6-week limit, but decided_to_assess_on stays empty."""
    state, _, _ = opened(processor)
    outcome = processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED,
                                 casework("AssessmentRefused", "R-1", date(2026, 10, 1)))
    status = status_of(outcome)
    assert status["stage"] == "ASSESSMENT_REFUSED"
    dates = {d["name"]: d for d in status["statutory_dates"]}
    assert dates["decision_to_assess_due"]["completed_on"] == date(2026, 10, 1)
    assert status["decided_to_assess_on"] is None
    assert status["final_plan_issued_on"] is None
    assert status["exceptions_apply"] is False


def test_the_status_encodes_as_v3_and_round_trips(processor: CaseProcessor) -> None:
    """The worker's record is written with the newest CaseStatus schema and reads back equal."""
    _, outcome, _ = opened(processor)
    status = status_of(outcome)
    codec = default_codec()
    data = codec.encode(CASE_STATUS_RECORD, status)
    assert data[2:10] == codec.registry.latest(CASE_STATUS_RECORD).fingerprint
    _name, decoded = codec.decode(data, expected=CASE_STATUS_RECORD)
    assert decoded["statutory_dates"] == status["statutory_dates"]
    assert decoded["statutory_dates"], "a referred case has at least its decision date"


def test_case_show_prints_every_statutory_date(processor: CaseProcessor) -> None:
    """``ehcp case show`` lists the v3 dates with status, done date and regulation."""
    from cli.case_cmd import render_status

    state, _, _ = opened(processor)
    outcome = processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED,
                                 casework("DecisionToAssessMade", "D-1", date(2026, 10, 5)))
    text = render_status(status_of(outcome))
    line = next(x for x in text.splitlines() if "decision_to_assess_due" in x)
    assert "MET" in line
    assert "done 2026-10-05" in line
    assert "reg 5(1)" in line
    assert "decided to assess: 2026-10-05" in text
