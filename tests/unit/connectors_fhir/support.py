"""Test support for the health connector: an app wired with in-memory fakes, and test data.

The app is built the way the composition root builds it (ports on ``app.state``, the router
under ``/fhir``, ``error_response`` as the exception handler), with fakes for every port.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from connectors.fhir.outcome import error_response
from connectors.fhir.ports import (
    InMemorySubmissionLedger,
    InMemoryTaskEvents,
    InMemoryTaskStore,
    InMemoryUrlFetcher,
)
from connectors.fhir.router import router
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.errors import EhcpError
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings

DATA = Path(__file__).parent / "data"
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
NHS_NUMBER = "9434765919"
OTHER_NHS_NUMBER = "9434765870"
BAD_NHS_NUMBER = "9434765918"  # 943476591 has check digit 9, not 8
FHIR_JSON = "application/fhir+json"
ALLOWED_HOST = "documents.rbz.nhs.example"
MAX_BYTES = 2048
ADVICE_TEXT = b"%PDF-1.4 Medical advice for the EHC needs assessment of the child.\n"


@dataclass
class Harness:
    """The app under test, its fakes and the tokens of the agencies calling it."""

    app: FastAPI
    client: TestClient
    settings: Settings
    publisher: InMemoryPublisher
    docstore: InMemoryDocumentStore
    submissions: InMemorySubmissionLedger
    tasks: InMemoryTaskStore
    task_events: InMemoryTaskEvents
    url_fetcher: InMemoryUrlFetcher
    clock: FixedClock
    rbz_token: str
    rx1_token: str
    school_token: str

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        """Request headers: FHIR JSON, and the RBZ token unless another is given."""
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **extra}
        headers["Authorization"] = f"Bearer {token or self.rbz_token}"
        return headers

    def post(self, path: str, body: Any, token: str | None = None, **extra: str) -> Any:
        """POST a JSON body (a dict, or raw bytes sent as they are)."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(path, content=content, headers=self.headers(token, **extra))

    def put(self, path: str, body: Any, token: str | None = None) -> Any:
        """PUT a JSON body."""
        return self.client.put(path, content=json.dumps(body).encode(),
                               headers=self.headers(token))

    def get(self, path: str, token: str | None = None, **params: str) -> Any:
        """GET with the caller's token."""
        return self.client.get(path, params=params, headers=self.headers(token))


def build_app(settings: Settings, **ports: Any) -> FastAPI:
    """The app as the composition root builds it, with the given ports on ``app.state``."""
    app = FastAPI()
    for name, port in ports.items():
        setattr(app.state, name, port)
    app.state.settings = settings

    async def handle(_: Request, exc: Exception) -> Response:
        return error_response(exc)

    # EhcpError as well as Exception: Starlette runs an Exception handler in its outermost
    # middleware and re-raises after answering, which TestClient would surface as a failure.
    app.add_exception_handler(EhcpError, handle)
    app.add_exception_handler(Exception, handle)
    app.include_router(router, prefix="/fhir")
    return app


def advice_document(**overrides: Any) -> dict[str, Any]:
    """A valid advice DocumentReference from RBZ for the child 9434765919."""
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "https://rbz.nhs.example/Id/advice",
                             "value": "ADV-2025-000117"},
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": "https://ehcp-exchange.org/CodeSystem/advice-type",
                             "code": "medical", "display": "Medical advice"}]},
        "subject": {"type": "Patient",
                    "identifier": {"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBER}},
        "date": "2025-03-07T14:05:00+00:00",
        "custodian": {"type": "Organization",
                      "identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"}},
        "description": "Medical advice (reg 6(1)(c))",
        "content": [{"attachment": {
            "contentType": "application/pdf",
            "data": base64.b64encode(ADVICE_TEXT).decode(),
            "title": "Medical advice",
        }}],
    }
    resource.update(copy.deepcopy(overrides))
    return resource


def advice_request(request_id: str = "REQ-2025-0042", *, owner: str = "RBZ",
                   nhs_number: str = NHS_NUMBER, case_id: str = "CASE-2025-0007") -> dict[str, Any]:
    """An ``AdviceRequested`` record (as fastavro decodes it) asking ``owner`` for advice."""
    return {
        "event_id": f"evt-{request_id}",
        "request_id": request_id,
        "case_id": case_id,
        "advice_type": "MEDICAL",
        "regulation": "reg 6(1)(c)",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": owner},
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "sent_on": date(2025, 3, 3),
        "due_on": date(2025, 4, 14),
    }


def load(name: str) -> dict[str, Any]:
    """A JSON resource from the test data folder."""
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def issue(response: Any) -> dict[str, Any]:
    """The single issue of an OperationOutcome response (checks it is one)."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert len(body["issue"]) == 1
    first: dict[str, Any] = body["issue"][0]
    return first
