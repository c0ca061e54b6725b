"""A contribution routed by hand from the workspace's unrouted queue, against the real worker:
the worker routes it into the chosen case once, resolves its CONTRIBUTION_UNROUTED alert, and
neither routes nor alerts it again when the child's own case appears later (issue #9)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.audit import InMemoryAuditSpool
from connectors.education.models import ReferralIn, referral_record
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore, PublishedEvent
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import ALERTS, CONTRIBUTIONS, CONTRIBUTIONS_ROUTED, REFERRALS, UNROUTED
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from ehcp.readmodel import people
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import apply_batch, create_tables, open_engine
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.e2e.conftest import Pipeline
from tests.support import synthetic_nhs_number, wait_until
from tests.workspace_support import add_user, csrf_of, sign_in
from workspace.app import Ports, create_app
from workspace.unrouted import KafkaUnroutedRecords

pytestmark = pytest.mark.e2e
CODEC = default_codec()
AGENCY = {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"}


def _publish(settings: Settings, events: list[PublishedEvent]) -> None:
    async def send() -> None:
        publisher = KafkaPublisher(settings, CODEC, source="/tests/e2e")
        try:
            for event in events:
                await publisher.publish(event)
        finally:
            await publisher.close()

    asyncio.run(send())


def _referral(case_id: str, nhs_number: str) -> PublishedEvent:
    body = demo.referral(datetime.now(UTC) - timedelta(weeks=2), case_id)
    body["child"] = {**body["child"], "nhs_number": nhs_number}
    del body["child"]["upn"]
    record = referral_record(ReferralIn.model_validate(body))
    schema = REFERRALS.value_schema or ""
    return PublishedEvent(REFERRALS.name, case_id, schema, record, event_type(schema), case_id)


def _contribution(settings: Settings, contribution_id: str, nhs_number: str) -> PublishedEvent:
    """Medical advice naming only the child's NHS number, keyed as the connectors key it."""
    record: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "contribution_id": contribution_id, "case_id": None,
        "request_id": None,
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "child_date_of_birth": None, "advice_type": "MEDICAL", "agency": AGENCY,
        "submitted_at": datetime.now(UTC), "channel": "JSON_API", "document": None,
    }
    schema = records.ADVICE_SUBMITTED
    return PublishedEvent(CONTRIBUTIONS.name, contribution_key(settings.pseudonym_key_bytes(),
                                                               record),
                          schema, record, event_type(schema), contribution_id)


def _records(settings: Settings, topic: str) -> list[tuple[Any, bytes | None, dict[str, Any]]]:
    return [(r, r.key, CODEC.decode(r.value)[1])
            for r in read_partitions(settings, topic) if r.value]


def _once(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event once (a re-sent event has the same event id: docs/contract.md)."""
    return list({v["event_id"]: v for v in values}.values())


def _routed(settings: Settings, contribution_id: str) -> list[dict[str, Any]]:
    return _once([v for _, _, v in _records(settings, CONTRIBUTIONS_ROUTED.name)
                  if v["contribution_id"] == contribution_id])


def _unrouted_alerts(settings: Settings, contribution_id: str) -> list[dict[str, Any]]:
    return _once([v for _, _, v in _records(settings, ALERTS.name)
                  if v["kind"] == "CONTRIBUTION_UNROUTED" and contribution_id in v["message"]])


def _route_by_hand(settings: Settings, tmp_path: Path, target: str, unrouted: Any) -> None:
    """A manager of LA 999 routes the queued contribution into ``target`` in the workspace."""
    record, key, value = unrouted
    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    create_tables(engine)
    people.create_people_tables(engine)
    apply_batch(engine, [
        Source(REFERRALS.name, 0, 0, *rr.referral(target, "999")[1:3]),
        Source(UNROUTED.name, record.partition, record.offset, key, value),
    ], CODEC, settings.pseudonym_key_bytes())
    user, secret = add_user(engine, f"mgr.{target.lower()}", people.Role.MANAGER, la_code="999")
    ws_settings = settings.model_copy(update={"workspace_plain_http": True})
    publisher = KafkaPublisher(ws_settings, CODEC, source="/tests/workspace")

    @contextlib.asynccontextmanager
    async def closing(_: object) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = create_app(ws_settings, Ports(
        engine=engine, publisher=publisher, docstore=InMemoryDocumentStore(),
        audit_spool=InMemoryAuditSpool(), unrouted_records=KafkaUnroutedRecords(ws_settings)),
        lifespan=closing)
    event_id = CODEC.decode(value)[1]["event_id"]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, user.username, secret, app.state.clock).status_code == 303
        queue = client.get("/queue")
        assert f"/queue/{event_id}/route" in queue.text
        routed = client.post(f"/queue/{event_id}/route",
                             data={"csrf_token": csrf_of(queue.text), "case_id": target},
                             follow_redirects=False)
        assert routed.status_code == 303, routed.text
    engine.dispose()


def test_routed_by_hand_once_alert_resolved_and_not_again_when_the_case_appears(
        pipeline: Pipeline, tmp_path: Path) -> None:
    """Parked advice for a child with no case is routed by hand into another case: the worker
    routes it there once and resolves its alert; the child's case appearing later changes
    nothing for it (a second contribution for the child shows the worker has seen the case)."""
    settings = pipeline.settings
    tag = uuid.uuid4().hex[:8].upper()
    target, later = f"EHC-999-HAND-{tag}", f"EHC-999-LATE-{tag}"
    child = synthetic_nhs_number()
    parked_id, sentinel_id = f"ZZ901-HAND-{tag}", f"ZZ901-SENTINEL-{tag}"
    _publish(settings, [_referral(target, synthetic_nhs_number()),
                        _contribution(settings, parked_id, child)])

    def parked() -> Any:
        found = [(r, k, r.value) for r, k, v in _records(settings, UNROUTED.name)
                 if v["contribution"]["contribution_id"] == parked_id]
        return found[0] if found else None

    wait_until(lambda: parked() is not None, timeout_s=180, what="the contribution parked")
    assert [a["status"] for a in _unrouted_alerts(settings, parked_id)] == ["RAISED"]
    _route_by_hand(settings, tmp_path, target, parked())

    wait_until(lambda: len(_routed(settings, parked_id)) == 1, timeout_s=180,
               what="the hand-routed advice in its case")
    wait_until(lambda: [a["status"] for a in _unrouted_alerts(settings, parked_id)]
               == ["RAISED", "RESOLVED"], timeout_s=180, what="the unrouted alert resolved")
    assert _routed(settings, parked_id)[0]["case_id"] == target

    # The child's own case appears; a second contribution for the child is routed there, so
    # the routing stage has seen the case's index entry that would have released the first.
    _publish(settings, [_referral(later, child), _contribution(settings, sentinel_id, child)])
    wait_until(lambda: [v["case_id"] for v in _routed(settings, sentinel_id)] == [later],
               timeout_s=240, what="the second contribution routed into the child's case")
    assert [v["case_id"] for v in _routed(settings, parked_id)] == [target]
    assert [a["status"] for a in _unrouted_alerts(settings, parked_id)] == ["RAISED", "RESOLVED"]
