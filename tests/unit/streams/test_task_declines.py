"""A health body's declined Task reaches the case as DECLINED with its coded reason (issue #13, 16)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cli.case_cmd import render_status
from ehcp.contract.avro import default_codec
from ehcp.contract.records import CASE_STATUS as CASE_STATUS_RECORD
from ehcp.contract.records import CASEWORK_EVENT_RECORDED, TASK_STATUS_CHANGED
from ehcp.contract.topics import CASE_STATUS
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from streams.stages.case_mapping import to_casework_event
from streams.stages.cases import CaseOutcome, CaseProcessor

from .test_case_processor import CASE, KEY, opened

REASON_TEXT = "Already referred by GP for the same child, Jane Example"


def rejection(request_id: str, code: str | None, text: str | None = None) -> dict[str, Any]:
    """A TaskStatusChanged record: the health body rejected the request with this reason."""
    return {
        "event_id": f"T-{code}",
        "request_id": request_id,
        "case_id": CASE,
        "status": "REJECTED",
        "reason_code": code,
        "reason_text": text,
        "owner": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
        "changed_at": datetime(2026, 9, 14, 10, tzinfo=UTC),
        "output_document_id": None,
    }


def decision_to_assess() -> dict[str, Any]:
    """The LA's decision to assess, recorded on 5 October, so reg 6 requirements apply."""
    event = {"type": "DecisionToAssessMade", "event_id": "D-1", "case_id": CASE,
             "occurred_on": "2026-10-05"}
    return {
        "event_id": "D-1", "case_id": CASE, "event_type": "DecisionToAssessMade",
        "occurred_on": date(2026, 10, 5),
        "recorded_by": {"system": LA_CODE_SYSTEM, "value": "999"},
        "event_json": json.dumps(event),
    }


def status_of(outcome: CaseOutcome) -> dict[str, Any]:
    """The CaseStatus record the outcome emits."""
    record: dict[str, Any] = next(r for t, _, r, _ in outcome.outputs if t == CASE_STATUS)
    return record


@pytest.fixture
def processor() -> CaseProcessor:
    """The case stage with the default policy."""
    return CaseProcessor.default(KEY)


@pytest.mark.parametrize(("code", "reason"), [
    ("duplicate-request", "DUPLICATE_REQUEST"),
    ("wrong-recipient", "WRONG_SERVICE"),
    ("other", "OTHER"),
])
def test_a_task_rejection_maps_to_a_decline_with_its_coded_reason(code: str, reason: str) -> None:
    """Each advice-task-reason rejection code becomes its own DeclineReason, without free text."""
    event = to_casework_event(TASK_STATUS_CHANGED, rejection("R-1", code, REASON_TEXT))
    assert type(event).__name__ == "AdviceRequestDeclined"
    assert event.reason.name == reason  # type: ignore[union-attr]
    assert "Jane" not in repr(event)


def test_a_declined_request_shows_declined_with_its_reason_in_the_case_status(
    processor: CaseProcessor,
) -> None:
    """The request's item is DECLINED with decline_reason DUPLICATE_REQUEST; text never copied."""
    state, _, request = opened(processor)
    outcome = processor.on_event(state, CASE, TASK_STATUS_CHANGED,
                                 rejection(request["request_id"], "duplicate-request", REASON_TEXT))
    status = status_of(outcome)
    [item] = [a for a in status["advice"] if a["request_id"] == request["request_id"]]
    assert (item["status"], item["decline_reason"]) == ("DECLINED", "DUPLICATE_REQUEST")
    encoded = default_codec().encode(CASE_STATUS_RECORD, status)
    assert b"Jane" not in encoded
    assert b"Jane" not in json.dumps(outcome.state, default=str).encode()


def test_a_declined_required_advice_is_still_missing_but_the_request_is_not(
    processor: CaseProcessor,
) -> None:
    """After the decision, medical advice (reg 6(1)(c)) is still NOT_REQUESTED; the decline is apart."""
    state, _, request = opened(processor)
    state = processor.on_event(state, CASE, TASK_STATUS_CHANGED,
                               rejection(request["request_id"], "duplicate-request")).state
    status = status_of(processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED,
                                          decision_to_assess()))
    medical = [a for a in status["advice"] if a["advice_type"] == "MEDICAL"]
    assert sorted(a["status"] for a in medical) == ["DECLINED", "NOT_REQUESTED"]
    shown = render_status(status)
    assert "declined: DUPLICATE_REQUEST" in shown
    received = sum(a["status"] in ("RECEIVED", "REUSED") for a in status["advice"])
    still_missing = len(status["advice"]) - received - 1  # every item but the declined request
    assert f"{received} received, 1 declined, {still_missing} still missing" in shown


def test_case_show_without_declines_keeps_its_summary_line() -> None:
    """A case with nothing declined prints the same summary as before (no declined count)."""
    status = {
        "case_id": CASE, "stage": "ASSESSING", "received_on": date(2026, 9, 7),
        "final_plan_due_on": date(2027, 1, 25), "as_of": date(2026, 10, 5), "open_alerts": 0,
        "advice": [
            {"advice_type": "MEDICAL", "regulation": "reg 6(1)(c)", "status": "RECEIVED",
             "request_id": "R-1", "agency": None, "due_on": None, "contribution_ids": [],
             "decline_reason": None},
            {"advice_type": "EDUCATIONAL", "regulation": "reg 6(1)(b)", "status": "REQUESTED",
             "request_id": "R-2", "agency": None, "due_on": None, "contribution_ids": [],
             "decline_reason": None},
        ],
    }
    assert render_status(status).endswith("1 received, 1 still missing")


def test_requests_sent_at_referral_name_the_la_as_requester(processor: CaseProcessor) -> None:
    """The case stage's AdviceRequested names the referral's LA (la-code) for Task.requester."""
    _, _, request = opened(processor)
    assert request["requester"] == {"system": LA_CODE_SYSTEM, "value": "999"}
    default_codec().encode("org.ehcpexchange.events.AdviceRequested", request)
