"""HttpsUrlFetcher against a real local https server (certificate from a test CA via trustme).

The FHIR and the JSON advice routes both read urls through it (connectors/documents.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import trustme
from fastapi.testclient import TestClient

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.errors import DocumentFetchError, DocumentTooLargeError
from connectors.fhir.url_fetcher import HttpsUrlFetcher
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.errors import ValidationError
from ehcp.identifiers import SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

from .support import ADVICE_TEXT, MAX_BYTES, Harness, advice_document, advice_request

HOST = "localhost"


class _Handler(BaseHTTPRequestHandler):
    """Serves the cases the fetcher must handle, by path."""

    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:  # keep test output quiet
        """Say nothing."""

    def do_GET(self) -> None:
        """Answer by path."""
        self.requests.append(self.path)
        if self.path == "/advice.pdf":
            self._send(200, ADVICE_TEXT, length=True)
        elif self.path == "/declared-too-big.pdf":
            self.send_response(200)
            self.send_header("Content-Length", str(MAX_BYTES + 1))
            self.end_headers()
            self.wfile.write(b"x" * (MAX_BYTES + 1))
        elif self.path == "/endless.pdf":  # no Content-Length: the fetcher must count
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"y" * 1024)
        elif self.path == "/moved.pdf":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow.pdf":
            time.sleep(2)
            self._send(200, ADVICE_TEXT, length=True)
        else:
            self._send(404, b"not here", length=True)

    def _send(self, status: int, body: bytes, *, length: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/pdf")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="module")
def server(ca: trustme.CA) -> Iterator[str]:
    """An https server on localhost with a certificate from ``ca``; yields its base url."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The CA certificate as a PEM file, as an operator would configure it."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def fetch(url: str, ca_file: Path | None, *, hosts: tuple[str, ...] = (HOST,),
          timeout_s: float = 5.0, max_bytes: int = MAX_BYTES) -> bytes:
    """Fetch through a fresh fetcher and close it."""
    async def run() -> bytes:
        fetcher = HttpsUrlFetcher(hosts, timeout_s=timeout_s, ca_file=ca_file)
        try:
            return (await fetcher.fetch(url, max_bytes)).content
        finally:
            await fetcher.close()
    return asyncio.run(run())


def test_an_allowed_url_is_read(server: str, ca_file: Path) -> None:
    """The document's bytes come back unchanged."""
    assert fetch(f"{server}/advice.pdf", ca_file) == ADVICE_TEXT


def test_a_host_off_the_allow_list_is_refused_without_a_request(server: str,
                                                                 ca_file: Path) -> None:
    """The fetcher checks the host itself, before connecting."""
    before = len(_Handler.requests)
    with pytest.raises(ValidationError, match="configured hosts"):
        fetch(f"{server}/advice.pdf", ca_file, hosts=("documents.rbz.nhs.example",))
    assert len(_Handler.requests) == before


def test_plain_http_is_refused(ca_file: Path) -> None:
    """Only https."""
    with pytest.raises(ValidationError, match="https"):
        fetch(f"http://{HOST}/advice.pdf", ca_file)


def test_an_untrusted_certificate_is_a_fetch_error(server: str) -> None:
    """Without the test CA the server's certificate does not verify."""
    with pytest.raises(DocumentFetchError, match="could not be read"):
        fetch(f"{server}/advice.pdf", None)


def test_a_redirect_is_not_followed(server: str, ca_file: Path) -> None:
    """A redirect (here towards a metadata address) is refused, not followed."""
    with pytest.raises(DocumentFetchError, match="redirect"):
        fetch(f"{server}/moved.pdf", ca_file)


def test_an_error_status_is_a_fetch_error(server: str, ca_file: Path) -> None:
    """404 from the document host is reported with its status."""
    with pytest.raises(DocumentFetchError, match="HTTP 404"):
        fetch(f"{server}/gone.pdf", ca_file)


def test_a_declared_length_over_the_limit_is_refused(server: str, ca_file: Path) -> None:
    """Content-Length beyond the limit: 413 without reading the body."""
    with pytest.raises(DocumentTooLargeError):
        fetch(f"{server}/declared-too-big.pdf", ca_file)


