"""Every action in the workspace is an ``ActionTaken`` audit event (ids only, never contents)."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.audit import AuditTrail, InMemoryAuditSpool
from connectors.ports import PublishedEvent, PublishReceipt
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.errors import PublishError
from ehcp.identifiers import LA_CODE_SYSTEM
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.unit.workspace.test_record_advice import PDF
from tests.unit.workspace.test_record_advice import _form as advice_form
from tests.unit.workspace.test_record_event import _form as event_form
from tests.workspace_support import CASE

FIELDS = {"event_id", "user_id", "agency", "action", "case_id", "target_id",
          "published_event_id", "acted_at"}


def _actions(ws: Workspace) -> list[PublishedEvent]:
    return [e for e in ws.publisher.events
            if e.topic == "ehcp.audit.v1" and e.schema_name == records.ACTION_TAKEN]


def _published(ws: Workspace, topic: str) -> list[PublishedEvent]:
    return [e for e in ws.publisher.events if e.topic == topic]


def test_recording_advice_is_an_action_taken_event(workspace: Workspace) -> None:
    """The upload's ActionTaken names the user, LA, case and published advice; no contents."""
    client = signed_in(workspace, "officer")
    response = client.post(f"/cases/{CASE}/record-advice", data=advice_form(client),
                           files={"document": ("advice.pdf", PDF, "application/pdf")},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    (advice,) = _published(workspace, "ehcp.contributions.v1")
    (action,) = _actions(workspace)
    record = action.record
    assert set(record) == FIELDS
    assert record["action"] == "ADVICE_RECORDED"
    assert record["user_id"] == workspace.users["officer"].user_id
    assert record["agency"] == {"system": LA_CODE_SYSTEM, "value": "886"}
    assert record["case_id"] == CASE
    assert record["published_event_id"] == advice.record["event_id"]
    assert record["target_id"] is None
    assert record["acted_at"] == workspace.clock.now()
    assert action.key == workspace.users["officer"].user_id
    encoded = default_codec().encode(action.schema_name, record)
    assert b"synthetic medical advice" not in encoded
    assert advice.record["document"]["sha256"].encode() not in encoded


def test_recording_a_casework_event_is_an_action_taken_event(workspace: Workspace) -> None:
    """A decision recorded from the case page is audited with the published event's id."""
    client = signed_in(workspace, "manager")
    data = {**event_form(client), "type": "DecisionToAssessMade", "occurred_on": "2026-02-20"}
    response = client.post(f"/cases/{CASE}/record-event", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    (event,) = _published(workspace, "ehcp.casework-events.v1")
    (action,) = _actions(workspace)
    assert action.record["action"] == "CASEWORK_EVENT_RECORDED"
    assert action.record["published_event_id"] == event.record["event_id"]
    assert action.record["user_id"] == workspace.users["manager"].user_id
    assert "2026-02-20" not in str(action.record)  # the form's contents stay in the event
    default_codec().encode(action.schema_name, action.record)


def test_nothing_recorded_is_no_action(workspace: Workspace) -> None:
    """Kafka refusing the advice (503) or a bad form (422) publishes no ActionTaken."""
    client = signed_in(workspace, "manager")
    workspace.publisher.unavailable = True
    assert client.post(f"/cases/{CASE}/record-advice", data=advice_form(client),
                       files={"document": ("advice.pdf", PDF, "application/pdf")},
                       follow_redirects=False).status_code == 503
    workspace.publisher.unavailable = False
    bad = {**event_form(client), "type": "DecisionToAssessMade", "occurred_on": "not a date"}
    assert client.post(f"/cases/{CASE}/record-event", data=bad,
                       follow_redirects=False).status_code == 422
    assert _actions(workspace) == []


class AuditTopicDown:
    """Takes every event except audit ones (Kafka took the advice, then went away)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        if event.topic == "ehcp.audit.v1":
            raise PublishError("Kafka is unavailable")
        receipt: PublishReceipt = await self.inner.publish(event)
        return receipt


def test_an_action_kafka_does_not_take_is_spooled_and_replayed(workspace: Workspace) -> None:
    """The ActionTaken the audit topic refused is in the spool (with its type), then replayed."""
    spool = InMemoryAuditSpool()
    workspace.app.state.audit = AuditTrail(  # type: ignore[attr-defined]
        AuditTopicDown(workspace.publisher), spool, attempts=1, first_backoff_s=0)
    client = signed_in(workspace, "manager")
    data = {**event_form(client), "type": "DecisionToAssessMade", "occurred_on": "2026-02-20"}
    assert client.post(f"/cases/{CASE}/record-event", data=data,
                       follow_redirects=False).status_code == 303
    assert _actions(workspace) == []
    (spooled,) = [r for r in spool.records if r.get("_schema") == records.ACTION_TAKEN]
    assert spooled["action"] == "CASEWORK_EVENT_RECORDED"
    asyncio.run(AuditTrail(workspace.publisher, spool).replay())
    (action,) = _actions(workspace)
    assert action.record["event_id"] == spooled["event_id"]
    assert not [r for r in spool.records if r.get("_schema") == records.ACTION_TAKEN]


def test_a_spooled_action_keeps_its_time_in_the_spool_file(tmp_path: Any) -> None:
    """The file spool stores ``acted_at`` as ISO text and reads it back as the same instant."""
    from connectors.audit import FileAuditSpool
    from tests.unit.contract.records import ACTION_TAKEN

    spool = FileAuditSpool(tmp_path / "spool.jsonl")
    spool.append({**ACTION_TAKEN, "_schema": records.ACTION_TAKEN})
    (loaded,) = spool.load()
    assert loaded["acted_at"] == ACTION_TAKEN["acted_at"]
    assert loaded["_schema"] == records.ACTION_TAKEN
