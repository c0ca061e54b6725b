"""The official HL7 R4 examples: adapted copies are accepted, the originals refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime

from .support import Harness, advice_request, issue, load


def test_the_adapted_documentreference_example_is_accepted(harness: Harness) -> None:
    """HL7's DocumentReference 'example', adapted to the profile, publishes its advice."""
    harness.tasks.add(advice_request())
    response = harness.post("/fhir/DocumentReference",
                            load("documentreference-example-adapted.json"))
    assert response.status_code == 201, response.text
    record = harness.publisher.events[0].record
    assert record["contribution_id"] == "urn:oid:1.3.6.1.4.1.21367.2005.3.7"
    assert record["submitted_at"] == datetime(2005, 12, 23, 22, 43, 41, tzinfo=UTC)
    assert (record["request_id"], record["case_id"]) == ("REQ-2025-0042", "CASE-2025-0007")


def test_the_original_documentreference_example_is_refused_naming_the_problem(
        harness: Harness) -> None:
    """HL7's unadapted example is preliminary, so the first refusal names docStatus."""
    response = harness.post("/fhir/DocumentReference", load("hl7-documentreference-example.json"))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.docStatus"]
    assert harness.publisher.events == []


def test_the_original_example_fails_each_profile_rule_in_turn(harness: Harness) -> None:
    """Fixing the original one element at a time meets each rule it breaks, with its element."""
    document = load("hl7-documentreference-example.json")
    steps = [
        ("docStatus", "final", "DocumentReference.relatesTo"),
        ("relatesTo", None, "DocumentReference.securityLabel"),
        ("securityLabel", None, "DocumentReference.subject"),
    ]
    for element, value, expected in steps:
        if value is None:
            del document[element]
        else:
            document[element] = value
        response = harness.post("/fhir/DocumentReference", document)
        assert response.status_code == 422, response.text
        assert issue(response)["expression"] == [expected]
    assert harness.publisher.events == []


def test_the_adapted_task_example_completes_its_request(harness: Harness) -> None:
    """HL7's Task 'example1', adapted, completes the RBZ request."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", load("task-example1-adapted.json"))
    assert response.status_code == 200, response.text
    assert [e.status for e in harness.task_events.events] == ["completed"]


def test_the_original_task_example_is_refused_naming_its_status(harness: Harness) -> None:
    """HL7's Task 'example1' is in-progress, which a health body may not set: 422 at status."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042", load("hl7-task-example1.json"))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Task.status"]
    assert harness.task_events.events == []
