"""Statutory alerts through the real broker: late advice alerts once, survives restarts, resolves."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cli import demo
from connectors.education.models import AdviceIn, advice_record
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import PublishedEvent
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import ALERTS, CONTRIBUTIONS, CONTRIBUTIONS_ROUTED, DEAD_LETTER, UNROUTED
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import advice_states, medical_advice, new_case, referral, status_of
from tests.support import wait_until

pytestmark = pytest.mark.e2e
CODEC = default_codec()


def alerts_for(pipeline: Pipeline, case_id: str) -> list[dict[str, Any]]:
    """Every alert record on the alerts topic for one case, in offset order per partition."""
    out = []
    for record in read_partitions(pipeline.settings, ALERTS.name):
        if record.key == case_id.encode():
            out.append(CODEC.decode(record.value or b"")[1])
    return out


def test_late_medical_advice_alerts_once_and_arrival_resolves_it(pipeline: Pipeline) -> None:
    """Medical advice a week overdue raises one ADVICE_OVERDUE; a worker restart repeats nothing; posting it resolves it."""
    case_id, nhs = new_case("LATE")
    now = datetime.now(UTC)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post(
            "/api/education/referrals",
            headers=pipeline.headers("la"),
            json=referral(case_id, nhs, now - timedelta(weeks=7)),
        )
        assert r.status_code == 202, r.text

    def medical_overdue() -> list[dict[str, Any]]:
        return [
            a
            for a in alerts_for(pipeline, case_id)
            if a["kind"] == "ADVICE_OVERDUE" and a["advice_type"] == "MEDICAL"
        ]

    raised = wait_until(medical_overdue, 90, what="the medical overdue alert")
    assert [a["status"] for a in raised] == ["RAISED"]
    alert = raised[0]
    assert alert["agency"]["value"] == "ZZ901"
    assert alert["days_overdue"] == (alert["as_of"] - alert["due_on"]).days > 0
    assert alert["regulation"].startswith("reg 8")
    assert alert["severity"] in {"WARNING", "CRITICAL"}
    assert nhs not in alert["message"]

    pipeline.restart_worker()
    pipeline.wait_for_task(case_id)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post(
            "/fhir/DocumentReference",
            headers=pipeline.headers("health", fhir=True),
            json=medical_advice(nhs, now),
        )
        assert r.status_code == 201, r.text

    def resolved() -> list[dict[str, Any]] | None:
        got = [a for a in medical_overdue() if a["status"] == "RESOLVED"]
        return got or None

    wait_until(resolved, 120, what="the overdue alert to be resolved after the restart")
    wait_until(
        lambda: advice_states(status_of(pipeline.settings, case_id)).get("MEDICAL") == "RECEIVED",
        60,
        what="medical advice in the case",
    )
    counts = Counter((a["alert_id"], a["status"]) for a in alerts_for(pipeline, case_id))
    repeated = {key: n for key, n in counts.items() if n > 1}
    assert repeated == {}, f"alerts fired more than once: {repeated}"
    statuses = [a["status"] for a in medical_overdue()]
    assert statuses == ["RAISED", "RESOLVED"]


def test_another_las_social_care_advice_is_refused_with_an_alert_not_applied(
        pipeline: Pipeline) -> None:
    """LA 886's social care credential naming LA 999's case: 403 at the edge; the same advice written straight to Kafka is dead-lettered with a CRITICAL alert, and not in the case."""
    case_id, nhs = new_case("OTHERLA")
    now = datetime.now(UTC)
    advice = {"contribution_id": f"{case_id}-SC-886", "advice_type": "SOCIAL_CARE",
              "case_id": case_id, "submitted_at": now.isoformat()}
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, now - timedelta(days=3)))
        assert r.status_code == 202, r.text
        wait_until(lambda: status_of(pipeline.settings, case_id), 90, what="the case")

        def refused_at_the_edge() -> bool:  # once the connectors' case-owner index has the case
            r = client.post("/api/social-care/advice",
                            headers=pipeline.headers("other_la_social_care"), json=advice)
            assert r.status_code in (202, 403), r.text
            return r.status_code == 403

        wait_until(refused_at_the_edge, 60, what="the edge to refuse LA 886")
    # What the edge cannot stop (a client writing to Kafka itself, or advice the edge accepted
    # before its index had read the referral), the worker refuses.
    record = advice_record(AdviceIn.model_validate(advice), LA_CODE_SYSTEM, "886", "JSON_API")
    schema = CONTRIBUTIONS.value_schema or ""
    event = PublishedEvent(CONTRIBUTIONS.name, case_id, schema, record, event_type(schema), case_id)

    async def publish() -> None:
        publisher = KafkaPublisher(pipeline.settings, default_codec(), source="/tests/foreign")
        try:
            await publisher.publish(event)
        finally:
            await publisher.close()

    asyncio.run(publish())

    def refused() -> list[dict[str, Any]]:
        return [a for a in alerts_for(pipeline, case_id) if a["kind"] == "CONTRIBUTION_UNROUTED"]

    (alert,) = wait_until(refused, 90, what="the refusal alert")
    assert (alert["status"], alert["severity"], alert["case_id"]) == ("RAISED", "CRITICAL", case_id)
    assert alert["agency"]["value"] == "886"
    assert "belongs to LA 999" in alert["message"]

    def letter() -> dict[str, str] | None:
        for record in read_partitions(pipeline.settings, DEAD_LETTER.name):
            headers = {k: v.decode() for k, v in record.headers}
            if record.key == case_id.encode() and headers.get(
                    "__connect.errors.topic") == CONTRIBUTIONS_ROUTED.name:
                return headers
        return None

    headers = wait_until(letter, 60, what="the dead letter")
    assert headers["__connect.errors.exception.class.name"] == "RefusedError"
    assert headers["__connect.errors.exception.message"] == (
        "advice submitted by LA 886, but the case belongs to LA 999")
    status = status_of(pipeline.settings, case_id)
    assert status is not None
    assert all(advice["contribution_id"] not in a["contribution_ids"] for a in status["advice"])


def test_advice_naming_a_case_id_that_does_not_exist_is_parked_with_an_alert(
        pipeline: Pipeline) -> None:
    """Advice naming an unknown case id: reported unrouted (parked) with a WARNING alert; no phantom case."""
    case_id, _ = new_case("NOSUCH")
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/advice", headers=pipeline.headers("la"),
                        json=demo.educational_advice(datetime.now(UTC), case_id))
        assert r.status_code == 202, r.text

    def unrouted() -> dict[str, Any] | None:
        for record in read_partitions(pipeline.settings, UNROUTED.name):
            if record.key == case_id.encode():
                return CODEC.decode(record.value or b"")[1]
        return None

    report = wait_until(unrouted, 90, what="the unrouted report")
    assert (report["reason"], report["parked"]) == ("NO_MATCHING_CASE", True)
    (alert,) = [a for a in alerts_for(pipeline, case_id) if a["kind"] == "CONTRIBUTION_UNROUTED"]
    assert (alert["status"], alert["severity"]) == ("RAISED", "WARNING")
    assert status_of(pipeline.settings, case_id) is None
