"""JSON advice may carry a document (issue #15 item 2): inline or an allow-listed url, claimed on the event."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.documents import FetchedDocument, InMemoryUrlFetcher
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.identifiers import LA_CODE_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)
MAX_BYTES = 2048
HOST = "documents.school.example"
PDF = b"%PDF-1.4\n% Educational advice for the EHC needs assessment\n%%EOF\n"


@dataclass
class Api:
    """The app with fakes: a school and LA 999's social care team may post advice."""

    client: TestClient
    publisher: InMemoryPublisher
    docstore: InMemoryDocumentStore
    fetcher: InMemoryUrlFetcher
    tokens: dict[str, str]

    def advice(self, document: Any, who: str = "school", **fields: Any) -> Any:
        """POST educational (school) or social care advice carrying ``document``."""
        body = {**demo.educational_advice(NOW), "document": document, **fields}
        path = "/api/education/advice"
        if who == "social_care":
            body["advice_type"] = "SOCIAL_CARE"
            path = "/api/social-care/advice"
        return self.client.post(path, json=body,
                                headers={"Authorization": f"Bearer {self.tokens[who]}"})


@pytest.fixture
def api() -> Iterator[Api]:
    """A fresh app whose documents may be fetched from HOST only."""
    credentials = InMemoryCredentialStore()
    tokens = {}
    for who, kind, system, value in (("school", "education", SCHOOL_URN_SYSTEM, "100001"),
                                     ("social_care", "social_care", LA_CODE_SYSTEM, "999")):
        credential, tokens[who] = new_credential(system, value, kind)
        credentials.add(credential)
    settings = Settings(pseudonym_key="p" * 32, max_document_bytes=MAX_BYTES,  # type: ignore[arg-type]
                        document_url_hosts=(HOST,))
    publisher, docstore, fetcher = InMemoryPublisher(), InMemoryDocumentStore(), InMemoryUrlFetcher()
    app = create_app(settings, Ports(publisher=publisher, docstore=docstore,
                                     credentials=credentials, url_fetcher=fetcher,
                                     clock=FixedClock(NOW)))
    with TestClient(app) as client:
        yield Api(client, publisher, docstore, fetcher, tokens)


def inline(content: bytes = PDF, content_type: str = "application/pdf") -> dict[str, str]:
    """An inline document body."""
    return {"content_type": content_type, "data": base64.b64encode(content).decode()}


def test_an_inline_document_is_stored_and_its_claim_rides_on_the_event(api: Api) -> None:
    """The bytes go to the document store; the event carries SHA-256, size and type, never the bytes."""
    r = api.advice(inline())
    assert r.status_code == 202, r.text
    (event,) = api.publisher.events
    digest = hashlib.sha256(PDF).hexdigest()
    assert event.topic == CONTRIBUTIONS.name
    assert event.record["document"] == {"sha256": digest, "size_bytes": len(PDF),
                                        "content_type": "application/pdf"}
    assert api.docstore.blobs[digest] == PDF
    encoded = default_codec().encode(event.schema_name, event.record)
    assert PDF not in encoded
    assert default_codec().decode(encoded)[1]["document"]["sha256"] == digest


def test_social_care_advice_carries_a_document_too(api: Api) -> None:
    """The social care route takes the same document field."""
    r = api.advice(inline(b"Social care assessment summary", "text/plain"), who="social_care",
                   contribution_id="CSC-ADV-77")
    assert r.status_code == 202, r.text
    assert api.publisher.events[0].record["document"]["content_type"] == "text/plain"


def test_advice_without_a_document_still_has_none(api: Api) -> None:
    """The document stays optional: no document, no claim and nothing stored."""
    r = api.advice(None)
    assert r.status_code == 202, r.text
    assert api.publisher.events[0].record["document"] is None
    assert api.docstore.blobs == {}


