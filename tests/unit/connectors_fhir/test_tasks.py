"""Advice requests as FHIR Tasks: mapping, search, read and status updates."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.task import Task

from connectors.fhir.tasks import advice_request_to_task, task_id_for
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM

from .support import NOW, OTHER_NHS_NUMBER, Harness, advice_request, issue

REASONS = "https://ehcp-exchange.org/CodeSystem/advice-task-reason"


def task_update(status: str, task_id: str = "REQ-2025-0042", **extra: Any) -> dict[str, Any]:
    """A Task body a health body sends to change the status of a request."""
    return {"resourceType": "Task", "id": task_id, "status": status, "intent": "order", **extra}


def test_an_advice_request_maps_to_a_valid_r4_task() -> None:
    """The mapped Task is valid R4 with intent, for, owner, due date, identifier and regulation."""
    task = advice_request_to_task(advice_request())
    Task.model_validate(task)
    assert task["status"] == "requested"
    assert task["intent"] == "order"
    assert task["for"]["identifier"] == {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"}
    assert task["owner"]["identifier"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"}
    assert task["restriction"]["period"]["end"] == "2025-04-14"
    assert task["identifier"][0]["value"] == "REQ-2025-0042"
    assert task["groupIdentifier"]["value"] == "CASE-2025-0007"
    assert task["code"]["coding"][0]["code"] == "medical"
    assert "reg 6(1)(c)" in task["description"]
    assert "reg 8(1)" in task["description"]


def test_a_request_id_that_is_not_a_fhir_id_gets_a_stable_uuid() -> None:
    """Request ids with characters FHIR ids forbid map to the same UUIDv5 every time."""
    assert task_id_for("REQ-1") == "REQ-1"
    assert task_id_for("LA/2025/17") == task_id_for("LA/2025/17") != "LA/2025/17"
    assert len(task_id_for("x" * 65)) == 36


def test_task_search_sees_only_the_callers_own_tasks(harness: Harness) -> None:
    """RBZ's search returns its two Tasks and never RX1's."""
    harness.tasks.add(advice_request("REQ-1"))
    harness.tasks.add(advice_request("REQ-2", nhs_number=OTHER_NHS_NUMBER))
    harness.tasks.add(advice_request("REQ-3", owner="RX1"))
    response = harness.get("/fhir/Task", owner=f"{ODS_ORGANISATION_SYSTEM}|RBZ",
                           status="requested")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 2
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == ["REQ-1", "REQ-2"]
    bare = harness.get("/fhir/Task").json()
    assert bare["total"] == 2


def test_searching_another_organisations_tasks_is_403(harness: Harness) -> None:
    """owner=RX1 from an RBZ caller is forbidden."""
    harness.tasks.add(advice_request("REQ-3", owner="RX1"))
    response = harness.get("/fhir/Task", owner="RX1")
    assert response.status_code == 403


def test_the_status_filter_applies(harness: Harness) -> None:
    """status=completed finds no open requests."""
    harness.tasks.add(advice_request("REQ-1"))
    assert harness.get("/fhir/Task", status="completed").json()["total"] == 0
    assert harness.get("/fhir/Task", status="requested,accepted").json()["total"] == 1


def test_an_unsupported_search_parameter_is_400(harness: Harness) -> None:
    """Parameters the server does not support are refused rather than silently ignored."""
    response = harness.get("/fhir/Task", patient="Patient/1")
    assert response.status_code == 400
    assert issue(response)["code"] == "not-supported"


def test_reading_an_own_task_works_and_anothers_is_404(harness: Harness) -> None:
    """GET Task/{id} returns an owned Task, and 404 for RX1's or an unknown id."""
    harness.tasks.add(advice_request("REQ-1"))
    harness.tasks.add(advice_request("REQ-3", owner="RX1"))
    own = harness.get("/fhir/Task/REQ-1")
    assert own.status_code == 200
    assert own.json()["id"] == "REQ-1"
    Task.model_validate(own.json())
    for task_id in ("REQ-3", "REQ-404"):
        response = harness.get(f"/fhir/Task/{task_id}")
        assert response.status_code == 404
        assert issue(response)["code"] == "not-found"


