"""Interoperability: the SMART ``fhirclient`` library reads our Tasks over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fhirclient.models.task import Task as ClientTask
from fhirclient.server import FHIRNotFoundException, FHIRServer

from .support import Harness, advice_request


@pytest.fixture
def served(harness: Harness) -> Iterator[str]:
    """The harness app served by uvicorn on 127.0.0.1 at a free port; yields the FHIR base."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(harness.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def client_server(base: str, token: str) -> FHIRServer:
    """A fhirclient server handle sending our bearer token."""
    server = FHIRServer(None, base_uri=base)
    server.session.headers["Authorization"] = f"Bearer {token}"
    return server


def test_fhirclient_searches_and_reads_own_tasks(harness: Harness, served: str) -> None:
    """fhirclient parses our searchset and Task with its own R4 models."""
    harness.tasks.add(advice_request("REQ-1"))
    harness.tasks.add(advice_request("REQ-3", owner="RX1"))
    server = client_server(served, harness.rbz_token)

    search = ClientTask.where({"owner": "RBZ", "status": "requested"})
    found = list(search.perform_resources_iter(server))
    assert [t.id for t in found] == ["REQ-1"]
    task = ClientTask.read("REQ-1", server)
    assert task.status == "requested"
    assert task.intent == "order"
    assert task.owner.identifier.value == "RBZ"
    assert task.restriction.period.end.as_json() == "2025-04-14"


def test_fhirclient_sees_a_404_for_another_organisations_task(harness: Harness,
                                                              served: str) -> None:
    """Reading RX1's Task as RBZ is a 404 with an OperationOutcome in fhirclient too."""
    harness.tasks.add(advice_request("REQ-3", owner="RX1"))
    server = client_server(served, harness.rbz_token)
    with pytest.raises(FHIRNotFoundException) as raised:
        ClientTask.read("REQ-3", server)
    assert raised.value.response.json()["resourceType"] == "OperationOutcome"
