"""One EHC case end to end through the real broker, the worker and the connectors."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cli import demo
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.topics import CASE_STATUS, CONTRIBUTIONS, DEAD_LETTER, REFERRALS
from ehcp.kafka_io.kafka_clients import kafka_python_config
from ehcp.kafka_io.readers import latest_for_key
from ehcp.settings import Settings
from tests.e2e.conftest import REPO, Pipeline
from tests.support import synthetic_nhs_number, wait_until

pytestmark = pytest.mark.e2e
CODEC = default_codec()


def new_case(tag: str) -> tuple[str, str]:
    """A fresh case id and NHS number, so tests never route into each other's cases."""
    return f"EHC-999-{tag}-{uuid.uuid4().hex[:8]}", synthetic_nhs_number()


def referral(case_id: str, nhs_number: str, received_at: datetime) -> dict[str, Any]:
    """The demo referral for another case and child."""
    body = demo.referral(received_at, case_id)
    body["child"] = {**body["child"], "nhs_number": nhs_number}
    del body["child"]["upn"]
    return body


def medical_advice(nhs_number: str, submitted_at: datetime) -> dict[str, Any]:
    """Medical advice as a FHIR DocumentReference naming only the child's NHS number."""
    doc = demo.medical_advice(submitted_at, str(uuid.uuid4()))
    doc["subject"]["identifier"]["value"] = nhs_number
    return doc


def status_of(settings: Settings, case_id: str) -> dict[str, Any] | None:
    """The case's latest CaseStatus record, if any."""
    record = latest_for_key(settings, CASE_STATUS.name, case_id)
    return CODEC.decode(record.value or b"")[1] if record else None


