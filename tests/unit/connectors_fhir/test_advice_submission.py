"""POST /fhir/DocumentReference: advice in, one AdviceSubmitted event out."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import fastavro
import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from connectors.fhir.ports import FetchedDocument
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM

from .support import (
    ADVICE_TEXT,
    ALLOWED_HOST,
    BAD_NHS_NUMBER,
    MAX_BYTES,
    NHS_NUMBER,
    OTHER_NHS_NUMBER,
    Harness,
    advice_document,
    advice_request,
    issue,
)

SCHEMA = Path(__file__).parents[3] / "schemas" / "advice_submitted" / "v1.avsc"
CONTRIBUTION_ID = "https://rbz.nhs.example/Id/advice|ADV-2025-000117"


@pytest.fixture(autouse=True)
def _rbz_was_asked(harness: Harness) -> None:
    """RBZ holds a Task for the child (case CASE-2025-0007): it was asked for advice."""
    harness.tasks.add(advice_request())


def test_advice_about_a_child_nobody_asked_you_about_is_403(harness: Harness) -> None:
    """RX1 holds no request for the child: its advice by NHS number alone is refused."""
    rx1 = advice_document(custodian={"identifier": {"system": ODS_ORGANISATION_SYSTEM,
                                                    "value": "RX1"}})
    response = harness.post("/fhir/DocumentReference", rx1, token=harness.rx1_token)
    assert response.status_code == 403, response.text
    assert issue(response)["code"] == "forbidden"
    assert "not been asked" in issue(response)["diagnostics"]
    assert harness.publisher.events == []
    assert harness.docstore.blobs == {}


def test_advice_about_another_child_of_the_same_provider_is_403(harness: Harness) -> None:
    """RBZ was asked about one child; advice naming a different NHS number is refused."""
    document = advice_document()
    document["subject"] = {"type": "Patient", "identifier": {"system": NHS_NUMBER_SYSTEM,
                                          "value": OTHER_NHS_NUMBER}}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 403, response.text
    assert harness.publisher.events == []


def test_advice_naming_a_case_you_were_not_asked_about_is_403(harness: Harness) -> None:
    """A case id in context.related must be one of the caller's requests' cases."""
    document = advice_document()
    document["context"] = {"related": [{"identifier": {
        "system": "https://ehcp-exchange.org/Id/ehc-case", "value": "CASE-2025-0999"}}]}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 403, response.text
    assert harness.publisher.events == []


def test_advice_naming_the_case_you_were_asked_about_is_accepted(harness: Harness) -> None:
    """The case of the caller's own request is accepted and carried on the event."""
    document = advice_document()
    document["context"] = {"related": [{"identifier": {
        "system": "https://ehcp-exchange.org/Id/ehc-case", "value": "CASE-2025-0007"}}]}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 201, response.text
    (event,) = harness.publisher.events
    assert event.record["case_id"] == "CASE-2025-0007"


def test_valid_advice_is_created_and_published_once_with_the_right_record(
        harness: Harness) -> None:
    """A valid DocumentReference answers 201 with Location and publishes one exact record."""
    response = harness.post("/fhir/DocumentReference", advice_document())

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["resourceType"] == "DocumentReference"
    assert body["id"]
    assert response.headers["location"].endswith(f"/fhir/DocumentReference/{body['id']}/_history/1")
    assert len(harness.publisher.events) == 1
    event = harness.publisher.events[0]
    claim = {"sha256": next(iter(harness.docstore.blobs)), "size_bytes": len(ADVICE_TEXT),
             "content_type": "application/pdf"}
    assert dict(event.record) == {
        "event_id": event.record["event_id"],
        "contribution_id": CONTRIBUTION_ID,
        "case_id": None,
        "request_id": None,
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBER}],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"},
        "submitted_at": datetime(2025, 3, 7, 14, 5, tzinfo=UTC),
        "channel": "FHIR",
        "document": claim,
    }
    assert event.topic == CONTRIBUTIONS.name
    assert event.key == contribution_key(harness.settings.pseudonym_key_bytes(), event.record)
    assert event.key.startswith("child:")
    assert NHS_NUMBER not in event.key
    assert event.schema_name == "org.ehcpexchange.events.AdviceSubmitted"
    assert event.ce_type == "org.ehcpexchange.advice.submitted.v1"
    assert event.ce_subject == CONTRIBUTION_ID
    assert harness.docstore.blobs[claim["sha256"]] == ADVICE_TEXT


