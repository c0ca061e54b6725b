"""A declined request reaches the case as DECLINED with its coded reason (issue #13, 16; #15 item 5),
and only the body asked may change a request's status."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cli.case_cmd import render_status
from ehcp.contract.avro import default_codec
from ehcp.contract.records import (
    ADVICE_REQUESTED,
    CASEWORK_EVENT_RECORDED,
    TASK_STATUS_CHANGED,
    RefusedError,
    advice_requested,
)
from ehcp.contract.records import CASE_STATUS as CASE_STATUS_RECORD
from ehcp.contract.topics import ALERTS, CASE_STATUS
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


@pytest.mark.parametrize("reason", ["NOT_KNOWN_TO_SERVICE", "WRONG_SERVICE", "INCOMPLETE_REQUEST",
                                    "MISSED_APPOINTMENT", "DUPLICATE_REQUEST", "OTHER"])
def test_a_json_decline_carries_its_decline_reason_code_into_the_case(reason: str) -> None:
    """The JSON APIs decline with DeclineReason codes; each maps to itself."""
    event = to_casework_event(TASK_STATUS_CHANGED, rejection("R-1", reason, REASON_TEXT))
    assert type(event).__name__ == "AdviceRequestDeclined"
    assert event.reason.name == reason  # type: ignore[union-attr]


def test_an_unknown_reason_code_is_other() -> None:
    """A code that is neither a FHIR advice-task-reason nor a DeclineReason reads OTHER."""
    event = to_casework_event(TASK_STATUS_CHANGED, rejection("R-1", "BORED"))
    assert event.reason.name == "OTHER"  # type: ignore[union-attr]


def test_a_status_change_by_another_body_than_the_one_asked_is_refused_with_an_alert(
    processor: CaseProcessor,
) -> None:
    """ZZ902 declining ZZ901's request: RefusedError (dead-lettered) carrying a CRITICAL alert."""
    state, _, request = opened(processor)
    assert request["agency"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"}
    forged = {**rejection(request["request_id"], "duplicate-request"),
              "owner": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"}}
    with pytest.raises(RefusedError, match=r"sent to .*ZZ901.*changed by .*ZZ902") as refused:
        processor.on_event(state, CASE, TASK_STATUS_CHANGED, forged)
    ((topic, key, alert, _),) = refused.value.emits
    assert (topic, key) == (ALERTS, CASE)
    assert (alert["severity"], alert["status"]) == ("CRITICAL", "RAISED")
    assert alert["agency"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"}
    assert alert["advice_type"] == "MEDICAL"
    default_codec().encode("org.ehcpexchange.events.Alert", alert)
    # Another LA's code, or the right code under another system, is refused the same way.
    for owner in ({"system": LA_CODE_SYSTEM, "value": "ZZ901"},
                  {"system": LA_CODE_SYSTEM, "value": "886"}):
        with pytest.raises(RefusedError):
            processor.on_event(state, CASE, TASK_STATUS_CHANGED, {**forged, "owner": owner})


def test_the_body_asked_may_change_the_status_whatever_the_case_of_its_code(
    processor: CaseProcessor,
) -> None:
    """ODS codes compare case-insensitively: zz901 is ZZ901."""
    state, _, request = opened(processor)
    change = {**rejection(request["request_id"], "duplicate-request"),
              "owner": {"system": ODS_ORGANISATION_SYSTEM, "value": "zz901"}}
    outcome = processor.on_event(state, CASE, TASK_STATUS_CHANGED, change)
    [item] = [a for a in status_of(outcome)["advice"] if a["request_id"] == request["request_id"]]
    assert item["status"] == "DECLINED"


def test_a_social_care_decline_by_the_la_asked_is_applied_and_by_another_la_refused(
    processor: CaseProcessor,
) -> None:
    """A request to LA 999's social care: LA 999 may decline it; LA 886 may not."""
    state, _, _ = opened(processor)
    request = advice_requested(
        event_id="SC-REQ-EVT", request_id="REQ-SC-1", case_id=CASE, advice_type="SOCIAL_CARE",
        agency={"system": LA_CODE_SYSTEM, "value": "999"}, child_identifiers=[],
        sent_on=date(2026, 9, 8), requester={"system": LA_CODE_SYSTEM, "value": "999"})
    state = processor.on_event(state, CASE, ADVICE_REQUESTED, request).state
    decline = {**rejection("REQ-SC-1", "NOT_KNOWN_TO_SERVICE"),
               "owner": {"system": LA_CODE_SYSTEM, "value": "886"}}
    with pytest.raises(RefusedError, match="886"):
        processor.on_event(state, CASE, TASK_STATUS_CHANGED, decline)
    outcome = processor.on_event(state, CASE, TASK_STATUS_CHANGED,
                                 {**decline, "owner": {"system": LA_CODE_SYSTEM, "value": "999"}})
    [item] = [a for a in status_of(outcome)["advice"] if a["request_id"] == "REQ-SC-1"]
    assert (item["status"], item["decline_reason"]) == ("DECLINED", "NOT_KNOWN_TO_SERVICE")
