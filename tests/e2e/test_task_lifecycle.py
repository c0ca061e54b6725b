"""A health Task end to end: advice completes it, a decline reaches the case (issue #13, 16-17)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ehcp.identifiers import LA_CODE_SYSTEM
from tests.e2e.conftest import REPO, Pipeline
from tests.e2e.test_pipeline import medical_advice, new_case, referral, status_of
from tests.support import wait_until

pytestmark = pytest.mark.e2e
REASONS = "https://ehcp-exchange.org/CodeSystem/advice-task-reason"


def opened_task(pipeline: Pipeline, client: httpx.Client, tag: str) -> tuple[str, str, Any]:
    """A new case from a referral, and the medical Task the trust ZZ901 reads for it."""
    case_id, nhs = new_case(tag)
    r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                    json=referral(case_id, nhs, datetime.now(UTC) - timedelta(weeks=2)))
    assert r.status_code == 202, r.text
    return case_id, nhs, pipeline.wait_for_task(case_id)


def medical_item(pipeline: Pipeline, case_id: str, status: str) -> dict[str, Any] | None:
    """The case's medical advice item once it has this status."""
    found = status_of(pipeline.settings, case_id)
    items = [a for a in (found or {}).get("advice", [])
             if a["advice_type"] == "MEDICAL" and a["status"] == status]
    return items[0] if items else None


def test_advice_for_a_task_completes_it_and_the_case_shows_it_received(
    pipeline: Pipeline,
) -> None:
    """The trust posts advice naming its Task; GET /fhir/Task shows it completed with output."""
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        case_id, nhs, task = opened_task(pipeline, client, "TASK")
        assert task["requester"]["identifier"] == {"system": LA_CODE_SYSTEM, "value": "999"}
        advice = medical_advice(nhs, datetime.now(UTC))
        advice["context"] = {"related": [{"reference": f"Task/{task['id']}"}]}
        r = client.post("/fhir/DocumentReference", json=advice,
                        headers=pipeline.headers("health", fhir=True))
        assert r.status_code == 201, r.text
        document_id = r.json()["id"]
        r = client.get("/fhir/Task", params={"status": "completed"},
                       headers=pipeline.headers("health"))
        assert r.status_code == 200, r.text
        [read_back] = [e["resource"] for e in r.json()["entry"]
                       if e["resource"]["groupIdentifier"]["value"] == case_id]
    assert read_back["status"] == "completed"
    assert [o["valueReference"]["reference"] for o in read_back["output"]] == [
        f"DocumentReference/{document_id}"]

    item = wait_until(lambda: medical_item(pipeline, case_id, "RECEIVED"), 90,
                      what="the medical advice received against its request")
    assert item["request_id"] == task["identifier"][0]["value"]
    assert item["contribution_ids"] == [advice["masterIdentifier"]["value"]]


def test_a_declined_task_shows_declined_with_its_reason_in_case_show(pipeline: Pipeline) -> None:
    """A rejection with duplicate-request reaches the case as DECLINED, reason DUPLICATE_REQUEST."""
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        case_id, _, task = opened_task(pipeline, client, "DECL")
        body = {"resourceType": "Task", "id": task["id"], "status": "rejected", "intent": "order",
                "statusReason": {"coding": [{"system": REASONS, "code": "duplicate-request"}],
                                 "text": "Already seen under another referral"}}
        r = client.put(f"/fhir/Task/{task['id']}", json=body,
                       headers=pipeline.headers("health", fhir=True))
        assert r.status_code == 200, r.text

    item = wait_until(lambda: medical_item(pipeline, case_id, "DECLINED"), 90,
                      what="the declined medical request in the case")
    assert item["decline_reason"] == "DUPLICATE_REQUEST"
    shown = subprocess.run([sys.executable, "-m", "cli.main", "case", "show", case_id],
                           env=pipeline.env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "declined: DUPLICATE_REQUEST" in shown.stdout
    assert "0 received, 1 declined, 4 still missing" in shown.stdout
    assert "Already seen" not in shown.stdout
