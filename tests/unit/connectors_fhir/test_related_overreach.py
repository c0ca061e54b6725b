"""Naming another organisation's Task or request in context.related: 403 + audit, no existence oracle (#13 item 3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import InMemoryTaskStore
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings

from .support import FHIR_JSON, NOW, advice_document, advice_request

REQUEST_SYSTEM = "https://ehcp-exchange.org/Id/advice-request"


class Edge:
    """The full connectors app (audit included) with RBZ's credential and a Task store."""

    def __init__(self, *, complete: bool = True) -> None:
        self.publisher = InMemoryPublisher()
        self.tasks = InMemoryTaskStore(complete=complete)
        # RBZ was asked about the child (so advice naming no request would be accepted);
        # RX1 holds REQ-RX1-0001.
        self.tasks.add(advice_request("REQ-RBZ-0001", owner="RBZ"))
        self.tasks.add(advice_request("REQ-RX1-0001", owner="RX1"))
        credentials = InMemoryCredentialStore()
        credential, self.token = new_credential(ODS_ORGANISATION_SYSTEM, "RBZ", "health")
        credentials.add(credential)
        app = create_app(
            Settings(pseudonym_key="test-pseudonym-key-not-for-production-0001"),  # type: ignore[arg-type]
            Ports(publisher=self.publisher, docstore=InMemoryDocumentStore(),
                  credentials=credentials, tasks=self.tasks, clock=FixedClock(NOW)))
        self.client = TestClient(app)

    def submit(self, related: dict[str, Any], identifier: str) -> Any:
        """POST advice from RBZ whose context.related is ``related``."""
        document = advice_document(
            context={"related": [related]},
            masterIdentifier={"system": "https://rbz.nhs.example/Id/advice", "value": identifier})
        return self.client.post("/fhir/DocumentReference", json=document, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": FHIR_JSON})

    def audited(self) -> list[str]:
        """The reasons of the AccessRefused events published so far."""
        return [str(e.record["reason"]) for e in self.publisher.events if e.topic == AUDIT.name]


@pytest.mark.parametrize(("unknown", "others"), [
    ({"reference": "Task/REQ-NOBODY-0001"}, {"reference": "Task/REQ-RX1-0001"}),
    ({"identifier": {"system": REQUEST_SYSTEM, "value": "REQ-NOBODY-0001"}},
     {"identifier": {"system": REQUEST_SYSTEM, "value": "REQ-RX1-0001"}}),
], ids=["task-reference", "request-identifier"])
def test_an_unknown_and_another_organisations_request_get_the_same_403_and_audit(
        unknown: dict[str, Any], others: dict[str, Any]) -> None:
    """A Task or request that does not exist and RX1's own get the same 403 body, each audited, nothing published."""
    edge = Edge()
    first = edge.submit(unknown, "ADV-1")
    second = edge.submit(others, "ADV-2")
    assert (first.status_code, second.status_code) == (403, 403), (first.text, second.text)
    assert first.json() == second.json()
    assert first.json()["issue"][0]["code"] == "forbidden"
    assert len(edge.audited()) == 2
    assert all("not addressed to your organisation" in reason for reason in edge.audited())
    assert [e for e in edge.publisher.events if e.topic != AUDIT.name] == []


@pytest.mark.parametrize("related", [
    {"reference": "Task/REQ-RBZ-0001"},
    {"identifier": {"system": REQUEST_SYSTEM, "value": "REQ-RBZ-0001"}},
], ids=["task-reference", "request-identifier"])
def test_the_callers_own_request_is_still_accepted(related: dict[str, Any]) -> None:
    """RBZ naming its own request is accepted and carries the request's id and case."""
    edge = Edge()
    response = edge.submit(related, "ADV-3")
    assert response.status_code == 201, response.text
    (event,) = edge.publisher.events
    assert event.record["request_id"] == "REQ-RBZ-0001"
    assert edge.audited() == []


def test_before_the_task_feed_has_caught_up_both_are_503_alike() -> None:
    """Just after start-up an unknown request and RX1's both get the same 503: neither is refused yet."""
    edge = Edge(complete=False)
    first = edge.submit({"reference": "Task/REQ-NOBODY-0001"}, "ADV-4")
    second = edge.submit({"reference": "Task/REQ-RX1-0001"}, "ADV-5")
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json() == second.json()
    assert first.headers["retry-after"] == second.headers["retry-after"]
    assert edge.audited() == []
