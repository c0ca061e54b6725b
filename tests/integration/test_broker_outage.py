"""A broker outage mid-submission: clients get 503, retry after it returns, and nothing is lost or doubled.

This test runs its own broker (the session broker must stay up for the other tests), stops it
between two submissions, and starts it again from the same data folder.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import InMemoryTaskStore
from connectors.kafka_publisher import KafkaPublisher
from connectors.ledger import FileSubmissionLedger
from connectors.ports import InMemoryDocumentStore
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS, catalogue
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_outage_gives_503_and_the_retry_lands_exactly_once(own_broker: LocalBroker, tmp_path: Path) -> None:
    """Advice posted while Kafka is down gets 503 + Retry-After; retried later it is in Kafka once.

    Two connector instances share one submission ledger file, as two processes would (each has
    its own Kafka producer, ledger object and event loop): the 503 comes from one, the retries go
    to the other. The first send may still land after its 503; the retry must not add a copy.
    """
    settings = Settings(kafka_bootstrap=own_broker.config.bootstrap, pseudonym_key="k" * 40,
                        publish_timeout_s=4.0, documents_dir=tmp_path / "docs")
    apply_topics(settings, catalogue(settings.app_id))
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, demo.DEMO_HEALTH_ODS, "health")
    credentials.add(credential)
    tasks = InMemoryTaskStore()  # the health body was asked about the demo child
    tasks.add(advice_request(owner=demo.DEMO_HEALTH_ODS, nhs_number=demo.DEMO_NHS_NUMBER,
                             case_id=demo.DEMO_CASE))

    def instance() -> FastAPI:
        return create_app(settings, Ports(
            publisher=KafkaPublisher(settings, default_codec(), source="/tests"),
            docstore=InMemoryDocumentStore(), credentials=credentials, tasks=tasks,
            submissions=FileSubmissionLedger(tmp_path / "submissions.jsonl")))

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    before_outage = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
    during_outage = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
    with TestClient(instance()) as client, TestClient(instance()) as other:
        assert client.post("/fhir/DocumentReference", json=before_outage, headers=headers).status_code == 201

        own_broker.stop()
        r = client.post("/fhir/DocumentReference", json=during_outage, headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]
        assert r.json()["resourceType"] == "OperationOutcome"

        own_broker.start(timeout_s=180)
        retried = None
        for _ in range(20):  # the client's retry loop, honouring Retry-After in spirit
            retried = other.post("/fhir/DocumentReference", json=during_outage, headers=headers)
            if retried.status_code != 503:
                break
        assert retried is not None
        assert retried.status_code in (200, 201), retried.text
        again = client.post("/fhir/DocumentReference", json=during_outage, headers=headers)
        assert again.status_code == 200
        assert again.json()["id"] == retried.json()["id"]

    codec = default_codec()
    ids = Counter(codec.decode(r.value or b"")[1].get("contribution_id")
                  for r in read_partitions(settings, CONTRIBUTIONS.name))
    expected = {f"urn:uuid:{before_outage['masterIdentifier']['value'].split(':')[-1]}",
                f"urn:uuid:{during_outage['masterIdentifier']['value'].split(':')[-1]}"}
    assert {k: v for k, v in ids.items() if k in expected} == dict.fromkeys(expected, 1)
