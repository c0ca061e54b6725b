"""A Designated Clinical Officer delegates parts of its advice request as sub-Tasks (partOf)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connectors.auth import new_credential
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import ADVICE_REQUESTS
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM

from .support import Harness, advice_document, advice_request, issue

PARENT = "REQ-2025-0042"
SERVICE_SYSTEM = "https://ehcp-exchange.org/CodeSystem/health-service"


def sub_task(**changes: Any) -> dict[str, Any]:
    """RBZ (the ICB) asks RX1 for the speech and language therapy part, due 4 April."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "partOf": [{"reference": f"Task/{PARENT}"}],
        "identifier": [{"system": "https://ehcp-exchange.org/Id/advice-request",
                        "value": "REQ-2025-0042-SALT"}],
        "code": {"coding": [{"system": SERVICE_SYSTEM, "code": "speech-and-language-therapy"}]},
        "owner": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "RX1"}},
        "restriction": {"period": {"end": "2025-04-04"}},
    }
    task.update(changes)
    return task


@pytest.fixture
def asked(harness: Harness) -> Harness:
    """RBZ holds the LA's medical advice request (due 14 April 2025)."""
    harness.tasks.add(advice_request(PARENT, owner="RBZ"))
    return harness


def test_the_dco_delegates_a_part_to_a_provider(asked: Harness) -> None:
    """201: the sub-Task is published on the advice-requests topic, partOf the ICB's Task."""
    r = asked.post("/fhir/Task", sub_task())
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["partOf"] == [{"reference": f"Task/{PARENT}"}]
    assert task["owner"]["identifier"]["value"] == "RX1"
    assert task["requester"]["identifier"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"}
    assert task["restriction"]["period"]["end"] == "2025-04-04"
    assert {"system": SERVICE_SYSTEM, "code": "speech-and-language-therapy",
            "display": "Speech and language therapy"} in task["code"]["coding"]
    assert r.headers["location"].endswith("/fhir/Task/REQ-2025-0042-SALT")
    (event,) = asked.publisher.events
    assert event.topic == ADVICE_REQUESTS.name
    assert event.key == "CASE-2025-0007"
    assert event.record["part_of"] == PARENT
    assert event.record["service"] == "SPEECH_AND_LANGUAGE_THERAPY"
    assert event.record["due_on"] == date(2025, 4, 4)
    assert event.record["child_identifiers"] == advice_request()["child_identifiers"]
    default_codec().encode(event.schema_name, event.record)
    # The same part again: 200, nothing published twice.
    again = asked.post("/fhir/Task", sub_task())
    assert again.status_code == 200
    assert len(asked.publisher.events) == 1


def test_without_a_due_date_the_part_is_due_with_the_parent(asked: Harness) -> None:
    """No restriction: due on the parent's reg 8(1) date; no identifier: a derived part id."""
    r = asked.post("/fhir/Task", sub_task(restriction=None, identifier=None))
    assert r.status_code == 201, r.text
    assert r.json()["restriction"]["period"]["end"] == "2025-04-14"
    assert r.json()["id"] != PARENT


def test_the_provider_sees_and_completes_only_its_own_part(asked: Harness) -> None:
    """RX1 finds its sub-Task, sends its advice naming it, and the sub-Task completes."""
    assert asked.post("/fhir/Task", sub_task()).status_code == 201
    found = asked.get("/fhir/Task", asked.rx1_token).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == ["REQ-2025-0042-SALT"]
    # RX1 cannot read the ICB's own Task, nor complete it.
    assert asked.get(f"/fhir/Task/{PARENT}", asked.rx1_token).status_code == 404
    advice = advice_document(
        custodian={"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "RX1"}},
        context={"related": [{"reference": "Task/REQ-2025-0042-SALT"}]})
    r = asked.post("/fhir/DocumentReference", advice, asked.rx1_token)
    assert r.status_code == 201, r.text
    part = asked.get("/fhir/Task/REQ-2025-0042-SALT", asked.rx1_token).json()
    assert part["status"] == "completed"
    contribution = asked.publisher.events[-1].record
    assert contribution["request_id"] == "REQ-2025-0042-SALT"
    # The ICB's request is not answered by the part.
    assert asked.tasks.get(PARENT).status == "requested"  # type: ignore[union-attr]
    # The DCO reads the part it delegated (not update it).
    assert asked.get("/fhir/Task/REQ-2025-0042-SALT").json()["status"] == "completed"
    closed = asked.put("/fhir/Task/REQ-2025-0042-SALT",
                       {**part, "status": "completed"})
    assert closed.status_code == 404


def test_another_provider_cannot_see_or_change_a_part(asked: Harness) -> None:
    """RX2, asked for nothing, gets 404 for RX1's part and finds no Tasks."""
    assert asked.post("/fhir/Task", sub_task()).status_code == 201
    rx2, token = new_credential(ODS_ORGANISATION_SYSTEM, "RX2", "health")
    asked.app.state.credentials.add(rx2)
    assert asked.get("/fhir/Task/REQ-2025-0042-SALT", token).status_code == 404
    assert asked.get("/fhir/Task", token).json().get("entry", []) == []
    task = asked.get("/fhir/Task/REQ-2025-0042-SALT", asked.rx1_token).json()
    assert asked.put("/fhir/Task/REQ-2025-0042-SALT", {**task, "status": "accepted"},
                     token).status_code == 404


def test_only_the_owner_of_the_parent_may_delegate(asked: Harness) -> None:
    """RX1 naming RBZ's Task, or a Task that does not exist: the same 403, nothing published."""
    mine = asked.post("/fhir/Task", sub_task(owner={"identifier": {
        "system": ODS_ORGANISATION_SYSTEM, "value": "RX9"}}), asked.rx1_token)
    unknown = asked.post("/fhir/Task", sub_task(partOf=[{"reference": "Task/NOPE"}]))
    assert mine.status_code == unknown.status_code == 403
    assert issue(mine)["diagnostics"] == issue(unknown)["diagnostics"]
    assert asked.publisher.events == []
    school = asked.post("/fhir/Task", sub_task(), asked.school_token)
    assert school.status_code == 403


@pytest.mark.parametrize(
    ("changes", "status", "expression"),
    [
        ({"partOf": None}, 422, "Task.partOf"),
        ({"partOf": [{"reference": "DocumentReference/x"}]}, 422, "Task.partOf[0].reference"),
        ({"status": "accepted"}, 422, "Task.status"),
        ({"status": "nonsense"}, 400, "Task.status"),
        ({"code": {"text": "SALT"}}, 422, "Task.code"),
        ({"owner": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"}}}, 422,
         "Task.owner.identifier.value"),
        ({"owner": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "R!"}}}, 422,
         "Task.owner.identifier.value"),
        ({"owner": {"identifier": {"system": "https://example.org/x", "value": "RX1"}}}, 422,
         "Task.owner.identifier"),
        ({"restriction": {"period": {"end": "2025-04-15"}}}, 422, "Task.restriction.period.end"),
        ({"restriction": {"period": {"end": "2025-03-09"}}}, 422, "Task.restriction.period.end"),
        ({"modifierExtension": [{"url": "https://x.example", "valueBoolean": True}]}, 400, None),
        ({"description": "x" * 5000}, 422, None),
    ],
)
def test_a_bad_sub_task_is_refused(asked: Harness, changes: dict[str, Any], status: int,
                                   expression: str | None) -> None:
    """Each element checked, the error naming it; nothing is published."""
    body = sub_task(**changes)
    body = {k: v for k, v in body.items() if v is not None}
    r = asked.post("/fhir/Task", body)
    assert r.status_code == status, r.text
    if expression is not None:
        assert issue(r)["expression"] == [expression]
    assert asked.publisher.events == []


def test_a_part_of_a_part_or_of_a_closed_task_is_refused(asked: Harness) -> None:
    """RX1 cannot delegate its part on; the ICB cannot delegate a completed request."""
    assert asked.post("/fhir/Task", sub_task()).status_code == 201
    onward = sub_task(partOf=[{"reference": "Task/REQ-2025-0042-SALT"}], identifier=None,
                      owner={"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "RX9"}})
    r = asked.post("/fhir/Task", onward, asked.rx1_token)
    assert r.status_code == 422
    asked.tasks.add(advice_request("REQ-DONE", owner="RBZ"))
    asked.tasks.set_status("REQ-DONE", "completed", None, None, asked.clock.now())
    r = asked.post("/fhir/Task", sub_task(partOf=[{"reference": "Task/REQ-DONE"}],
                                          identifier=None))
    assert r.status_code == 409
    # A part id already used for another part is a conflict, not a silent repeat.
    r = asked.post("/fhir/Task", sub_task(code={"coding": [{"system": SERVICE_SYSTEM,
                                                            "code": "camhs"}]}))
    assert r.status_code == 409
    assert len(asked.publisher.events) == 1


def test_a_deeply_nested_body_is_refused(asked: Harness) -> None:
    """Hostile nesting is a clear 422, not a crash."""
    deep: Any = "x"
    for _ in range(200):
        deep = {"a": deep}
    r = asked.post("/fhir/Task", sub_task(extension=[{"url": "https://x.example",
                                                      "valueString": "y"}], contained=[deep]))
    assert r.status_code in (400, 422)
    assert asked.publisher.events == []


def test_the_capability_statement_offers_task_create(harness: Harness) -> None:
    """metadata lists create on Task."""
    statement = harness.client.get("/fhir/metadata").json()
    task = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Task")
    assert {"code": "create"} in task["interaction"]