def test_published_record_encodes_against_the_avro_schema(harness: Harness) -> None:
    """The record round-trips through fastavro with schemas/advice_submitted/v1.avsc."""
    harness.post("/fhir/DocumentReference", advice_document())
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    record = harness.publisher.events[0].record
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, dict(record))
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, schema) == dict(record)


def test_kafka_never_carries_the_document_and_the_response_omits_it(harness: Harness) -> None:
    """The event holds only the claim check and the 201 body drops the inline data."""
    response = harness.post("/fhir/DocumentReference", advice_document())
    attachment = response.json()["content"][0]["attachment"]
    assert "data" not in attachment
    assert attachment["size"] == len(ADVICE_TEXT)
    encoded = base64.b64encode(ADVICE_TEXT).decode()
    assert encoded not in repr(harness.publisher.events[0])
    assert b"PDF" not in repr(
        harness.publisher.events[0]).encode()


def test_malformed_json_is_400_and_nothing_is_published(harness: Harness) -> None:
    """A body that is not JSON gets a 400 OperationOutcome and publishes nothing."""
    response = harness.post("/fhir/DocumentReference", b'{"resourceType": "DocumentRef')
    assert response.status_code == 400
    assert issue(response)["code"] == "structure"
    assert harness.publisher.events == []
    assert harness.docstore.blobs == {}


def test_nhs_number_failing_its_check_digit_is_422_naming_the_element(harness: Harness) -> None:
    """A bad check digit is refused at subject.identifier.value without echoing the number."""
    document = advice_document(subject={"identifier": {"system": NHS_NUMBER_SYSTEM,
                                                       "value": BAD_NHS_NUMBER}})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    found = issue(response)
    assert found["expression"] == ["DocumentReference.subject.identifier.value"]
    assert found["code"] == "value"
    assert BAD_NHS_NUMBER not in response.text
    assert harness.publisher.events == []


@pytest.mark.parametrize("value", ["\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669",
                                   "9434765919\n", "943476591"])
def test_nhs_numbers_that_are_not_ten_ascii_digits_are_422(harness: Harness, value: str) -> None:
    """Arabic-Indic digits, a trailing newline or nine digits are refused, not normalised."""
    document = advice_document(subject={"identifier": {"system": NHS_NUMBER_SYSTEM,
                                                       "value": value}})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.subject.identifier.value"]
    assert harness.publisher.events == []


def test_a_different_resource_type_in_the_body_is_400(harness: Harness) -> None:
    """Posting a Patient to /DocumentReference is refused naming resourceType."""
    response = harness.post("/fhir/DocumentReference", {"resourceType": "Patient"})
    assert response.status_code == 400
    assert issue(response)["expression"] == ["resourceType"]


def test_an_unknown_resource_type_in_the_path_is_404(harness: Harness) -> None:
    """POST /fhir/Observation is an unknown type here: 404 not-supported OperationOutcome."""
    response = harness.post("/fhir/Observation", {"resourceType": "Observation"})
    assert response.status_code == 404
    assert issue(response)["code"] == "not-supported"


def test_bogus_status_is_refused_although_fhir_resources_accepts_it(harness: Harness) -> None:
    """status 'bogus' passes the fhir.resources model but gets a 400 code-invalid here."""
    document = advice_document(status="bogus")
    DocumentReference.model_validate(document)  # the library does not check the binding
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 400
    found = issue(response)
    assert found["code"] == "code-invalid"
    assert found["expression"] == ["DocumentReference.status"]


