"""Recording advice received by email or post: the event the JSON API would send, or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.education.models import EVENT_NAMESPACE
from ehcp.contract.avro import default_codec
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import CASE, csrf_of

PDF = b"%PDF-1.4\n% synthetic medical advice\n"


def _form(client: TestClient, case_id: str = CASE) -> dict[str, str]:
    page = client.get(f"/cases/{case_id}/record-advice")
    assert page.status_code == 200
    import re

    submission = re.search(r'name="submission_id" value="([^"]+)"', page.text)
    assert submission
    return {"csrf_token": csrf_of(page.text), "submission_id": submission.group(1),
            "advice_type": "MEDICAL", "received_on": "2026-02-27", "how": "email"}


def _contributions(ws: Workspace) -> list[Any]:
    return [e for e in ws.publisher.events if e.topic == "ehcp.contributions.v1"]


@pytest.mark.parametrize("who", ["manager", "officer"])
def test_recorded_advice_is_the_json_apis_event(workspace: Workspace, who: str) -> None:
    """The upload stores the document and publishes AdviceSubmitted answering the case's request."""
    client = signed_in(workspace, who)
    data = _form(client)
    response = client.post(f"/cases/{CASE}/record-advice", data=data,
                           files={"document": ("advice.pdf", PDF, "application/pdf")},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    (event,) = _contributions(workspace)
    record = event.record
    assert record["case_id"] == CASE
    assert record["advice_type"] == "MEDICAL"
    assert record["request_id"] == f"req-{CASE}-medical"  # the request it answers
    assert record["agency"] == {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                "value": "RVV"}
    assert record["channel"] == "OTHER"
    assert event.key == CASE
    assert workspace.docstore.get(record["document"]["sha256"]) == PDF
    assert record["document"]["content_type"] == "application/pdf"
    import uuid

    assert record["event_id"] == str(uuid.uuid5(
        EVENT_NAMESPACE, f"advice|RVV|WS-{data['submission_id']}"))
    default_codec().encode(event.schema_name, record)  # fits the Avro contract
    assert client.get(response.headers["location"]).status_code == 200


def _post(ws: Workspace, client: TestClient, data: dict[str, str],
          files: dict[str, Any]) -> Any:
    before = dict(ws.docstore.blobs)
    response = client.post(f"/cases/{CASE}/record-advice", data=data, files=files,
                           follow_redirects=False)
    assert _contributions(ws) == [], "bad input must publish nothing"
    assert ws.docstore.blobs == before, "bad input must store nothing"
    return response


@pytest.mark.parametrize(("change", "filename", "content", "status", "says"), [
    ({}, "advice.exe", b"MZ\x90\x00", 422, "upload a PDF"),
    ({}, "advice.pdf", b"<html>not a pdf</html>", 422, "not the type its name says"),
    ({}, "advice.txt", b"\xff\xfe\x00bad", 422, "UTF-8"),
    ({}, "advice.pdf", b"", 422, "empty"),
    ({"received_on": "2026-03-09"}, "advice.pdf", PDF, 422, "future"),
    ({"received_on": "yesterday"}, "advice.pdf", PDF, 422, "date received"),
    ({"advice_type": "SOCIAL_CARE"}, "advice.pdf", PDF, 422, "waiting for"),
    ({"advice_type": "X" * 100_000}, "advice.pdf", PDF, 400, "could not be read"),
    ({"how": "pigeon"}, "advice.pdf", PDF, 422, "email or by post"),
    ({"submission_id": "../../etc"}, "advice.pdf", PDF, 422, "reload the form"),
])
def test_bad_input_is_refused_and_changes_nothing(
        workspace: Workspace, change: dict[str, str], filename: str, content: bytes,
        status: int, says: str) -> None:
    """Wrong types, lying contents, bad dates and fields get a clear error; nothing is stored."""
    client = signed_in(workspace, "manager")
    data = {**_form(client), **change}
    response = _post(workspace, client, data, {"document": (filename, content, "x/y")})
    assert response.status_code == status
    assert says in response.text


def test_over_the_size_limit_is_refused(workspace: Workspace) -> None:
    """A document over EHCP_MAX_DOCUMENT_BYTES gets 413 and a message naming the limit."""
    client = signed_in(workspace, "manager")
    big = b"%PDF-1.4\n" + b"0" * 200_000  # the fixture's limit is 100,000 bytes
    response = _post(workspace, client, _form(client),
                     {"document": ("advice.pdf", big, "application/pdf")})
    assert response.status_code == 413
    assert "too large" in response.text


def test_missing_file_is_refused(workspace: Workspace) -> None:
    """A form without a document says to choose one."""
    client = signed_in(workspace, "manager")
    response = _post(workspace, client, _form(client), {})
    assert response.status_code == 422
    assert "choose the document" in response.text


def test_csrf_less_post_is_refused_and_audited(workspace: Workspace) -> None:
    """An upload without the CSRF token (a forged cross-site post) gets 403, audited, nothing stored."""
    client = signed_in(workspace, "manager")
    data = _form(client)
    del data["csrf_token"]
    response = _post(workspace, client, data, {"document": ("advice.pdf", PDF, "application/pdf")})
    assert response.status_code == 403
    audit = [e.record for e in workspace.publisher.events if e.topic == "ehcp.audit.v1"]
    assert any(r["reason"] == "missing or wrong CSRF token" for r in audit)


def test_kafka_down_shows_an_error_not_success(workspace: Workspace) -> None:
    """When Kafka does not take the advice, the page says nothing was recorded (503), no success."""
    client = signed_in(workspace, "manager")
    workspace.publisher.unavailable = True
    response = client.post(f"/cases/{CASE}/record-advice", data=_form(client),
                           files={"document": ("advice.pdf", PDF, "application/pdf")},
                           follow_redirects=False)
    assert response.status_code == 503
    assert "Nothing was recorded" in response.text


def test_same_form_twice_is_one_advice(workspace: Workspace) -> None:
    """Re-sending the same form (double click, back and resend) gives the same event id."""
    client = signed_in(workspace, "manager")
    data = _form(client)
    for _ in range(2):
        client.post(f"/cases/{CASE}/record-advice", data=data,
                    files={"document": ("advice.pdf", PDF, "application/pdf")},
                    follow_redirects=False)
    ids = {e.record["event_id"] for e in _contributions(workspace)}
    assert len(ids) == 1
