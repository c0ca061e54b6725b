"""Fixtures for the health connector tests (see :mod:`.support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import (
    InMemorySubmissionLedger,
    InMemoryTaskEvents,
    InMemoryTaskStore,
    InMemoryUrlFetcher,
)
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

from .support import ALLOWED_HOST, MAX_BYTES, NOW, Harness, build_app


@pytest.fixture
def harness() -> Iterator[Harness]:
    """A fresh app with empty fakes, RBZ (health), RX1 (health) and a school credential."""
    settings = Settings(
        pseudonym_key="test-pseudonym-key-not-for-production-0001",  # type: ignore[arg-type]
        max_document_bytes=MAX_BYTES,
        document_url_hosts=(ALLOWED_HOST,),
    )
    credentials = InMemoryCredentialStore()
    rbz, rbz_token = new_credential(ODS_ORGANISATION_SYSTEM, "RBZ", "health")
    rx1, rx1_token = new_credential(ODS_ORGANISATION_SYSTEM, "RX1", "health")
    school, school_token = new_credential(SCHOOL_URN_SYSTEM, "100001", "education")
    for credential in (rbz, rx1, school):
        credentials.add(credential)
    fakes = {
        "publisher": InMemoryPublisher(),
        "docstore": InMemoryDocumentStore(),
        "submissions": InMemorySubmissionLedger(),
        "tasks": InMemoryTaskStore(),
        "task_events": InMemoryTaskEvents(),
        "url_fetcher": InMemoryUrlFetcher(),
        "clock": FixedClock(NOW),
    }
    app = build_app(settings, credentials=credentials, **fakes)
    with TestClient(app) as client:
        yield Harness(app=app, client=client, settings=settings, rbz_token=rbz_token,
                      rx1_token=rx1_token, school_token=school_token, **fakes)
