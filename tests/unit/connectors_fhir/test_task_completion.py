"""Advice completes its Task with Task.output, and Tasks name the requesting LA (issue #13, 17)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.task import Task

from connectors.fhir.tasks import advice_request_to_task
from connectors.task_feed import TaskFeed, task_status_record
from ehcp.contract.avro import default_codec
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

from .support import Harness, advice_document, advice_request, issue

TASK = "/fhir/Task/REQ-2025-0042"
ADVICE_REQUEST_SYSTEM = "https://ehcp-exchange.org/Id/advice-request"


def answering(**related: Any) -> dict[str, Any]:
    """Advice whose context.related names Task REQ-2025-0042 (or what ``related`` says)."""
    return advice_document(context={"related": [related or {"reference": "Task/REQ-2025-0042"}]})


def completed(task_id: str = "REQ-2025-0042", **extra: Any) -> dict[str, Any]:
    """A Task body completing the request."""
    return {"resourceType": "Task", "id": task_id, "status": "completed", "intent": "order",
            **extra}


def output_to(document_id: str) -> list[dict[str, Any]]:
    """A Task.output naming a DocumentReference."""
    return [{"type": {"text": "Advice"},
             "valueReference": {"reference": f"DocumentReference/{document_id}"}}]


def test_posting_advice_for_a_task_completes_it_with_output(harness: Harness) -> None:
    """201 for advice naming Task/<id>: the trust then reads the Task completed, output -> the advice."""
    harness.tasks.add(advice_request())
    created = harness.post("/fhir/DocumentReference", answering())
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    task = harness.get(TASK).json()
    Task.model_validate(task)
    assert task["status"] == "completed"
    assert [o["valueReference"]["reference"] for o in task["output"]] == [
        f"DocumentReference/{document_id}"]
    [event] = harness.task_events.events
    assert (event.request_id, event.status, event.output_document_id) == (
        "REQ-2025-0042", "completed", document_id)
    searched = harness.get("/fhir/Task", status="completed").json()
    assert [e["resource"]["id"] for e in searched["entry"]] == ["REQ-2025-0042"]


def test_advice_naming_the_request_identifier_completes_the_task(harness: Harness) -> None:
    """context.related by advice-request identifier completes that request's Task too."""
    harness.tasks.add(advice_request())
    document = answering(identifier={"system": ADVICE_REQUEST_SYSTEM, "value": "REQ-2025-0042"})
    assert harness.post("/fhir/DocumentReference", document).status_code == 201
    assert harness.get(TASK).json()["status"] == "completed"


def test_a_retried_submission_completes_the_task_once(harness: Harness) -> None:
    """The same advice sent again answers 200 and publishes no second Task event."""
    harness.tasks.add(advice_request())
    first = harness.post("/fhir/DocumentReference", answering())
    again = harness.post("/fhir/DocumentReference", answering())
    assert (first.status_code, again.status_code) == (201, 200)
    assert len(harness.task_events.events) == 1
    assert harness.get(TASK).json()["meta"]["versionId"] == "2"


def test_a_lost_task_event_is_503_and_the_retry_completes_the_task(harness: Harness) -> None:
    """Advice is published but the Task event fails: 503; the retry gets 200 and completes the Task."""
    harness.tasks.add(advice_request())
    harness.task_events.unavailable = True
    failed = harness.post("/fhir/DocumentReference", answering())
    assert failed.status_code == 503
    assert len(harness.publisher.events) == 1  # the advice itself is durable
    assert harness.get(TASK).json()["status"] == "requested"
    harness.task_events.unavailable = False
    retried = harness.post("/fhir/DocumentReference", answering())
    assert retried.status_code == 200
    assert len(harness.publisher.events) == 1
    task = harness.get(TASK).json()
    assert task["status"] == "completed"
    assert task["output"][0]["valueReference"]["reference"] == (
        f"DocumentReference/{retried.json()['id']}")


def test_advice_for_a_rejected_task_leaves_it_rejected(harness: Harness) -> None:
    """A rejected Task cannot become completed; the advice is still accepted."""
    harness.tasks.add(advice_request())
    body = completed(status="rejected", statusReason={"text": "Not known to us"})
    assert harness.put(TASK, body).status_code == 200
    assert harness.post("/fhir/DocumentReference", answering()).status_code == 201
    assert harness.get(TASK).json()["status"] == "rejected"
    assert [e.status for e in harness.task_events.events] == ["rejected"]


def test_completing_by_put_with_output_keeps_the_link(harness: Harness) -> None:
    """Advice sent without naming the Task, then PUT completed with output: the link is kept."""
    harness.tasks.add(advice_request())
    created = harness.post("/fhir/DocumentReference", advice_document())  # no context.related
    assert created.status_code == 201, created.text
    assert harness.get(TASK).json()["status"] == "requested"
    document_id = created.json()["id"]
    response = harness.put(TASK, completed(output=output_to(document_id)))
    assert response.status_code == 200, response.text
    expected = [f"DocumentReference/{document_id}"]
    assert [o["valueReference"]["reference"] for o in response.json()["output"]] == expected
    assert [o["valueReference"]["reference"]
            for o in harness.get(TASK).json()["output"]] == expected
    [event] = harness.task_events.events
    assert event.output_document_id == document_id