def advice_states(status: dict[str, Any] | None) -> dict[str, str]:
    """Advice type -> status, from a CaseStatus record."""
    return {a["advice_type"]: a["status"] for a in status["advice"]} if status else {}


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The end offset of every partition of a topic."""
    consumer = KafkaConsumer(**kafka_python_config(settings))
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def test_case_shows_advice_received_and_missing(pipeline: Pipeline) -> None:
    """Referral, FHIR advice by NHS number and JSON advice by case id end in one case's status."""
    case_id, nhs = new_case("E2E")
    now = datetime.now(UTC)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post(
            "/api/education/referrals",
            headers=pipeline.headers("la"),
            json=referral(case_id, nhs, now - timedelta(weeks=5)),
        )
        assert r.status_code == 202, r.text
        assert r.json()["topic"] == REFERRALS.name
        task = pipeline.wait_for_task(case_id)
        assert task["for"]["identifier"]["value"] == nhs
        assert task["status"] == "requested"
        r = client.post(
            "/fhir/DocumentReference",
            headers=pipeline.headers("health", fhir=True),
            json=medical_advice(nhs, now),
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/education/advice",
            headers=pipeline.headers("la"),
            json=demo.educational_advice(now, case_id),
        )
        assert r.status_code == 202, r.text

    def both_received() -> dict[str, str] | None:
        states = advice_states(status_of(pipeline.settings, case_id))
        return states if states.get("MEDICAL") == states.get("EDUCATIONAL") == "RECEIVED" else None

    states = wait_until(both_received, 90, what="medical and educational advice in the case")
    assert states == {
        "PARENT_OR_YOUNG_PERSON": "REQUESTED",
        "EDUCATIONAL": "RECEIVED",
        "MEDICAL": "RECEIVED",
        "PSYCHOLOGICAL": "REQUESTED",
        "SOCIAL_CARE": "REQUESTED",
    }

    shown = subprocess.run(
        [sys.executable, "-m", "cli.main", "case", "show", case_id],
        env=pipeline.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "2 received, 3 still missing" in shown.stdout
    assert nhs not in shown.stdout
    # `case explain` on the exported events gives what the streams gave.
    status = status_of(pipeline.settings, case_id)
    exported = ehcp(pipeline, "case", "export", case_id)
    events_file = pipeline.logs / f"{case_id}.jsonl"
    events_file.write_text(exported)
    explained = json.loads(
        ehcp(
            pipeline,
            "case",
            "explain",
            str(events_file),
            "--as-of",
            status["as_of"].isoformat(),
            "--json",
        )
    )
    assert {a["advice_type"]: a["status"] for a in explained["advice"]} == {
        a["advice_type"]: a["status"] for a in status["advice"]
    }

    for log in ("worker.log", "connectors.log"):
        text = (pipeline.logs / log).read_text()
        assert case_id in text, f"{log} should show the case was processed"
        assert nhs not in text, f"{log} must not contain the NHS number"
        assert "2016-03-14" not in text, f"{log} must not contain the date of birth"


def test_advice_naming_a_case_before_its_referral_is_kept(pipeline: Pipeline) -> None:
    """Educational advice that arrives before its referral is counted once the case opens."""
    case_id, nhs = new_case("EARLY")
    now = datetime.now(UTC)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        assert (
            client.post(
                "/api/education/advice",
                headers=pipeline.headers("la"),
                json=demo.educational_advice(now, case_id),
            ).status_code
            == 202
        )
        assert (
            client.post(
                "/api/education/referrals",
                headers=pipeline.headers("la"),
                json=referral(case_id, nhs, now - timedelta(days=3)),
            ).status_code
            == 202
        )
    wait_until(
        lambda: advice_states(status_of(pipeline.settings, case_id)).get("EDUCATIONAL")
        == "RECEIVED",
        90,
        what="early educational advice in the case",
    )


def test_invalid_input_gets_a_clear_4xx_and_reaches_no_topic(pipeline: Pipeline) -> None:
    """Malformed JSON, a bad NHS check digit and an unknown resource type are refused; Kafka is untouched."""
    before = {t: end_offsets(pipeline.settings, t) for t in (REFERRALS.name, CONTRIBUTIONS.name)}
    case_id, nhs = new_case("BAD")
    bad_nhs = nhs[:-1] + str((int(nhs[-1]) + 1) % 10)
    now = datetime.now(UTC)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post(
            "/api/education/referrals",
            headers={**pipeline.headers("la"), "Content-Type": "application/json"},
            content=b'{"case_id": ',
        )
        assert r.status_code == 400
        assert r.json()["title"] == "Malformed JSON"

        r = client.post(
            "/api/education/referrals",
            headers=pipeline.headers("la"),
            json=referral(case_id, bad_nhs, now),
        )
        assert r.status_code == 422
        problem = r.json()
        assert problem["errors"][0]["location"] == "/child/nhs_number"
        assert "check digit" in problem["errors"][0]["message"]
        assert bad_nhs not in r.text

        r = client.post(
            "/fhir/DocumentReference",
            headers=pipeline.headers("health", fhir=True),
            json={**medical_advice(nhs, now), "resourceType": "Observation"},
        )
        assert 400 <= r.status_code < 500
        assert r.json()["resourceType"] == "OperationOutcome"

        r = client.post(
            "/fhir/DocumentReference",
            headers=pipeline.headers("health", fhir=True),
            json=medical_advice(bad_nhs, now),
        )
        assert 400 <= r.status_code < 500
        outcome = r.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "subject" in json.dumps(outcome["issue"][0].get("expression", []))

        r = client.post("/api/education/referrals", json=referral(case_id, nhs, now))
        assert r.status_code == 401
        r = client.post(
            "/fhir/DocumentReference",
            headers=pipeline.headers("other_health", fhir=True),
            json=medical_advice(nhs, now),
        )
        assert r.status_code == 403
    after = {t: end_offsets(pipeline.settings, t) for t in (REFERRALS.name, CONTRIBUTIONS.name)}
    assert after == before


def test_an_la_advice_request_reaches_the_health_body_it_names(pipeline: Pipeline) -> None:
    """The LA asks a second trust; that trust sees the Task and may then answer by NHS number.

    Before the request the trust was not asked about the child, so its advice is refused (403).
    """
    case_id, nhs = new_case("ASK")
    now = datetime.now(UTC)
    advice = medical_advice(nhs, now)
    advice["custodian"]["identifier"]["value"] = "ZZ902"
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, now - timedelta(weeks=2)))
        assert r.status_code == 202, r.text
        pipeline.wait_for_task(case_id)  # ZZ901's Task from the referral: the case is open
        r = client.post("/fhir/DocumentReference",
                        headers=pipeline.headers("other_health", fhir=True), json=advice)
        assert r.status_code == 403, r.text

        r = client.post(
            f"/api/education/cases/{case_id}/advice-requests",
            headers=pipeline.headers("la"),
            json={"request_id": f"{case_id}-R2", "advice_type": "MEDICAL",
                  "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                             "value": "ZZ902"},
                  "child": {"nhs_number": nhs}, "sent_on": now.date().isoformat()},
        )
        assert r.status_code == 202, r.text
        task = pipeline.wait_for_task(case_id, who="other_health")
        assert task["identifier"][0]["value"] == f"{case_id}-R2"
        assert task["owner"]["identifier"]["value"] == "ZZ902"
        r = client.post("/fhir/DocumentReference",
                        headers=pipeline.headers("other_health", fhir=True), json=advice)
        assert r.status_code == 201, r.text

    def zz902_received() -> dict[str, Any] | None:
        status = status_of(pipeline.settings, case_id)
        items = [a for a in (status or {}).get("advice", [])
                 if a["agency"] and a["agency"]["value"] == "ZZ902"]
        return items[0] if items and items[0]["status"] == "RECEIVED" else None

    item = wait_until(zz902_received, 90, what="ZZ902's advice in the case")
    assert item["request_id"] == f"{case_id}-R2"


