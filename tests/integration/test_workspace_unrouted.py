"""Routing an unrouted contribution from the workspace against the real broker: the workspace
reads the ContributionUnrouted back by its position and publishes an UnroutedDecided under its key
(what the worker then does with it: tests/e2e/test_unrouted_decisions.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.audit import InMemoryAuditSpool
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore, PublishedEvent
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import AUDIT, CONTRIBUTIONS, UNROUTED
from ehcp.kafka_io.readers import read_partitions
from ehcp.readmodel import people
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import apply_batch, open_engine
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.workspace_support import CASE, add_user, csrf_of, sign_in, standard_read_model
from workspace.app import Ports, create_app
from workspace.unrouted import KafkaUnroutedRecords

pytestmark = pytest.mark.integration


def _put_unrouted(settings: Settings, contribution_id: str) -> tuple[str, int, int, bytes]:
    """Publish a ContributionUnrouted as the worker would; its event id, position and bytes."""
    topic, key, value, _ = rr.unrouted(contribution_id)
    codec = default_codec()
    _, record = codec.decode(value)

    async def publish() -> tuple[int, int]:
        publisher = KafkaPublisher(settings, codec, source="/tests/worker")
        try:
            receipt = await publisher.publish(PublishedEvent(
                topic=topic, key=key.decode(), schema_name=records.CONTRIBUTION_UNROUTED,
                record=record, ce_type=event_type(records.CONTRIBUTION_UNROUTED),
                ce_subject=contribution_id))
        finally:
            await publisher.close()
        return receipt.partition, receipt.offset

    partition, offset = asyncio.run(publish())
    return str(record["event_id"]), partition, offset, value


def test_a_manager_routes_an_unrouted_contribution_through_kafka(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """The decision is on ehcp.contributions.v1 under the unrouted record's key, then the
    ActionTaken on ehcp.audit.v1; a position past the end reads as gone (None)."""
    event_id, partition, offset, value = _put_unrouted(kafka_settings, "RVV-ADV-KAFKA-ROUTE")
    source = KafkaUnroutedRecords(kafka_settings)
    stored = source.record(partition, offset)
    assert stored is not None
    assert (stored.key, stored.value) == (b"child-key", value)
    assert source.record(partition, offset + 10_000) is None

    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    standard_read_model(engine)
    apply_batch(engine, [Source(UNROUTED.name, partition, offset, b"child-key", value)],
                default_codec())
    user, secret = add_user(engine, "mgr.route", people.Role.MANAGER)
    settings = kafka_settings.model_copy(update={"workspace_plain_http": True})
    publisher = KafkaPublisher(settings, default_codec(), source="/tests/workspace")

    @contextlib.asynccontextmanager
    async def closing(_: object) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = create_app(settings, Ports(engine=engine, publisher=publisher,
                                     docstore=InMemoryDocumentStore(),
                                     audit_spool=InMemoryAuditSpool(), unrouted_records=source),
                     lifespan=closing)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, user.username, secret, app.state.clock).status_code == 303
        queue = client.get("/queue")
        assert "RVV-ADV-KAFKA-ROUTE" in queue.text
        assert re.search(f"/queue/{event_id}/route", queue.text)
        r = client.post(f"/queue/{event_id}/route",
                        data={"csrf_token": csrf_of(queue.text), "case_id": CASE},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        assert "RVV-ADV-KAFKA-ROUTE" not in client.get("/queue").text
    codec = default_codec()
    published = [(rec.key, *codec.decode(rec.value or b""))
                 for rec in read_partitions(kafka_settings, CONTRIBUTIONS.name)]
    mine = [(k, v) for k, name, v in published if name == records.UNROUTED_DECIDED
            and v["unrouted_event_id"] == event_id]
    assert len(mine) == 1
    key, advice = mine[0]
    assert key == b"child-key"  # the ContributionUnrouted's key: where the worker parked it
    assert (advice["decision"], advice["case_id"]) == ("ROUTED", CASE)
    assert advice["contribution"]["contribution_id"] == "RVV-ADV-KAFKA-ROUTE"
    actions = [codec.decode(rec.value or b"")[1]
               for rec in read_partitions(kafka_settings, AUDIT.name)
               if rec.key == user.user_id.encode()]
    assert [(a["action"], a["target_id"], a["published_event_id"]) for a in actions] == [
        ("UNROUTED_ROUTED", event_id, advice["event_id"])]
    engine.dispose()
