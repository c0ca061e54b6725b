"""Recording casework events from the case page: the JSON API's event, or nothing."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from ehcp.identifiers import LA_CODE_SYSTEM
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import CASE, FOREIGN_CASE, csrf_of


def _form(client: TestClient) -> dict[str, str]:
    page = client.get(f"/cases/{CASE}/record-event")
    assert page.status_code == 200
    submission = re.search(r'name="submission_id" value="([^"]+)"', page.text)
    assert submission
    return {"csrf_token": csrf_of(page.text), "submission_id": submission.group(1)}


def _events(ws: Workspace) -> list[dict[str, object]]:
    return [dict(e.record) for e in ws.publisher.events if e.topic == "ehcp.casework-events.v1"]


def test_decision_to_assess_is_the_json_apis_event(workspace: Workspace) -> None:
    """A decision to assess becomes CaseworkEventRecorded, recorded by the user's LA."""
    client = signed_in(workspace, "officer")
    data = {**_form(client), "type": "DecisionToAssessMade", "occurred_on": "2026-02-20"}
    response = client.post(f"/cases/{CASE}/record-event", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    (record,) = _events(workspace)
    assert record["event_type"] == "DecisionToAssessMade"
    assert record["case_id"] == CASE
    assert record["recorded_by"] == {"system": LA_CODE_SYSTEM, "value": "886"}
    assert json.loads(str(record["event_json"]))["occurred_on"] == "2026-02-20"


def test_timescale_exception_for_a_request(workspace: Workspace) -> None:
    """A reg 8(2)(c) exception names the advice request it excuses."""
    client = signed_in(workspace, "manager")
    data = {**_form(client), "type": "TimescaleExceptionRecorded", "occurred_on": "2026-02-10",
            "ground": "REG_8_2_C", "request_id": f"req-{CASE}-medical"}
    assert client.post(f"/cases/{CASE}/record-event", data=data,
                       follow_redirects=False).status_code == 303
    (record,) = _events(workspace)
    body = json.loads(str(record["event_json"]))
    assert body["ground"] == "REG_8_2_C"
    assert body["request_id"] == f"req-{CASE}-medical"


@pytest.mark.parametrize(("change", "says"), [
    ({"type": "PlanCeased"}, "choose what happened"),
    ({"type": "DecisionToAssessMade", "occurred_on": "tomorrow"}, "occurred_on"),
    ({"type": "TimescaleExceptionRecorded", "occurred_on": "2026-02-10", "ground": "REG_8_2_C"},
     "Check"),
    ({"type": "DecisionToAssessMade", "occurred_on": "2026-02-20", "submission_id": "x"},
     "reload the form"),
])
def test_bad_events_are_refused_and_publish_nothing(workspace: Workspace, change: dict[str, str],
                                                    says: str) -> None:
    """An event the JSON API would refuse gets a clear 422 here too, and nothing is published."""
    client = signed_in(workspace, "manager")
    response = client.post(f"/cases/{CASE}/record-event", data={**_form(client), **change},
                           follow_redirects=False)
    assert response.status_code == 422
    assert says in response.text
    assert _events(workspace) == []


def test_event_forms_are_refused_to_others(workspace: Workspace) -> None:
    """Read-only users get 403; another LA's case is 404; a CSRF-less post is 403; none publish."""
    reader = signed_in(workspace, "reader")
    assert reader.get(f"/cases/{CASE}/record-event").status_code == 403
    manager = signed_in(workspace, "manager")
    assert manager.get(f"/cases/{FOREIGN_CASE}/record-event").status_code == 404
    data = {**_form(manager), "type": "FinalPlanIssued", "occurred_on": "2026-02-20"}
    del data["csrf_token"]
    assert manager.post(f"/cases/{CASE}/record-event", data=data).status_code == 403
    assert manager.post(f"/cases/{FOREIGN_CASE}/record-event", data={
        **_form(manager), "type": "FinalPlanIssued", "occurred_on": "2026-02-20"}
    ).status_code == 404
    assert _events(workspace) == []