def test_unreadable_message_is_dead_lettered_and_processing_continues(pipeline: Pipeline) -> None:
    """Corrupt bytes on the referrals topic go to the dead-letter topic; later events still flow."""
    bad_key = f"EHC-999-DLQ-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(acks="all", **kafka_python_config(pipeline.settings))
    # With its CloudEvents headers, so the bytes themselves are what the worker refuses.
    ce = CloudEvent(id=str(uuid.uuid4()), source="/tests", type=event_type(REFERRALS.value_schema
                    or ""), time=datetime.now(UTC), subject=bad_key)
    producer.send(REFERRALS.name, key=bad_key.encode(), value=b"\xc3\x01not-avro-at-all",
                  headers=ce.headers()).get(30)
    producer.close()
    case_id, nhs = new_case("AFTER-DLQ")
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        assert (
            client.post(
                "/api/education/referrals",
                headers=pipeline.headers("la"),
                json=referral(case_id, nhs, datetime.now(UTC)),
            ).status_code
            == 202
        )

    def dead_letter() -> dict[str, bytes] | None:
        consumer = KafkaConsumer(
            DEAD_LETTER.name,
            **kafka_python_config(pipeline.settings),
            auto_offset_reset="earliest",
            consumer_timeout_ms=2000,
        )
        try:
            for message in consumer:
                if message.key == bad_key.encode():
                    return dict(message.headers)
        finally:
            consumer.close()
        return None

    headers = wait_until(dead_letter, 60, what="the dead letter")
    assert headers["__connect.errors.topic"] == REFERRALS.name.encode()
    assert headers["__connect.errors.stage"] == b"process_cases"
    assert headers["__connect.errors.exception.class.name"] == b"UnknownSchemaError"
    assert int(headers["__connect.errors.offset"]) >= 0
    wait_until(
        lambda: status_of(pipeline.settings, case_id), 60, what="the next case to be processed"
    )

    listed = ehcp(pipeline, "dlq", "list")
    assert f"from {REFERRALS.name}" in listed
    assert "UnknownSchemaError" in listed
    replayed = ehcp(pipeline, "dlq", "replay", "--topic", REFERRALS.name)
    assert "replayed" in replayed

    def dead_letters_for_key() -> int | None:
        consumer = KafkaConsumer(
            DEAD_LETTER.name,
            **kafka_python_config(pipeline.settings),
            auto_offset_reset="earliest",
            consumer_timeout_ms=2000,
        )
        try:
            count = sum(1 for m in consumer if m.key == bad_key.encode())
        finally:
            consumer.close()
        return count if count >= 2 else None

    # Still corrupt, so the replayed record fails again: proof it went back through the worker.
    wait_until(dead_letters_for_key, 60, what="the replayed record to fail again")
    again = ehcp(pipeline, "dlq", "replay", "--topic", REFERRALS.name, "--dry-run")
    assert "1 dead letter(s) would be replayed" in again, "only the new dead letter is pending"


def ehcp(pipeline: Pipeline, *args: str) -> str:
    """Run the ehcp CLI against the pipeline and return its output (failing on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=pipeline.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
