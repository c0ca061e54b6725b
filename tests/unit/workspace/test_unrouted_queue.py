"""The managers' unrouted queue: route a contribution into one of the LA's cases, or discard it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.ports import PublishedEvent
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.readmodel import people, store
from ehcp.readmodel import tables as t
from tests import readmodel_records as rr
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import CASE, FOREIGN_CASE, csrf_of, seed

CONTRIBUTION = "RVV-ADV-UNROUTED-1"


def _event_id(ws: Workspace) -> str:
    from sqlalchemy import select

    with ws.engine.connect() as conn:
        return str(conn.execute(select(t.unrouted.c.event_id).where(
            t.unrouted.c.contribution_id == CONTRIBUTION)).scalar_one())


def _post(client: TestClient, path: str, **data: str) -> Any:
    csrf = csrf_of(client.get("/queue").text)
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def _contributions(ws: Workspace) -> list[PublishedEvent]:
    return [e for e in ws.publisher.events if e.topic == "ehcp.contributions.v1"]


def _actions(ws: Workspace) -> list[dict[str, Any]]:
    return [dict(e.record) for e in ws.publisher.events
            if e.topic == "ehcp.audit.v1" and e.schema_name == records.ACTION_TAKEN]


def _refusals(ws: Workspace) -> list[str]:
    return [str(e.record["reason"]) for e in ws.publisher.events
            if e.topic == "ehcp.audit.v1" and e.schema_name == records.ACCESS_REFUSED]


def test_routing_publishes_the_decision_where_the_contribution_is_parked(
        workspace: Workspace) -> None:
    """An UnroutedDecided (ROUTED, the case) goes to ehcp.contributions.v1 under the unrouted
    record's own key, carrying the contribution as sent; the item leaves the queue and the
    action is audited with the decision's event id."""
    client = signed_in(workspace, "manager")
    assert CONTRIBUTION in client.get("/queue").text
    unrouted_id = _event_id(workspace)
    response = _post(client, f"/queue/{unrouted_id}/route", case_id=f"  {CASE} ")
    assert response.status_code == 303, response.text
    (event,) = _contributions(workspace)
    assert event.schema_name == records.UNROUTED_DECIDED
    assert event.key == "child-key"  # the ContributionUnrouted's key: where it is parked
    record = event.record
    assert (record["decision"], record["case_id"]) == ("ROUTED", CASE)
    assert record["unrouted_event_id"] == unrouted_id
    assert record["decided_by"] == workspace.users["manager"].user_id
    contribution = record["contribution"]
    assert contribution["contribution_id"] == CONTRIBUTION
    assert contribution["child_identifiers"] == rr.ADVICE_SUBMITTED["child_identifiers"]
    assert contribution["document"] == rr.ADVICE_SUBMITTED["document"]
    default_codec().encode(event.schema_name, record)
    page = client.get(response.headers["location"])
    assert "Routed" in page.text
    assert CONTRIBUTION not in page.text
    (action,) = _actions(workspace)
    assert action["action"] == "UNROUTED_ROUTED"
    assert action["target_id"] == unrouted_id
    assert action["published_event_id"] == record["event_id"]
    assert action["case_id"] == CASE
    assert action["user_id"] == workspace.users["manager"].user_id
    # Routed once: the item is no longer in the queue to route again.
    assert _post(client, f"/queue/{unrouted_id}/route", case_id=CASE).status_code == 404
    assert len(_contributions(workspace)) == 1


def test_a_record_without_a_key_is_decided_under_the_contributions_own_key(
        workspace: Workspace) -> None:
    """No key stored with the record: the decision is keyed as the connectors keyed the
    contribution (the child key of its strongest identifier), which is where it is parked."""
    from ehcp.contract.keys import contribution_key
    from tests.workspace_support import PSEUDONYM_KEY

    workspace.app.state.unrouted_records.keys.clear()  # type: ignore[attr-defined]
    client = signed_in(workspace, "manager")
    assert _post(client, f"/queue/{_event_id(workspace)}/route",
                 case_id=CASE).status_code == 303
    (event,) = _contributions(workspace)
    assert event.key == contribution_key(PSEUDONYM_KEY.encode(), rr.ADVICE_SUBMITTED)
    assert event.key.startswith("child:")


@pytest.mark.parametrize("case_id", [FOREIGN_CASE, "EHC-886-2099-9999", ""])
def test_a_case_not_the_las_is_refused(workspace: Workspace, case_id: str) -> None:
    """Another LA's case, no such case, or none: the same refusal, nothing published, still queued."""
    client = signed_in(workspace, "manager")
    response = _post(client, f"/queue/{_event_id(workspace)}/route", case_id=case_id)
    assert response.status_code == 422
    assert _contributions(workspace) == []
    assert _actions(workspace) == []
    assert CONTRIBUTION in client.get("/queue").text
    if case_id:
        assert "There is no case of yours with that reference" in response.text
        assert "route to a case not found or not the LA's" in _refusals(workspace)