def test_an_undeclared_body_is_cut_off_at_the_limit(server: str, ca_file: Path) -> None:
    """With no Content-Length the fetcher counts the bytes and stops past the limit."""
    with pytest.raises(DocumentTooLargeError):
        fetch(f"{server}/endless.pdf", ca_file)


def test_a_slow_server_times_out(server: str, ca_file: Path) -> None:
    """No answer within the timeout: a fetch error the client may retry."""
    with pytest.raises(DocumentFetchError, match="in time"):
        fetch(f"{server}/slow.pdf", ca_file, timeout_s=0.5)


def test_advice_by_url_is_fetched_stored_and_published(harness: Harness, server: str,
                                                       ca_file: Path) -> None:
    """Through the FHIR API: a url on the allow-list is fetched, stored and claimed on the event."""
    harness.tasks.add(advice_request())
    state = harness.app.state
    state.settings = state.settings.model_copy(update={"document_url_hosts": (HOST,)})
    state.url_fetcher = HttpsUrlFetcher((HOST,), timeout_s=5, ca_file=ca_file)
    document = advice_document()
    document["content"][0]["attachment"] = {"contentType": "application/pdf",
                                            "url": f"{server}/advice.pdf"}
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 201, response.text
    (event,) = harness.publisher.events
    digest = hashlib.sha256(ADVICE_TEXT).hexdigest()
    assert event.record["document"]["sha256"] == digest
    assert harness.docstore.blobs[digest] == ADVICE_TEXT

    document["masterIdentifier"]["value"] = "ADV-2025-000118"
    document["content"][0]["attachment"]["url"] = f"{server}/moved.pdf"
    response = harness.post("/fhir/DocumentReference", document)
    assert response.status_code == 502, response.text
    assert len(harness.publisher.events) == 1


def test_json_advice_by_url_is_fetched_over_real_https_stored_and_published(
        server: str, ca_file: Path) -> None:
    """Through the JSON API (school advice): the same fetcher reads the url; a redirect is 502."""
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(SCHOOL_URN_SYSTEM, "100001", "education")
    credentials.add(credential)
    publisher, docstore = InMemoryPublisher(), InMemoryDocumentStore()
    fetcher = HttpsUrlFetcher((HOST,), timeout_s=5, ca_file=ca_file)
    settings = Settings(pseudonym_key="p" * 32, max_document_bytes=MAX_BYTES,  # type: ignore[arg-type]
                        document_url_hosts=(HOST,))
    app = create_app(settings, Ports(publisher=publisher, docstore=docstore,
                                     credentials=credentials, url_fetcher=fetcher))
    body = {"contribution_id": "EDU-URL-1", "advice_type": "EDUCATIONAL",
            "case_id": "EHC-999-URL-0001", "submitted_at": "2026-10-06T14:00:00+01:00",
            "document": {"url": f"{server}/advice.pdf"}}
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        r = client.post("/api/education/advice", json=body, headers=headers)
        assert r.status_code == 202, r.text
        (event,) = publisher.events
        digest = hashlib.sha256(ADVICE_TEXT).hexdigest()
        assert event.record["document"] == {"sha256": digest, "size_bytes": len(ADVICE_TEXT),
                                            "content_type": "application/pdf"}
        assert docstore.blobs[digest] == ADVICE_TEXT

        body = {**body, "contribution_id": "EDU-URL-2",
                "document": {"url": f"{server}/moved.pdf", "content_type": "application/pdf"}}
        r = client.post("/api/education/advice", json=body, headers=headers)
        assert r.status_code == 502, r.text
        assert "redirect" in r.json()["detail"]
        body["document"] = {"url": f"{server}/endless.pdf", "content_type": "application/pdf"}
        r = client.post("/api/education/advice", json=body, headers=headers)
        assert r.status_code == 413, r.text
        assert r.json()["errors"][0]["location"] == "/document/url"
    assert len(publisher.events) == 1
    asyncio.run(fetcher.close())
