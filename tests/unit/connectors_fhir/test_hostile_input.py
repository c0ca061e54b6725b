"""Hostile input at the FHIR edge: over-long strings, deep nesting, values that must not echo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import synthetic_nhs_number

from .support import Harness, advice_document, advice_request, issue
from .test_tasks import patch, task_update
from .test_transaction import transaction

#: A synthetic NHS number (check digit valid) used as a hostile value: it must never come back.
HOSTILE_NHS_NUMBER = synthetic_nhs_number(4242)
MARKER = "zzhostilemarkerzz"
HOSTILE = f"{MARKER}{HOSTILE_NHS_NUMBER}"


def nested(depth: int) -> bytes:
    """A JSON object whose ``extension`` is ``depth`` arrays deep."""
    return b'{"resourceType":"DocumentReference","extension":' + b"[" * depth + b"]" * depth + b"}"


def test_a_huge_master_identifier_is_422_and_nothing_is_published(harness: Harness) -> None:
    """A 200,000-character masterIdentifier.value is refused before anything is stored or sent."""
    harness.tasks.add(advice_request())
    document = advice_document(masterIdentifier={"system": "https://rbz.nhs.example/Id/advice",
                                                 "value": "A" * 200_000})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422, response.text[:300]
    assert issue(response)["code"] == "too-long"
    assert issue(response)["expression"] == ["DocumentReference.masterIdentifier.value"]
    assert harness.publisher.events == []
    assert harness.docstore.blobs == {}


def test_a_huge_content_type_is_422(harness: Harness) -> None:
    """attachment.contentType is a code: more than 128 characters is refused."""
    harness.tasks.add(advice_request())
    document = advice_document()
    document["content"][0]["attachment"]["contentType"] = "application/" + "x" * 200_000
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == [
        "DocumentReference.content[0].attachment.contentType"]
    assert harness.publisher.events == []


@pytest.mark.parametrize(("element", "length", "accepted"), [
    ("value", 128, True), ("value", 129, False)])
def test_identifier_values_are_bounded_at_128(harness: Harness, element: str, length: int,
                                              accepted: bool) -> None:
    """An identifier value of 128 characters is accepted and one of 129 refused."""
    harness.tasks.add(advice_request())
    document = advice_document(masterIdentifier={"system": "https://rbz.nhs.example/Id/advice",
                                                 element: "A" * length})
    response = harness.post("/fhir/DocumentReference", document)
    assert (response.status_code == 201) is accepted, response.text[:300]


def test_free_text_in_a_task_update_is_bounded(harness: Harness) -> None:
    """statusReason.text (published with the status change) over 4096 characters is 422."""
    harness.tasks.add(advice_request())
    body = task_update("rejected", statusReason={"text": "x" * 4097})
    response = harness.put("/fhir/Task/REQ-2025-0042", body)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["Task.statusReason.text"]
    assert harness.task_events.events == []


def test_a_long_string_inside_a_transaction_is_located_in_its_entry(harness: Harness) -> None:
    """A transaction's DocumentReference with a long identifier is 422 naming the entry."""
    harness.tasks.add(advice_request())
    document = advice_document(masterIdentifier={"system": "https://rbz.nhs.example/Id/advice",
                                                 "value": "A" * 5000})
    response = harness.post("/fhir", transaction(document=document))
    assert response.status_code == 422
    assert issue(response)["expression"] == [
        "Bundle.entry[0].resource.masterIdentifier.value"]
    assert harness.publisher.events == []


@pytest.mark.parametrize("depth", [100_000, 2_000, 65])
@pytest.mark.parametrize("target", ["DocumentReference", "", "Task", "Task-patch"])
def test_deeply_nested_json_is_422_not_500(harness: Harness, depth: int, target: str) -> None:
    """JSON nested beyond 64 levels, even beyond Python's recursion limit, is a 422."""
    harness.tasks.add(advice_request())
    body = nested(depth)
    if target == "Task-patch":
        response = harness.client.patch(
            "/fhir/Task/REQ-2025-0042", content=b"[" * depth + b"]" * depth,
            headers={**harness.headers(), "Content-Type": "application/json-patch+json"})
    elif target == "Task":
        response = harness.client.put("/fhir/Task/REQ-2025-0042", content=body,
                                      headers=harness.headers())
    else:
        response = harness.post(f"/fhir/{target}" if target else "/fhir", body)
    assert response.status_code == 422, response.text[:300]
    assert issue(response)["code"] == "too-costly"