def test_accepting_a_task_publishes_a_status_change(harness: Harness) -> None:
    """PUT with status accepted answers the updated Task and emits TaskStatusChanged."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["meta"]["versionId"] == "2"
    [event] = harness.task_events.events
    assert (event.request_id, event.case_id, event.status, event.owner_ods, event.at) == (
        "REQ-2025-0042", "CASE-2025-0007", "accepted", "RBZ", NOW)


def test_rejecting_needs_a_reason(harness: Harness) -> None:
    """A rejection without statusReason is 422 and changes nothing."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("rejected"))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Task.statusReason"]
    assert harness.task_events.events == []


def test_rejecting_with_a_reason_code_carries_it(harness: Harness) -> None:
    """statusReason wrong-recipient travels with the rejection."""
    harness.tasks.add(advice_request())
    body = task_update("rejected", statusReason={
        "coding": [{"system": REASONS, "code": "wrong-recipient"}], "text": "Not our patient"})
    response = harness.put("/fhir/Task/REQ-2025-0042", body)
    assert response.status_code == 200
    [event] = harness.task_events.events
    assert (event.status, event.reason_code, event.reason_text) == (
        "rejected", "wrong-recipient", "Not our patient")


def test_completing_with_a_reg_8_2_exception_carries_it(harness: Harness) -> None:
    """reg 8(2)(c) (missed appointment) is recorded with a late completion."""
    harness.tasks.add(advice_request())
    body = task_update("completed", statusReason={"coding": [{"system": REASONS,
                                                              "code": "reg-8-2-c"}]})
    response = harness.put("/fhir/Task/REQ-2025-0042", body)
    assert response.status_code == 200
    assert response.json()["statusReason"]["coding"][0]["code"] == "reg-8-2-c"
    assert harness.task_events.events[0].reason_code == "reg-8-2-c"


def test_a_reg_8_2_code_cannot_explain_a_rejection(harness: Harness) -> None:
    """reg 8(2) grounds excuse lateness; they are not reasons to decline."""
    harness.tasks.add(advice_request())
    body = task_update("rejected", statusReason={"coding": [{"system": REASONS,
                                                             "code": "reg-8-2-a"}]})
    response = harness.put("/fhir/Task/REQ-2025-0042", body)
    assert response.status_code == 422


def test_a_closed_task_cannot_change_again_but_a_repeat_is_harmless(harness: Harness) -> None:
    """After completion a repeat answers 200 with no new event and a new status is 409."""
    harness.tasks.add(advice_request())
    assert harness.put("/fhir/Task/REQ-2025-0042", task_update("completed")).status_code == 200
    assert harness.put("/fhir/Task/REQ-2025-0042", task_update("completed")).status_code == 200
    conflict = harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted"))
    assert conflict.status_code == 409
    assert len(harness.task_events.events) == 1


def test_task_events_unavailable_is_503_and_changes_nothing(harness: Harness) -> None:
    """If the status change cannot be made durable the Task keeps its status; a retry works."""
    harness.tasks.add(advice_request())
    harness.task_events.unavailable = True
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted"))
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert harness.tasks.get("REQ-2025-0042").status == "requested"  # type: ignore[union-attr]
    harness.task_events.unavailable = False
    assert harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted")).status_code == 200
    assert len(harness.task_events.events) == 1


def test_another_organisation_cannot_update_a_task(harness: Harness) -> None:
    """RX1 gets 404 for RBZ's Task: existence is not revealed."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted"),
                           token=harness.rx1_token)
    assert response.status_code == 404
    assert harness.task_events.events == []


def test_a_bogus_task_status_is_400(harness: Harness) -> None:
    """A code outside the task-status value set is a 400 code-invalid."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("done"))
    assert response.status_code == 400
    assert issue(response)["code"] == "code-invalid"


