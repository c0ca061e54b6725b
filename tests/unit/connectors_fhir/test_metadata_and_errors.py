"""The CapabilityStatement, unsupported interactions and the OperationOutcome mapping."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from connectors.fhir.errors import DocumentTooLargeError
from connectors.fhir.outcome import error_response
from ehcp.errors import AuthError, PublishError

from .support import NHS_NUMBER, Harness, issue


def test_metadata_needs_no_token_and_is_a_valid_r4_capability_statement(
        harness: Harness) -> None:
    """GET /fhir/metadata answers a CapabilityStatement for FHIR 4.0.1 in JSON."""
    response = harness.client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]


def test_metadata_lists_exactly_the_interactions_served(harness: Harness) -> None:
    """Each resource lists the interactions that work, and nothing else."""
    rest = harness.client.get("/fhir/metadata").json()["rest"][0]
    served = {r["type"]: sorted(i["code"] for i in r["interaction"]) for r in rest["resource"]}
    assert served == {"DocumentReference": ["create", "read", "search-type", "vread"],
                      "Binary": ["read"],
                      "Task": ["create", "patch", "read", "search-type", "update"],
                      "Subscription": ["create", "delete", "read"]}
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]
    params = {r["type"]: sorted(p["name"] for p in r.get("searchParam", ()))
              for r in rest["resource"]}
    assert params["Task"] == ["_count", "_lastUpdated", "owner", "status"]
    assert params["DocumentReference"] == ["_count", "_lastUpdated", "subject"]


def test_interactions_not_in_the_statement_answer_405(harness: Harness) -> None:
    """Deleting a DocumentReference or a Task is not offered, so it is a 405."""
    gone = harness.client.delete("/fhir/DocumentReference/abc", headers=harness.headers())
    assert gone.status_code == 405
    assert gone.headers["allow"] == "GET, POST"
    assert issue(gone)["code"] == "not-supported"
    assert harness.client.delete("/fhir/Task/REQ-1", headers=harness.headers()).status_code == 405


def test_an_unexpected_error_is_500_without_internal_details() -> None:
    """A programming error answers 500 'exception' and never echoes its message."""
    response = error_response(RuntimeError(f"boom while handling {NHS_NUMBER}"))
    assert response.status_code == 500
    assert NHS_NUMBER.encode() not in response.body
    assert b"boom" not in response.body


def test_publish_error_is_503_with_retry_after() -> None:
    """PublishError maps to 503 transient with a Retry-After header."""
    response = error_response(PublishError("broker down"))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0


def test_auth_errors_keep_their_status() -> None:
    """AuthError 401 carries a Bearer challenge; 403 does not."""
    assert error_response(AuthError("no token")).headers["www-authenticate"] == "Bearer"
    forbidden = error_response(AuthError("not yours", status=403))
    assert forbidden.status_code == 403
    assert "www-authenticate" not in forbidden.headers


def test_document_too_large_is_413() -> None:
    """The connector's size error maps to 413 too-long."""
    assert error_response(DocumentTooLargeError("too big")).status_code == 413