def test_nesting_of_64_levels_is_still_parsed(harness: Harness) -> None:
    """64 levels is within the bound: the answer is about the resource, not the depth."""
    response = harness.post("/fhir/DocumentReference", nested(62))
    assert response.status_code == 400
    assert issue(response)["code"] != "too-costly"


def test_a_priority_outside_its_value_set_is_400(harness: Harness) -> None:
    """Task.priority has a required binding (request-priority): another code is 400."""
    harness.tasks.add(advice_request())
    response = harness.put("/fhir/Task/REQ-2025-0042",
                           task_update("accepted", priority="whenever"))
    assert response.status_code == 400
    assert issue(response)["code"] == "code-invalid"
    assert issue(response)["expression"] == ["Task.priority"]
    assert harness.task_events.events == []


def hostile_requests(harness: Harness) -> list[tuple[str, Any]]:
    """Requests that each carry the hostile value somewhere a client controls."""
    doc = advice_document
    system = "https://rbz.nhs.example/Id/advice"
    attachment = doc()["content"][0]["attachment"]
    return [
        ("post", ("/fhir/DocumentReference", {"resourceType": HOSTILE})),
        ("post", ("/fhir/DocumentReference", doc(status=HOSTILE))),
        ("post", ("/fhir/DocumentReference", doc(docStatus=HOSTILE))),
        ("post", ("/fhir/DocumentReference", doc(date=HOSTILE))),
        ("post", ("/fhir/DocumentReference", doc(masterIdentifier={"system": system,
                                                                   "value": HOSTILE * 10}))),
        ("post", ("/fhir/DocumentReference", doc(subject={"identifier": {
            "system": "https://fhir.nhs.uk/Id/nhs-number", "value": HOSTILE}}))),
        ("post", ("/fhir/DocumentReference", doc(subject={"identifier": {
            "system": HOSTILE, "value": HOSTILE_NHS_NUMBER}}))),
        ("post", ("/fhir/DocumentReference", doc(custodian={"identifier": {
            "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": HOSTILE}}))),
        ("post", ("/fhir/DocumentReference", doc(type={"coding": [{
            "system": "https://ehcp-exchange.org/CodeSystem/advice-type", "code": HOSTILE}]}))),
        ("post", ("/fhir/DocumentReference", doc(context={"related": [
            {"reference": f"Task/{HOSTILE}"}]}))),
        ("post", ("/fhir/DocumentReference", doc(context={"related": [
            {"identifier": {"system": HOSTILE, "value": HOSTILE}}]}))),
        ("post", ("/fhir/DocumentReference", doc(content=[{"attachment": {
            **attachment, "contentType": HOSTILE + "/" + "x" * 200}}]))),
        ("post", ("/fhir/DocumentReference", doc(content=[{"attachment": {
            **attachment, "data": HOSTILE}}]))),
        ("post", ("/fhir/DocumentReference", doc(content=[{"attachment": {
            "contentType": "application/pdf", "url": f"https://{HOSTILE}.example/x"}}]))),
        ("post", ("/fhir/DocumentReference", doc(**{HOSTILE: "x"}))),
        ("post", ("/fhir/DocumentReference", doc(meta={HOSTILE: HOSTILE}))),
        ("post", ("/fhir/DocumentReference", doc(text={"status": "generated",
                                                       "div": HOSTILE * 4000}))),
        ("post", ("/fhir/DocumentReference", doc(**{HOSTILE: {"modifierExtension": []}}))),
        ("post", ("/fhir/DocumentReference", f'{{"resourceType": "{HOSTILE}"'.encode())),
        ("post_ine", ("/fhir/DocumentReference", doc(), f"identifier={HOSTILE}")),
        ("post_ine", ("/fhir/DocumentReference", doc(), f"{HOSTILE}=x")),
        ("post", ("/fhir", {"resourceType": "Bundle", "type": HOSTILE})),
        ("post", ("/fhir", transaction() | {"type": "batch", "id": HOSTILE})),
        ("post", ("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": doc(), "request": {"method": HOSTILE, "url": HOSTILE}},
            {"resource": doc(), "request": {"method": "PUT", "url": HOSTILE}}]})),
        ("post", ("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": doc(), "request": {"method": "POST", "url": "DocumentReference"}},
            {"resource": task_update("completed"),
             "request": {"method": "PUT", "url": f"Task/{HOSTILE}"}}]})),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update(HOSTILE))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("accepted", task_id=HOSTILE))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("accepted", priority=HOSTILE))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("rejected", statusReason={
            "coding": [{"system": HOSTILE, "code": HOSTILE}]}))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("accepted", owner={"identifier": {
            "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": HOSTILE}}))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("accepted", identifier=[{
            "system": "https://ehcp-exchange.org/Id/advice-request", "value": HOSTILE}]))),
        ("put", ("/fhir/Task/REQ-2025-0042", task_update("accepted", **{"for": {"identifier": {
            "system": "https://fhir.nhs.uk/Id/nhs-number", "value": HOSTILE}}}))),
        ("put", (f"/fhir/Task/{HOSTILE}", task_update("accepted", task_id=HOSTILE))),
        ("patch", ("/fhir/Task/REQ-2025-0042", [{"op": "replace", "path": f"/{HOSTILE}",
                                                 "value": HOSTILE}])),
        ("patch", ("/fhir/Task/REQ-2025-0042", [{"op": "replace", "path": "/status",
                                                 "value": HOSTILE}])),
        ("patch", ("/fhir/Task/REQ-2025-0042", [{"op": HOSTILE, "path": "/status"}])),
        ("patch", ("/fhir/Task/REQ-2025-0042", [{"op": "test", "path": "/status",
                                                 "value": HOSTILE}])),
        ("get", (f"/fhir/Task/{HOSTILE}", {})),
        ("get", (f"/fhir/DocumentReference/{HOSTILE}", {})),
        ("get", ("/fhir/Task", {HOSTILE: "x"})),
        ("get", ("/fhir/Task", {"owner": HOSTILE})),
        ("get", ("/fhir/Task", {"owner": f"{HOSTILE}|RBZ"})),
        ("get", ("/fhir/Task", {"status": HOSTILE})),
        ("get", (f"/fhir/{HOSTILE}", {})),
    ]