def test_a_task_id_differing_from_the_url_is_400(harness: Harness) -> None:
    """The body's Task.id must match the URL, as the FHIR update interaction requires."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", task_update("accepted", task_id="REQ-9"))
    assert response.status_code == 400
    assert issue(response)["expression"] == ["Task.id"]


def patch(harness: Harness, task_id: str, ops: Any, token: str | None = None,
          content_type: str = "application/json-patch+json") -> Any:
    """PATCH a Task with a JSON Patch body."""
    headers = {**harness.headers(token), "Content-Type": content_type}
    return harness.client.patch(f"/fhir/Task/{task_id}", content=json.dumps(ops).encode(),
                                headers=headers)


def test_a_json_patch_rejects_a_task_with_a_reason(harness: Harness) -> None:
    """PATCH replace /status plus add /statusReason works like the equivalent PUT."""
    harness.tasks.add(advice_request())
    response = patch(harness, "REQ-2025-0042", [
        {"op": "test", "path": "/status", "value": "requested"},
        {"op": "replace", "path": "/status", "value": "rejected"},
        {"op": "add", "path": "/statusReason",
         "value": {"coding": [{"system": REASONS, "code": "wrong-recipient"}]}},
    ])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["meta"]["versionId"] == "2"
    [event] = harness.task_events.events
    assert (event.status, event.reason_code) == ("rejected", "wrong-recipient")


def test_a_patch_goes_through_the_same_checks_as_put(harness: Harness) -> None:
    """Rejecting without a reason is 422 by PATCH too, and nothing is published."""
    harness.tasks.add(advice_request())
    response = patch(harness, "REQ-2025-0042", [{"op": "replace", "path": "/status",
                                                 "value": "rejected"}])
    assert response.status_code == 422
    assert harness.task_events.events == []


def test_a_patch_may_change_only_the_status(harness: Harness) -> None:
    """Any other path is 422 naming the operation; nothing changes."""
    harness.tasks.add(advice_request())
    response = patch(harness, "REQ-2025-0042", [
        {"op": "replace", "path": "/status", "value": "accepted"},
        {"op": "replace", "path": "/restriction/period/end", "value": "2030-01-01"},
    ])
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Patch[1].path"]
    assert harness.task_events.events == []


def test_a_failed_test_operation_is_422_and_changes_nothing(harness: Harness) -> None:
    """A client's precondition that does not hold stops the patch."""
    harness.tasks.add(advice_request())
    response = patch(harness, "REQ-2025-0042", [
        {"op": "test", "path": "/status", "value": "accepted"},
        {"op": "replace", "path": "/status", "value": "completed"},
    ])
    assert response.status_code == 422
    assert harness.task_events.events == []


def test_bad_patches_are_400_or_415(harness: Harness) -> None:
    """Not an array, an unknown op, or the wrong media type."""
    harness.tasks.add(advice_request())
    assert patch(harness, "REQ-2025-0042", {"op": "replace"}).status_code == 400
    assert patch(harness, "REQ-2025-0042", [{"op": "frobnicate", "path": "/status"}]
                 ).status_code == 400
    wrong_type = patch(harness, "REQ-2025-0042", [{"op": "replace", "path": "/status",
                                                   "value": "accepted"}],
                       content_type="application/fhir+json")
    assert wrong_type.status_code == 415
    assert harness.task_events.events == []


def test_patching_another_organisations_task_is_404(harness: Harness) -> None:
    """RX1 cannot see RBZ's Task, so it cannot patch it either."""
    harness.tasks.add(advice_request())
    response = patch(harness, "REQ-2025-0042", [{"op": "replace", "path": "/status",
                                                 "value": "accepted"}],
                     token=harness.rx1_token)
    assert response.status_code == 404
    assert harness.task_events.events == []
