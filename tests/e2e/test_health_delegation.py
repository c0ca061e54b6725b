"""Health delegation end to end (issue #14 item 8): real worker, connectors, broker and HTTP.

The ICB (ZZ901, its Designated Clinical Officer) gets the LA's medical advice request, already
overdue; it delegates the speech and language therapy part to ZZ902 as a sub-Task. ZZ902 sees
only its own sub-Task, and the case raises an overdue alert naming ZZ902 as the body holding
things up (shown on ZZ902's Task as a reminder). ZZ902's advice completes its part and resolves
that alert, but does not answer the LA's request; the DCO's collated advice does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from tests.e2e.conftest import Pipeline
from tests.e2e.test_alerts import alerts_for
from tests.e2e.test_pipeline import advice_states, medical_advice, new_case, referral, status_of
from tests.support import wait_until

pytestmark = pytest.mark.e2e
SERVICES = "https://ehcp-exchange.org/CodeSystem/health-service"


def _part_alerts(pipeline: Pipeline, case_id: str, part_id: str) -> list[dict[str, Any]]:
    """The case's alerts about the delegated part (its provider is the alert's agency)."""
    return [a for a in alerts_for(pipeline, case_id)
            if (a["agency"] or {}).get("value") == "ZZ902" and part_id in a["message"]]


def test_the_dco_delegates_a_part_and_the_late_provider_is_named(pipeline: Pipeline) -> None:
    """Sub-Task by POST /fhir/Task; the provider's view, alert, completion and the collation."""
    case_id, nhs = new_case("DCO")
    now = datetime.now(UTC)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, now - timedelta(weeks=7)))
        assert r.status_code == 202, r.text
        parent = pipeline.wait_for_task(case_id)

        sub = {"resourceType": "Task", "status": "requested", "intent": "order",
               "partOf": [{"reference": f"Task/{parent['id']}"}],
               "code": {"coding": [{"system": SERVICES, "code": "speech-and-language-therapy"}]},
               "owner": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"}}}
        # The provider cannot delegate the ICB's Task; the ICB can.
        refused = client.post("/fhir/Task", json=sub,
                              headers=pipeline.headers("other_health", fhir=True))
        assert refused.status_code == 403, refused.text
        r = client.post("/fhir/Task", json=sub, headers=pipeline.headers("health", fhir=True))
        assert r.status_code == 201, r.text
        part = r.json()
        assert part["partOf"] == [{"reference": f"Task/{parent['id']}"}]

        # ZZ902 sees its own sub-Task and not the ICB's Task.
        mine = client.get("/fhir/Task", headers=pipeline.headers("other_health")).json()
        ids = {e["resource"]["id"] for e in mine.get("entry", [])}
        assert part["id"] in ids
        assert parent["id"] not in ids
        assert client.get(f"/fhir/Task/{parent['id']}",
                          headers=pipeline.headers("other_health")).status_code == 404

    # The case names ZZ902 as holding the (already overdue) medical advice up.
    (raised,) = wait_until(lambda: _part_alerts(pipeline, case_id, part["id"]) or None, 120,
                           what="the alert naming the provider")
    assert raised["status"] == "RAISED"
    assert raised["kind"] == "ADVICE_OVERDUE"
    assert raised["agency"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"}
    assert "ZZ902" in raised["message"]
    assert nhs not in raised["message"]

    def reminded() -> dict[str, Any] | None:
        with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
            task = client.get(f"/fhir/Task/{part['id']}",
                              headers=pipeline.headers("other_health")).json()
        business = task.get("businessStatus", {}).get("coding", [{}])[0].get("code")
        return task if business == "overdue" else None

    wait_until(reminded, 120, what="the overdue reminder on the provider's sub-Task")

    def icb_reminded() -> bool:
        with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
            task = client.get(f"/fhir/Task/{parent['id']}",
                              headers=pipeline.headers("health")).json()
        return task.get("businessStatus", {}).get("coding", [{}])[0].get("code") == "overdue"

    # The ICB's own Task shows its overdue reminder too (its alert names who holds it up).
    wait_until(icb_reminded, 120, what="the overdue reminder on the ICB's Task")

    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        salt = medical_advice(nhs, datetime.now(UTC))
        salt["custodian"]["identifier"]["value"] = "ZZ902"
        salt["context"] = {"related": [{"reference": f"Task/{part['id']}"}]}
        r = client.post("/fhir/DocumentReference", json=salt,
                        headers=pipeline.headers("other_health", fhir=True))
        assert r.status_code == 201, r.text
        done = client.get(f"/fhir/Task/{part['id']}", headers=pipeline.headers("health")).json()
        assert done["status"] == "completed"

    wait_until(lambda: [a for a in _part_alerts(pipeline, case_id, part["id"])
                        if a["status"] == "RESOLVED"] or None, 120,
               what="the provider's alert resolved by its advice")
    # The part does not answer the LA's request: the medical advice is still overdue.
    assert advice_states(status_of(pipeline.settings, case_id)).get("MEDICAL") == "OVERDUE"

    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        collated = medical_advice(nhs, datetime.now(UTC))
        collated["context"] = {"related": [{"reference": f"Task/{parent['id']}"}]}
        r = client.post("/fhir/DocumentReference", json=collated,
                        headers=pipeline.headers("health", fhir=True))
        assert r.status_code == 201, r.text
    wait_until(
        lambda: advice_states(status_of(pipeline.settings, case_id)).get("MEDICAL") == "RECEIVED",
        120, what="the collated advice answering the LA's request")

    def settled() -> bool:
        # The ICB's overdue reminder is cleared once its alert resolves; waiting for it keeps
        # this case's Task changes out of later tests that poll ZZ901's Tasks.
        with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
            task = client.get(f"/fhir/Task/{parent['id']}",
                              headers=pipeline.headers("health")).json()
        return task["status"] == "completed" and "businessStatus" not in task

    wait_until(settled, 120, what="the ICB's Task completed with its reminder cleared")

    def quiet() -> bool:
        # test_task_paging polls "changed since a second ago": let that second pass.
        with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
            task = client.get(f"/fhir/Task/{parent['id']}",
                              headers=pipeline.headers("health")).json()
        changed = datetime.fromisoformat(task["meta"]["lastUpdated"])
        return datetime.now(UTC) - changed > timedelta(seconds=2)

    wait_until(quiet, 30, what="two seconds without a change to the ICB's Task")