def test_no_error_body_echoes_a_hostile_value(harness: Harness) -> None:
    """Every refusal answers without the marker or the NHS number that the request carried."""
    harness.tasks.add(advice_request())
    answered = 0
    for kind, args in hostile_requests(harness):
        if kind == "post":
            response = harness.post(*args)
        elif kind == "post_ine":
            response = harness.post(args[0], args[1], **{"If-None-Exist": args[2]})
        elif kind == "put":
            response = harness.client.put(args[0], content=json.dumps(args[1]).encode(),
                                          headers=harness.headers())
        elif kind == "patch":
            response = patch(harness, args[0].rsplit("/", 1)[1], args[1])
        else:
            response = harness.client.get(args[0], params=args[1], headers=harness.headers())
        assert 400 <= response.status_code < 500, (kind, args, response.status_code)
        assert MARKER not in response.text.lower(), (kind, args[0], response.text)
        assert HOSTILE_NHS_NUMBER not in response.text, (kind, args[0], response.text)
        answered += 1
    assert answered == len(hostile_requests(harness))
    assert harness.publisher.events == []


def test_a_task_update_without_an_id_is_400(harness: Harness) -> None:
    """FHIR R4 update: a body with no id SHALL be 400 Bad Request, as a differing id is."""
    harness.tasks.add(advice_request())
    body = task_update("accepted")
    del body["id"]
    response = harness.put("/fhir/Task/REQ-2025-0042", body)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["Task.id"]
    assert harness.task_events.events == []