def test_discarding_takes_it_off_the_queue_across_a_rebuild(workspace: Workspace) -> None:
    """A discard is recorded (the item leaves the queue, also after a rebuild) and audited."""
    client = signed_in(workspace, "manager")
    unrouted_id = _event_id(workspace)
    response = _post(client, f"/queue/{unrouted_id}/discard")
    assert response.status_code == 303, response.text
    assert CONTRIBUTION not in client.get("/queue").text
    (decided,) = _contributions(workspace)
    assert (decided.key, decided.record["decision"], decided.record["case_id"]) == (
        "child-key", "DISCARDED", None)
    (action,) = _actions(workspace)
    assert action["action"] == "UNROUTED_DISCARDED"
    assert action["target_id"] == unrouted_id
    assert action["published_event_id"] == decided.record["event_id"]
    assert action["case_id"] is None
    default_codec().encode(records.ACTION_TAKEN, action)
    # A rebuild projects the same unrouted record again; the decision is kept.
    store.reset(workspace.engine)
    unrouted = rr.unrouted(CONTRIBUTION)
    seed(workspace.engine, unrouted)
    from sqlalchemy import update

    with workspace.engine.begin() as conn:  # the same Kafka record: the same event id
        conn.execute(update(t.unrouted).values(event_id=unrouted_id))
    assert CONTRIBUTION not in client.get("/queue").text


@pytest.mark.parametrize("who", ["officer", "reader"])
def test_only_managers_may_route_or_discard(workspace: Workspace, who: str) -> None:
    """A case officer or read-only user gets 403 (audited) and nothing changes."""
    manager = signed_in(workspace, "manager")
    csrf = csrf_of(manager.get("/queue").text)
    client = signed_in(workspace, who)
    page = client.get("/tray")
    mine = csrf_of(page.text)
    unrouted_id = _event_id(workspace)
    for path in (f"/queue/{unrouted_id}/route", f"/queue/{unrouted_id}/discard"):
        response = client.post(path, data={"csrf_token": mine, "case_id": CASE},
                               follow_redirects=False)
        assert response.status_code == 403
    assert _contributions(workspace) == []
    assert _actions(workspace) == []
    assert CONTRIBUTION in manager.get("/queue").text
    assert csrf  # the manager's page had its form


def test_csrf_less_posts_change_nothing(workspace: Workspace) -> None:
    """Without the session's CSRF token: 403, audited, nothing published or recorded."""
    client = signed_in(workspace, "manager")
    unrouted_id = _event_id(workspace)
    for path in (f"/queue/{unrouted_id}/route", f"/queue/{unrouted_id}/discard"):
        response = client.post(path, data={"csrf_token": "forged", "case_id": CASE},
                               follow_redirects=False)
        assert response.status_code == 403
    assert _contributions(workspace) == []
    assert _actions(workspace) == []
    assert CONTRIBUTION in client.get("/queue").text
    assert "missing or wrong CSRF token" in _refusals(workspace)


def test_unknown_item_and_hostile_input(workspace: Workspace) -> None:
    """An unknown id is 404 (audited); a megabyte case reference is refused; nothing changes."""
    client = signed_in(workspace, "manager")
    assert _post(client, "/queue/not-an-id/discard").status_code == 404
    assert "unrouted contribution not in the queue" in _refusals(workspace)
    huge = _post(client, f"/queue/{_event_id(workspace)}/route", case_id="x" * 1_000_000)
    assert huge.status_code in (400, 422)
    assert _contributions(workspace) == []
    assert _actions(workspace) == []


def test_record_gone_from_kafka_or_kafka_down(workspace: Workspace) -> None:
    """Kafka no longer holding the record: a clear 422; Kafka down: 503; the item stays queued."""
    client = signed_in(workspace, "manager")
    unrouted_id = _event_id(workspace)
    workspace.publisher.unavailable = True
    down = _post(client, f"/queue/{unrouted_id}/route", case_id=CASE)
    assert down.status_code == 503
    assert "Nothing was routed" in down.text
    workspace.publisher.unavailable = False
    workspace.app.state.unrouted_records.values.clear()  # type: ignore[attr-defined]
    gone = _post(client, f"/queue/{unrouted_id}/route", case_id=CASE)
    assert gone.status_code == 422
    assert "no longer kept in Kafka" in gone.text
    assert _contributions(workspace) == []
    assert _actions(workspace) == []
    assert CONTRIBUTION in client.get("/queue").text


def test_a_record_at_that_offset_that_is_not_the_queued_one_is_refused(
        workspace: Workspace) -> None:
    """The record read back must be the queue's (same event id), else nothing is published."""
    client = signed_in(workspace, "manager")
    values = workspace.app.state.unrouted_records.values  # type: ignore[attr-defined]
    (position,) = values
    values[position] = rr.unrouted("RVV-OTHER")[2]
    response = _post(client, f"/queue/{_event_id(workspace)}/route", case_id=CASE)
    assert response.status_code == 422
    assert "not the one in the queue" in response.text
    assert _contributions(workspace) == []


def test_decisions_are_kept_by_people() -> None:
    """The decisions table belongs to the workspace's MetaData (rebuild never drops it)."""
    assert people.unrouted_decisions.name in people.metadata.tables
    assert people.unrouted_decisions.name not in t.metadata.tables
    assert re.match(r"^ws_", people.unrouted_decisions.name)


def test_a_discard_of_a_record_kafka_no_longer_keeps_is_recorded_here_only(
        workspace: Workspace) -> None:
    """Retention deleted the record: the discard still takes it off the queue, publishing nothing."""
    client = signed_in(workspace, "manager")
    workspace.app.state.unrouted_records.values.clear()  # type: ignore[attr-defined]
    assert _post(client, f"/queue/{_event_id(workspace)}/discard").status_code == 303
    assert _contributions(workspace) == []
    (action,) = _actions(workspace)
    assert action["published_event_id"] is None
    assert CONTRIBUTION not in client.get("/queue").text