def test_superseded_status_is_valid_fhir_but_not_new_advice(harness: Harness) -> None:
    """status superseded is in the value set but the profile accepts current only (422)."""
    response = harness.post("/fhir/DocumentReference", advice_document(status="superseded"))
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.status"]


def test_a_bogus_doc_status_is_refused(harness: Harness) -> None:
    """docStatus outside the composition-status value set is a 400."""
    response = harness.post("/fhir/DocumentReference", advice_document(docStatus="draft"))
    assert response.status_code == 400
    assert issue(response)["expression"] == ["DocumentReference.docStatus"]


def test_a_structural_error_names_the_element(harness: Harness) -> None:
    """A wrongly typed element (size as text) is a 400 naming its FHIRPath."""
    document = advice_document()
    document["content"][0]["attachment"]["size"] = "large"
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["DocumentReference.content[0].attachment.size"]


def test_custodian_of_another_organisation_is_403(harness: Harness) -> None:
    """An RBZ caller cannot submit advice whose custodian is RX1."""
    document = advice_document(custodian={"identifier": {"system": ODS_ORGANISATION_SYSTEM,
                                                         "value": "RX1"}})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 403
    assert issue(response)["code"] == "forbidden"
    assert harness.publisher.events == []


def test_advice_type_the_caller_may_not_give_is_403(harness: Harness) -> None:
    """A health credential may give medical advice, not psychological advice."""
    document = advice_document(type={"coding": [{
        "system": "https://ehcp-exchange.org/CodeSystem/advice-type", "code": "psychological"}]})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 403
    assert harness.publisher.events == []


def test_an_unknown_advice_type_code_is_422(harness: Harness) -> None:
    """A code outside the advice-type code system is refused, not guessed."""
    document = advice_document(type={"coding": [{
        "system": "https://ehcp-exchange.org/CodeSystem/advice-type", "code": "dental"}]})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.type.coding[0].code"]


