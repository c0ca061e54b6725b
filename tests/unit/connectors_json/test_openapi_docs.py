"""The JSON APIs' description (#13 item 18): security scheme, examples, error answers, offline /docs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

#: The connectors' clock for the examples: after every date they carry.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ERROR_STATUSES = ("401", "403", "413", "415", "422", "503")
#: What every JSON operation answers besides its 2xx (reads included).
EVERY_OPERATION = ("401", "403", "422", "503")


@pytest.fixture(scope="module")
def app_and_tokens() -> tuple[Any, dict[str, str]]:
    """The app with an education and a social care credential for LA 999, and a pinned clock."""
    credentials = InMemoryCredentialStore()
    tokens = {}
    for kind in ("education", "social_care"):
        credential, tokens[kind] = new_credential(LA_CODE_SYSTEM, "999", kind)
        credentials.add(credential)
    app = create_app(Settings(pseudonym_key="p" * 32),
                     Ports(publisher=InMemoryPublisher(), docstore=InMemoryDocumentStore(),
                           credentials=credentials, clock=FixedClock(NOW)))
    return app, tokens


@pytest.fixture(scope="module")
def document(app_and_tokens: tuple[Any, dict[str, str]]) -> dict[str, Any]:
    """The OpenAPI document as served."""
    with TestClient(app_and_tokens[0]) as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _json_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The JSON writes (operations with a request body)."""
    return [(path, method, op) for path, item in document["paths"].items()
            if path.startswith("/api/") for method, op in item.items() if "requestBody" in op]


def _read_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The JSON reads (GET, no body)."""
    return [(path, method, op) for path, item in document["paths"].items()
            if path.startswith("/api/") for method, op in item.items() if method == "get"]


def _event_writes(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The operations that accept an event (202), as opposed to the advice-request routes."""
    return [(path, method, op) for path, method, op in _json_operations(document)
            if "202" in op["responses"]]


def test_the_document_has_a_bearer_security_scheme_every_operation_uses(
        document: dict[str, Any]) -> None:
    """components.securitySchemes has an HTTP bearer scheme (Swagger UI's Authorize) and every JSON operation requires it."""
    schemes = document["components"]["securitySchemes"]
    assert len(schemes) == 1
    (name, scheme), = schemes.items()
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    writes = _json_operations(document)
    assert len(writes) == 8
    assert len(_event_writes(document)) == 6
    reads = _read_operations(document)
    assert {path for path, _, _ in reads} >= {
        "/api/la/cases", "/api/la/cases/{case_id}", "/api/la/alerts",
        "/api/la/documents/{sha256}", "/api/education/requests", "/api/social-care/requests"}
    for path, method, op in writes + reads:
        assert op.get("security") == [{name: []}], (method, path)


def test_every_json_operation_documents_its_error_answers_as_problem_details(
        document: dict[str, Any]) -> None:
    """Each event write lists 401, 403, 413, 415, 422 and 503, every operation at least 401, 403, 422 and 503, each error with a Problem body and an example of it."""
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    writes = {(path, method) for path, method, _ in _event_writes(document)}
    for path, method, op in _json_operations(document):
        expected = ERROR_STATUSES if (path, method) in writes else EVERY_OPERATION
        assert set(expected) <= set(op["responses"]), (method, path)
        for status in [s for s in op["responses"] if not s.startswith("2")]:
            response = op["responses"][status]
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}
            assert content["application/problem+json"]["example"]["status"] == int(status)


def test_every_json_read_documents_its_error_answers_and_an_example_answer(
        document: dict[str, Any]) -> None:
    """Each JSON read lists 401, 403, 422 and 503 as Problem bodies with examples, and a JSON
    answer's schema carries an example."""
    schemas = document["components"]["schemas"]
    for path, method, op in _read_operations(document):
        for status in ("401", "403", "422", "503"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["example"]["status"] == int(status)
        answer = op["responses"]["200"]["content"]
        if "application/json" in answer:
            name = answer["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[name].get("examples"), (method, path)


def test_every_json_operation_has_a_request_and_a_response_example(
        document: dict[str, Any]) -> None:
    """Each JSON operation's request body (if any) and its 2xx answer carry an example."""
    schemas = document["components"]["schemas"]
    for path, method, op in _json_operations(document):
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            schema = media["schema"]
            assert media.get("examples") or schemas[schema["$ref"].rsplit("/", 1)[-1]].get(
                "examples"), (method, path)
        ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
        answer = ok["content"]["application/json"]["schema"]
        name = answer["$ref"].rsplit("/", 1)[-1]
        assert schemas[name].get("examples"), (method, path)


def test_every_request_example_is_accepted_by_its_operation(
        app_and_tokens: tuple[Any, dict[str, str]], document: dict[str, Any]) -> None:
    """Posting each documented example (synthetic ids with valid check digits) answers 202: the examples cannot drift from the checks."""
    app, tokens = app_and_tokens
    posted = 0
    with TestClient(app) as client:
        for path, _, op in _event_writes(document):
            token = tokens["social_care" if path.startswith("/api/social-care/") else "education"]
            for example in op["requestBody"]["content"]["application/json"]["examples"].values():
                body = example["value"]
                url = path.replace("{case_id}", str(body.get("case_id", "EHC-999-0001")))
                r = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 202, (path, r.text)
                posted += 1
    assert posted >= 6


def test_a_json_write_not_sent_as_json_is_415_problem(
        app_and_tokens: tuple[Any, dict[str, str]]) -> None:
    """A body sent as text/plain is refused with 415 and a problem body, as documented."""
    app, tokens = app_and_tokens
    with TestClient(app) as client:
        r = client.post("/api/education/advice", content=b'{"advice_type": "EDUCATIONAL"}',
                        headers={"Authorization": f"Bearer {tokens['education']}",
                                 "Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 415


def test_docs_page_loads_only_local_assets_and_they_are_served(
        app_and_tokens: tuple[Any, dict[str, str]]) -> None:
    """GET /docs references no other host, and each script, stylesheet and icon it names answers 200 with its content type."""
    with TestClient(app_and_tokens[0]) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "SwaggerUIBundle" in page.text
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
            r"url: '([^']+)'", page.text)
        assert len(urls) >= 4
        assert not [u for u in urls if not u.startswith("/")], urls
        assert "http://" not in page.text
        assert "https://" not in page.text
        expected = {".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                    ".json": "application/json"}
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, url
            suffix = "." + url.rsplit(".", 1)[-1]
            assert r.headers["content-type"].startswith(expected[suffix]), url
            assert len(r.content) > 100, url


def test_docs_api_md_reference_matches_the_openapi_document(document: dict[str, Any]) -> None:
    """docs/api.md's field-by-field reference and example bodies are exactly what the models generate (regenerate with python -m connectors.api_docs docs/api.md)."""
    from connectors.api_docs import REFERENCE_BEGIN, REFERENCE_END, reference_markdown
    from tests.support import REPO

    text = (REPO / "docs" / "api.md").read_text()
    start, end = text.index(REFERENCE_BEGIN), text.index(REFERENCE_END)
    assert text[start:end + len(REFERENCE_END) + 1] == reference_markdown(document)
    for field in ("`nhs_number`", "`received_at`", "`contribution_id`", "`sent_on`", "`errors`"):
        assert field in text[start:end]
