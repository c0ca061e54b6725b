"""Refusals leave an AccessRefused audit event that can be read back from the real broker (#13 item 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings

pytestmark = pytest.mark.integration


def test_a_refused_request_is_audited_on_the_audit_topic(kafka_settings: Settings) -> None:
    """LA 998 posting a referral for LA 999's case gets 403, and ehcp.audit.v1 holds the AccessRefused naming its credential."""
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(LA_CODE_SYSTEM, "998", "education")
    credentials.add(credential)
    app = create_app(kafka_settings, Ports(
        publisher=KafkaPublisher(kafka_settings, default_codec(), source="/tests"),
        docstore=InMemoryDocumentStore(), credentials=credentials))
    with TestClient(app) as client:
        r = client.post("/api/education/referrals", json=demo.referral(datetime.now(UTC)),
                        headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403, r.text
    codec = default_codec()
    mine = [codec.decode(rec.value or b"")
            for rec in read_partitions(kafka_settings, AUDIT.name)
            if rec.key == credential.credential_id.encode()]
    assert len(mine) == 1
    name, record = mine[0]
    assert name.endswith("AccessRefused")
    assert record["path"] == "/api/education/referrals"
    assert record["agency"] == {"system": LA_CODE_SYSTEM, "value": "998"}
    assert demo.DEMO_NHS_NUMBER not in str(record)
    assert token not in str(record)