def test_completing_by_patch_with_output_keeps_the_link(harness: Harness) -> None:
    """A JSON Patch adding /status completed and /output keeps the output like a PUT."""
    harness.tasks.add(advice_request())
    document_id = harness.post("/fhir/DocumentReference", advice_document()).json()["id"]
    patch = [{"op": "replace", "path": "/status", "value": "completed"},
             {"op": "add", "path": "/output", "value": output_to(document_id)}]
    response = harness.client.patch(TASK, json=patch, headers=harness.headers(
        **{"Content-Type": "application/json-patch+json"}))
    assert response.status_code == 200, response.text
    assert response.json()["output"][0]["valueReference"]["reference"] == (
        f"DocumentReference/{document_id}")


def test_an_output_naming_advice_the_caller_did_not_submit_is_422(harness: Harness) -> None:
    """Output must name a DocumentReference this organisation submitted; nothing changes."""
    harness.tasks.add(advice_request())
    response = harness.put(TASK, completed(output=output_to("not-submitted")))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Task.output[0].valueReference.reference"]
    assert harness.task_events.events == []


def test_an_output_on_a_task_that_is_not_completed_is_422(harness: Harness) -> None:
    """Only a completed Task has an output."""
    harness.tasks.add(advice_request())
    document_id = harness.post("/fhir/DocumentReference", advice_document()).json()["id"]
    response = harness.put(TASK, completed(status="accepted", output=output_to(document_id)))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Task.output"]


def test_a_completed_task_cannot_be_relinked_to_other_advice(harness: Harness) -> None:
    """PUT completed naming other advice on a Task completed by advice is 409; a repeat is 200."""
    harness.tasks.add(advice_request())
    first = harness.post("/fhir/DocumentReference", answering()).json()["id"]
    other = harness.post("/fhir/DocumentReference", advice_document(
        masterIdentifier={"system": "https://rbz.nhs.example/Id/advice",
                          "value": "ADV-2025-000118"})).json()["id"]
    assert harness.put(TASK, completed(output=output_to(other))).status_code == 409
    assert harness.put(TASK, completed(output=output_to(first))).status_code == 200
    assert harness.put(TASK, completed()).status_code == 200
    assert harness.get(TASK).json()["output"][0]["valueReference"]["reference"] == (
        f"DocumentReference/{first}")


def test_a_transaction_completes_the_task_with_output_to_its_advice(harness: Harness) -> None:
    """The transaction's Task answer names the DocumentReference created in the same Bundle."""
    harness.tasks.add(advice_request())
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": answering(), "request": {"method": "POST", "url": "DocumentReference"}},
        {"resource": completed(), "request": {"method": "PUT", "url": "Task/REQ-2025-0042"}},
    ]}
    response = harness.post("/fhir", bundle)
    assert response.status_code == 200, response.text
    document, task = (e["resource"] for e in response.json()["entry"])
    assert task["output"][0]["valueReference"]["reference"] == (
        f"DocumentReference/{document['id']}")
    [event] = harness.task_events.events
    assert event.output_document_id == document["id"]


def test_a_task_names_the_requesting_la_and_no_invented_contact() -> None:
    """Task.requester is the LA by la-code identifier; a request without one has no requester."""
    request = {**advice_request(), "requester": {"system": LA_CODE_SYSTEM, "value": "999"}}
    task = advice_request_to_task(request)
    Task.model_validate(task)
    assert task["requester"] == {"type": "Organization",
                                 "identifier": {"system": LA_CODE_SYSTEM, "value": "999"}}
    assert "contact" not in str(task["requester"])
    assert "requester" not in advice_request_to_task(advice_request())


def test_the_task_feed_keeps_the_output_after_a_restart() -> None:
    """A restarted connector rebuilds the completed Task and its output from the two topics."""
    from datetime import UTC, datetime

    from connectors.fhir.events import TaskStatusChanged
    from connectors.fhir.ports import InMemoryTaskStore

    codec = default_codec()
    record = task_status_record(TaskStatusChanged(
        request_id="REQ-2025-0042", case_id="CASE-2025-0007", status="completed",
        reason_code=None, reason_text=None, owner_ods="RBZ",
        at=datetime(2025, 3, 7, 9, tzinfo=UTC), output_document_id="doc-1"))
    _, decoded = codec.decode(codec.encode("org.ehcpexchange.events.TaskStatusChanged", record))
    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), codec, tasks)
    feed.apply("org.ehcpexchange.events.TaskStatusChanged", decoded)  # read before its request
    feed.apply("org.ehcpexchange.events.AdviceRequested", advice_request())
    stored = tasks.get("REQ-2025-0042")
    assert stored is not None
    assert (stored.status, stored.output_document_id) == ("completed", "doc-1")
