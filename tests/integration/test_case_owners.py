"""The case-owner index rebuilt from ehcp.referrals.v1 on the real broker refuses another LA's case (#13 item 7)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.case_owners import CaseOwnerFeed, CaseOwners
from connectors.education.models import ReferralIn, referral_record
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher, PublishedEvent
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import REFERRALS
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

pytestmark = pytest.mark.integration


def test_a_case_referred_by_la_999_is_refused_to_la_886(kafka_settings: Settings) -> None:
    """After LA 999's referral is in Kafka, a fresh index knows the case: LA 886's advice on it is 403, LA 999's 202."""
    case_id = f"EHC-999-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    credentials = InMemoryCredentialStore()
    tokens = {}
    for la, kind in (("999", "education"), ("886", "social_care"), ("999", "social_care")):
        credential, tokens[(la, kind)] = new_credential(LA_CODE_SYSTEM, la, kind)
        credentials.add(credential)

    async def refer_then_rebuild() -> CaseOwners:
        publisher = KafkaPublisher(kafka_settings, default_codec(), source="/tests")
        try:
            record = referral_record(ReferralIn.model_validate(demo.referral(now, case_id)))
            schema = REFERRALS.value_schema or ""
            await publisher.publish(PublishedEvent(
                topic=REFERRALS.name, key=case_id, schema_name=schema, record=record,
                ce_type=event_type(schema), ce_subject=case_id))
        finally:
            await publisher.close()
        owners = CaseOwners()
        feed = CaseOwnerFeed(kafka_settings, default_codec(), owners)
        runner = asyncio.create_task(feed.run())
        try:
            for _ in range(600):
                if owners.owner(case_id) is not None:
                    break
                assert not runner.done(), runner
                await asyncio.sleep(0.1)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        return owners

    owners = asyncio.run(refer_then_rebuild())
    assert owners.owner(case_id) == "999"

    publisher = InMemoryPublisher()
    app = create_app(kafka_settings, Ports(publisher=publisher, docstore=InMemoryDocumentStore(),
                                           credentials=credentials, case_owners=owners))
    advice = {**demo.educational_advice(now, case_id), "advice_type": "SOCIAL_CARE",
              "contribution_id": f"SC-{case_id}"}
    with TestClient(app) as client:
        refused = client.post("/api/social-care/advice", json=advice,
                              headers={"Authorization": f"Bearer {tokens[('886', 'social_care')]}"})
        accepted = client.post("/api/social-care/advice", json=advice,
                               headers={"Authorization": f"Bearer {tokens[('999', 'social_care')]}"})
    assert refused.status_code == 403, refused.text
    assert accepted.status_code == 202, accepted.text
