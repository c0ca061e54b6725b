"""Refusals leave an AccessRefused audit event that can be read back from the real broker (#13 items 1, 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.audit import AuditTrail, FileAuditSpool
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.support import free_ports

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


def _audited(settings: Settings, credential_id: str) -> list[dict[str, object]]:
    codec = default_codec()
    return [codec.decode(rec.value or b"")[1]
            for rec in read_partitions(settings, AUDIT.name)
            if rec.key == credential_id.encode()]


def test_an_audit_event_kafka_could_not_take_is_spooled_then_replayed(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """Kafka unreachable: the 403 is answered, the event spooled at shutdown; the next start writes it to the broker."""
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(LA_CODE_SYSTEM, "997", "education")
    credentials.add(credential)
    spool = FileAuditSpool(tmp_path / "audit-spool.jsonl")
    (closed_port,) = free_ports(1)  # nothing listens there: Kafka is "down"
    down = kafka_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{closed_port}",
                                             "publish_timeout_s": 1.0})
    publisher = KafkaPublisher(down, default_codec(), source="/tests")
    app = create_app(down, Ports(publisher=publisher, docstore=InMemoryDocumentStore(),
                                 credentials=credentials, audit_spool=spool))
    app.state.audit = AuditTrail(publisher, spool, attempts=2, first_backoff_s=0.1)
    with TestClient(app) as client:
        r = client.post("/api/education/referrals", json=demo.referral(datetime.now(UTC)),
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, r.text
    (spooled,) = spool.load()
    assert spooled["credential_id"] == credential.credential_id
    assert _audited(kafka_settings, credential.credential_id) == []

    up = create_app(kafka_settings, Ports(
        publisher=KafkaPublisher(kafka_settings, default_codec(), source="/tests"),
        docstore=InMemoryDocumentStore(), credentials=credentials, audit_spool=spool))
    with TestClient(up):
        pass  # start-up replays the spool; shutdown waits for the replay
    (record,) = _audited(kafka_settings, credential.credential_id)
    assert record["event_id"] == spooled["event_id"]
    assert record["path"] == "/api/education/referrals"
    assert spool.load() == []


def test_a_workspace_action_is_an_action_taken_event_on_the_broker(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """A casework event recorded in the workspace reaches the broker, then its ActionTaken does,
    keyed by the user and naming the published event (never the form's contents)."""
    import contextlib
    import re
    import time
    from collections.abc import AsyncIterator

    from connectors.audit import InMemoryAuditSpool
    from ehcp.contract.topics import CASEWORK_EVENTS
    from ehcp.readmodel import people
    from ehcp.readmodel.store import open_engine
    from tests.workspace_support import CASE, add_user, csrf_of, sign_in, standard_read_model
    from workspace.app import Ports as WsPorts
    from workspace.app import create_app as create_workspace

    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    standard_read_model(engine)
    user, secret = add_user(engine, "mgr.action", people.Role.MANAGER)
    settings = kafka_settings.model_copy(update={"workspace_plain_http": True})
    publisher = KafkaPublisher(settings, default_codec(), source="/tests/workspace")

    @contextlib.asynccontextmanager
    async def closing(_: object) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = create_workspace(settings, WsPorts(engine=engine, publisher=publisher,
                                             docstore=InMemoryDocumentStore(),
                                             audit_spool=InMemoryAuditSpool()),
                           lifespan=closing)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, user.username, secret, app.state.clock).status_code == 303
        form = client.get(f"/cases/{CASE}/record-event")
        submission = re.search(r'name="submission_id" value="([^"]+)"', form.text)
        assert submission
        r = client.post(f"/cases/{CASE}/record-event", data={
            "csrf_token": csrf_of(form.text), "submission_id": submission.group(1),
            "type": "DecisionToAssessMade", "occurred_on": "2026-02-20"},
            follow_redirects=False)
        assert r.status_code == 303, r.text
        published = r.headers["location"].split("event=")[1]
    codec = default_codec()
    deadline = time.monotonic() + 30
    actions: list[dict[str, object]] = []
    while not actions and time.monotonic() < deadline:
        actions = [codec.decode(rec.value or b"")[1]
                   for rec in read_partitions(kafka_settings, AUDIT.name)
                   if rec.key == user.user_id.encode()]
    (action,) = actions
    assert action["action"] == "CASEWORK_EVENT_RECORDED"
    assert action["published_event_id"] == published
    assert action["case_id"] == CASE
    assert action["agency"] == {"system": LA_CODE_SYSTEM, "value": "886"}
    events = [codec.decode(rec.value or b"")[1]
              for rec in read_partitions(kafka_settings, CASEWORK_EVENTS.name)]
    assert any(e["event_id"] == published for e in events)
    engine.dispose()
