"""POST /fhir with a transaction Bundle: the advice and the completed Task together."""

from __future__ import annotations

from typing import Any

from .support import Harness, advice_document, advice_request, issue, load


def transaction(task: dict[str, Any] | None = None,
                document: dict[str, Any] | None = None) -> dict[str, Any]:
    """A transaction Bundle of advice and the completed Task REQ-2025-0042."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0d6c5ad5-6f0e-4a43-9a48-2f2a4c1e7b10",
         "resource": document or advice_document(),
         "request": {"method": "POST", "url": "DocumentReference"}},
        {"resource": task or load("task-example1-adapted.json"),
         "request": {"method": "PUT", "url": "Task/REQ-2025-0042"}},
    ]}


def test_a_transaction_publishes_the_advice_and_completes_the_task(harness: Harness) -> None:
    """One advice event tied to the request, one completed Task event, a response Bundle."""
    harness.tasks.add(advice_request())
    response = harness.post("/fhir", transaction())
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "200 OK"]
    [advice] = harness.publisher.events
    assert (advice.record["request_id"], advice.record["case_id"]) == (
        "REQ-2025-0042", "CASE-2025-0007")
    assert [e.status for e in harness.task_events.events] == ["completed"]
    assert harness.tasks.get("REQ-2025-0042").status == "completed"  # type: ignore[union-attr]


def test_repeating_a_transaction_publishes_nothing_new(harness: Harness) -> None:
    """The same Bundle again answers 200 OK entries with the same id and no new events."""
    harness.tasks.add(advice_request())
    first = harness.post("/fhir", transaction()).json()
    second = harness.post("/fhir", transaction()).json()
    assert [e["response"]["status"] for e in second["entry"]] == ["200 OK", "200 OK"]
    assert first["entry"][0]["response"]["location"] == second["entry"][0]["response"]["location"]
    assert len(harness.publisher.events) == 1
    assert len(harness.task_events.events) == 1


def test_a_failed_task_event_is_503_and_the_retry_completes_without_duplicates(
        harness: Harness) -> None:
    """Advice published, Task event lost: the retry publishes only the Task event."""
    harness.tasks.add(advice_request())
    harness.task_events.unavailable = True
    assert harness.post("/fhir", transaction()).status_code == 503
    assert len(harness.publisher.events) == 1
    harness.task_events.unavailable = False
    assert harness.post("/fhir", transaction()).status_code == 200
    assert len(harness.publisher.events) == 1
    assert len(harness.task_events.events) == 1


def test_an_invalid_entry_stops_the_whole_transaction(harness: Harness) -> None:
    """A bad NHS number in the advice leaves the Task open and publishes nothing."""
    harness.tasks.add(advice_request())
    document = advice_document(subject={"identifier": {
        "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "1234567890"}})
    response = harness.post("/fhir", transaction(document=document))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Bundle.entry[0].resource.subject.identifier.value"]
    assert harness.publisher.events == []
    assert harness.task_events.events == []
    assert harness.tasks.get("REQ-2025-0042").status == "requested"  # type: ignore[union-attr]


def test_the_task_in_a_transaction_must_be_completed(harness: Harness) -> None:
    """A transaction carrying an accepted Task is refused at the Task's status."""
    harness.tasks.add(advice_request())
    task = load("task-example1-adapted.json") | {"status": "accepted"}
    response = harness.post("/fhir", transaction(task=task))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Bundle.entry[1].resource.status"]


def test_a_batch_bundle_is_not_supported(harness: Harness) -> None:
    """Only transaction Bundles are processed."""
    harness.tasks.add(advice_request())
    response = harness.post("/fhir", transaction() | {"type": "batch"})
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Bundle.type"]