def test_no_token_is_401_with_a_bearer_challenge(harness: Harness) -> None:
    """Without Authorization the answer is 401 with WWW-Authenticate: Bearer."""
    response = harness.client.post("/fhir/DocumentReference",
                                   content=json.dumps(advice_document()),
                                   headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert issue(response)["code"] == "login"


def test_a_credential_without_the_fhir_scope_is_403(harness: Harness) -> None:
    """A school's credential cannot use the FHIR endpoints."""
    response = harness.post("/fhir/DocumentReference", advice_document(),
                            token=harness.school_token)
    assert response.status_code == 403


def test_publisher_unavailable_is_503_then_the_retry_publishes_exactly_once(
        harness: Harness) -> None:
    """A 503 with Retry-After records nothing, so the same retry then publishes once."""
    harness.publisher.unavailable = True
    response = harness.post("/fhir/DocumentReference", advice_document())
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert issue(response)["code"] == "transient"
    assert harness.submissions.outcomes == {}

    harness.publisher.unavailable = False
    retry = harness.post("/fhir/DocumentReference", advice_document())
    again = harness.post("/fhir/DocumentReference", advice_document())
    assert retry.status_code == 201
    assert again.status_code == 200
    assert len(harness.publisher.events) == 1


def test_a_duplicate_submission_returns_the_same_id_and_publishes_nothing(
        harness: Harness) -> None:
    """The same contribution identifier twice: one event, the same id, 200 the second time."""
    first = harness.post("/fhir/DocumentReference", advice_document())
    second = harness.post("/fhir/DocumentReference", advice_document())
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.headers["location"] == second.headers["location"]
    assert len(harness.publisher.events) == 1


def test_if_none_exist_matching_an_earlier_submission_returns_it(harness: Harness) -> None:
    """A conditional create whose identifier was already submitted creates nothing."""
    first = harness.post("/fhir/DocumentReference", advice_document())
    other = advice_document(masterIdentifier={"system": "https://rbz.nhs.example/Id/advice",
                                              "value": "ADV-2025-000999"})
    response = harness.post("/fhir/DocumentReference", other,
                            **{"If-None-Exist": "identifier=https://rbz.nhs.example/Id/advice"
                                                "|ADV-2025-000117"})
    assert response.status_code == 200
    assert response.json()["id"] == first.json()["id"]
    assert len(harness.publisher.events) == 1


def test_the_same_identifier_from_another_organisation_is_not_a_duplicate(
        harness: Harness) -> None:
    """Idempotency is per organisation: RX1 reusing RBZ's identifier value is its own advice."""
    harness.tasks.add(advice_request("REQ-2025-0043", owner="RX1"))
    harness.post("/fhir/DocumentReference", advice_document())
    rx1 = advice_document(custodian={"identifier": {"system": ODS_ORGANISATION_SYSTEM,
                                                    "value": "RX1"}})
    response = harness.post("/fhir/DocumentReference", rx1, token=harness.rx1_token)
    assert response.status_code == 201
    assert len(harness.publisher.events) == 2


def test_an_oversize_inline_document_is_413_and_nothing_is_stored(harness: Harness) -> None:
    """A document over max_document_bytes is refused with 413 before it is stored."""
    document = advice_document()
    document["content"][0]["attachment"]["data"] = base64.b64encode(
        b"x" * (MAX_BYTES + 1)).decode()
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 413
    assert issue(response)["code"] == "too-long"
    assert harness.docstore.blobs == {}
    assert harness.publisher.events == []


def test_an_oversize_request_body_is_413_before_parsing(harness: Harness) -> None:
    """A body far beyond what a maximal document needs is refused as 413."""
    response = harness.post("/fhir/DocumentReference", b"{" + b" " * (MAX_BYTES * 200) + b"}")
    assert response.status_code == 413


def test_an_attachment_url_off_the_allow_list_is_422(harness: Harness) -> None:
    """A url whose host is not in document_url_hosts is refused naming attachment.url."""
    document = advice_document()
    document["content"][0]["attachment"] = {"contentType": "application/pdf",
                                            "url": "https://evil.example/advice.pdf"}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.content[0].attachment.url"]
    assert harness.url_fetcher.fetched == []


def test_an_allowed_attachment_url_is_fetched_through_the_port(harness: Harness) -> None:
    """An https url on the allow-list is read by the UrlFetcher and stored like inline data."""
    url = f"https://{ALLOWED_HOST}/advice/117.pdf"
    harness.url_fetcher.documents[url] = FetchedDocument(ADVICE_TEXT, "application/pdf")
    document = advice_document()
    document["content"][0]["attachment"] = {"contentType": "application/pdf", "url": url}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 201, response.text
    assert harness.url_fetcher.fetched == [url]
    assert harness.publisher.events[0].record["document"]["size_bytes"] == len(ADVICE_TEXT)


def test_an_allowed_url_with_an_oversize_document_is_413(harness: Harness) -> None:
    """The size limit holds for fetched documents too."""
    url = f"https://{ALLOWED_HOST}/advice/huge.pdf"
    harness.url_fetcher.documents[url] = FetchedDocument(b"x" * (MAX_BYTES + 1))
    document = advice_document()
    document["content"][0]["attachment"] = {"contentType": "application/pdf", "url": url}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 413
    assert harness.publisher.events == []


def test_an_attachment_size_that_does_not_match_is_422(harness: Harness) -> None:
    """attachment.size must describe the bytes actually sent."""
    document = advice_document()
    document["content"][0]["attachment"]["size"] = len(ADVICE_TEXT) + 1
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.content[0].attachment.size"]


def test_a_modifier_extension_is_refused(harness: Harness) -> None:
    """modifierExtension changes meaning this server cannot know, so it is a 400."""
    document = advice_document(modifierExtension=[{"url": "https://x.example/ext",
                                                   "valueBoolean": True}])
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["DocumentReference.modifierExtension"]


def test_a_missing_contribution_identifier_is_422(harness: Harness) -> None:
    """Without masterIdentifier or identifier there is nothing to make retries idempotent."""
    document = advice_document()
    del document["masterIdentifier"]
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 422
    assert issue(response)["expression"] == ["DocumentReference.masterIdentifier"]


def test_xml_is_415(harness: Harness) -> None:
    """Only JSON is supported: an XML body is 415."""
    response = harness.client.post(
        "/fhir/DocumentReference", content=b"<DocumentReference/>",
        headers={**harness.headers(), "Content-Type": "application/fhir+xml"})
    assert response.status_code == 415


def test_a_contained_patient_can_identify_the_child_and_give_the_date_of_birth(
        harness: Harness) -> None:
    """subject '#child' resolves to a contained Patient with an NHS number and birth date."""
    document = advice_document(
        contained=[{"resourceType": "Patient", "id": "child", "birthDate": "2016-05-14",
                    "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBER}]}],
        subject={"reference": "#child"},
    )
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 201, response.text
    record = harness.publisher.events[0].record
    assert record["child_identifiers"] == [{"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBER}]
    assert record["child_date_of_birth"] == date(2016, 5, 14)


def test_advice_answering_a_known_request_carries_its_request_and_case(harness: Harness) -> None:
    """context.related Task/<id> links the advice to the request; the case id becomes the key."""
    harness.tasks.add(advice_request())
    document = advice_document(context={"related": [{"reference": "Task/REQ-2025-0042"}]})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 201, response.text
    event = harness.publisher.events[0]
    assert event.record["request_id"] == "REQ-2025-0042"
    assert event.record["case_id"] == "CASE-2025-0007"
    assert event.key == "CASE-2025-0007"
    assert event.ce_subject == "CASE-2025-0007"


def test_advice_referencing_another_organisations_task_is_refused(harness: Harness) -> None:
    """RBZ cannot attach its advice to a request addressed to RX1: 403 (an overreach, #13 item 3)."""
    harness.tasks.add(advice_request("REQ-2025-0050", owner="RX1"))
    document = advice_document(context={"related": [{"reference": "Task/REQ-2025-0050"}]})
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 403
    assert issue(response)["code"] == "forbidden"
    assert harness.publisher.events == []


def test_the_location_of_created_advice_can_be_read_by_its_submitter_only(
        harness: Harness) -> None:
    """GET on the returned Location (vread) and on the plain id give the stored resource."""
    created = harness.post("/fhir/DocumentReference", advice_document())
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    path = location[location.index("/fhir/"):]
    assert path.endswith("/_history/1")
    for url in (path, path.removesuffix("/_history/1")):
        read = harness.get(url)
        assert read.status_code == 200, read.text
        assert read.json() == created.json()
        assert "data" not in read.json()["content"][0]["attachment"]
        assert read.headers["etag"] == 'W/"1"'
    assert harness.get(path, token=harness.rx1_token).status_code == 404
    missing = harness.get("/fhir/DocumentReference/not-a-known-id")
    assert missing.status_code == 404
    assert issue(missing)["code"] == "not-found"


def test_until_the_task_feed_has_caught_up_an_unknown_child_is_503_not_403(
        harness: Harness) -> None:
    """Just after start-up the request may not have been read yet: retry later, no refusal."""
    harness.tasks.complete = False
    rx1 = advice_document(custodian={"identifier": {"system": ODS_ORGANISATION_SYSTEM,
                                                    "value": "RX1"}})
    response = harness.post("/fhir/DocumentReference", rx1, token=harness.rx1_token)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert harness.post("/fhir/DocumentReference", advice_document()).status_code == 201
    harness.tasks.mark_complete()
    assert harness.post("/fhir/DocumentReference", rx1, token=harness.rx1_token
                        ).status_code == 403