def test_a_document_by_url_on_the_allow_list_is_fetched_and_stored(api: Api) -> None:
    """The url is read through the fetcher; the host's Content-Type is used when none is given."""
    url = f"https://{HOST}/advice/EDU-1.pdf"
    api.fetcher.documents[url] = FetchedDocument(PDF, "application/pdf")
    r = api.advice({"url": url})
    assert r.status_code == 202, r.text
    assert api.fetcher.fetched == [url]
    claim = api.publisher.events[0].record["document"]
    assert claim["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert claim["content_type"] == "application/pdf"


def test_a_declared_content_type_wins_over_the_hosts(api: Api) -> None:
    """With url and content_type, the sender's media type is kept."""
    url = f"https://{HOST}/advice/EDU-2"
    api.fetcher.documents[url] = FetchedDocument(PDF, "application/octet-stream")
    r = api.advice({"url": url, "content_type": "application/pdf"})
    assert r.status_code == 202, r.text
    assert api.publisher.events[0].record["document"]["content_type"] == "application/pdf"


def _refused(api: Api, r: Any, status: int, location: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert api.publisher.events == [], "nothing is published"
    assert api.docstore.blobs == {}, "nothing is stored"
    body: dict[str, Any] = r.json()
    if location:
        assert [e["location"] for e in body["errors"]] == [location]
    return body


def test_bad_base64_is_422_naming_the_field(api: Api) -> None:
    """Data that is not base64 is refused at /document/data, without echoing it."""
    r = api.advice({"content_type": "application/pdf", "data": "not*base64*zzmarkerzz"})
    body = _refused(api, r, 422, "/document/data")
    assert "zzmarkerzz" not in r.text
    assert "base64" in body["detail"]


def test_a_document_over_the_limit_is_413_before_decoding(api: Api) -> None:
    """Inline data beyond EHCP_MAX_DOCUMENT_BYTES gets 413; one byte under is accepted."""
    _refused(api, api.advice(inline(b"x" * (MAX_BYTES + 1))), 413, "/document/data")
    assert api.advice(inline(b"x" * MAX_BYTES)).status_code == 202


def test_a_wrong_content_type_is_422(api: Api) -> None:
    """content_type must be a media type, as for FHIR attachments."""
    _refused(api, api.advice(inline(content_type="pdf")), 422, "/document/content_type")


def test_a_url_off_the_allow_list_is_422_and_never_fetched(api: Api) -> None:
    """Another host, plain http or a credentials-in-host trick: refused before any request."""
    for url in ("https://intranet.example/advice.pdf", f"http://{HOST}/advice.pdf",
                f"https://{HOST}.evil.example/advice.pdf",
                f"https://{HOST}@169.254.169.254/latest"):
        r = api.advice({"url": url, "content_type": "application/pdf"})
        _refused(api, r, 422, "/document/url")
        assert url not in r.text
    assert api.fetcher.fetched == []


def test_a_fetch_failure_is_502_and_publishes_nothing(api: Api) -> None:
    """An allow-listed url that cannot be read: 502 (the client may retry), nothing accepted."""
    body = _refused(api, api.advice({"url": f"https://{HOST}/gone.pdf"}), 502, "")
    assert body["title"] == "Document url unreadable"


def test_a_fetched_document_over_the_limit_is_413(api: Api) -> None:
    """The size limit applies to what the url serves."""
    url = f"https://{HOST}/big.pdf"
    api.fetcher.documents[url] = FetchedDocument(b"x" * (MAX_BYTES + 1), "application/pdf")
    _refused(api, api.advice({"url": url}), 413, "/document/url")


def test_a_fetched_document_without_any_media_type_is_422(api: Api) -> None:
    """No content_type sent and none from the host: refused, not stored as unknown."""
    url = f"https://{HOST}/untyped"
    api.fetcher.documents[url] = FetchedDocument(PDF, None)
    _refused(api, api.advice({"url": url}), 422, "/document/content_type")


@pytest.mark.parametrize("document", [
    {"content_type": "application/pdf"},
    {"data": base64.b64encode(PDF).decode()},
    {"content_type": "application/pdf", "data": "QQ==", "url": f"https://{HOST}/a.pdf"},
    {"content_type": "application/pdf", "data": ""},
])
def test_a_document_must_be_data_with_a_type_or_a_url(api: Api, document: dict[str, str]) -> None:
    """Neither, both, data without content_type or empty data: 422 at /document."""
    r = api.advice(document)
    assert r.status_code == 422, r.text
    assert api.publisher.events == []
    assert all(e["location"].startswith("/document") for e in r.json()["errors"])


def test_an_empty_document_is_422(api: Api) -> None:
    """A url serving nothing is not advice."""
    url = f"https://{HOST}/empty.pdf"
    api.fetcher.documents[url] = FetchedDocument(b"", "application/pdf")
    _refused(api, api.advice({"url": url}), 422, "/document")


def test_a_refused_caller_never_gets_its_document_stored(api: Api) -> None:
    """Advice the caller may not give (MEDICAL from a school) is refused before storing anything."""
    r = api.advice(inline(), advice_type="MEDICAL")
    assert r.status_code == 403
    assert api.docstore.blobs == {}
    assert [e.topic for e in api.publisher.events] == ["ehcp.audit.v1"]
