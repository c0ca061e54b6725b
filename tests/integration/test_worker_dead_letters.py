"""The worker on a real broker: what it cannot process or must refuse is dead-lettered with its
reason, and the next input on the same partition is processed (#13 items 4 and 12, worker side;
#15: a request's status changed by another body than the one asked).

One worker process on a broker of the module's own serves the module. Its routed-contributions
topic has a small ``max.message.bytes``, so a contribution that fits its own topic has a routed
output Kafka could never take.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.fhir.events import TaskStatusChanged
from connectors.task_feed import task_status_record
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.topics import (
    ALERTS,
    CASE_STATUS,
    CONTRIBUTIONS,
    CONTRIBUTIONS_ROUTED,
    DEAD_LETTER,
    REFERRALS,
    TASK_STATUS,
    catalogue,
)
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import latest_for_key, read_partitions
from ehcp.settings import Settings
from tests.support import (
    referral_message,
    settings_env,
    spawn,
    start_local_broker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.integration
ROUTED_LIMIT = 4096
REPO = Path(__file__).resolve().parents[2]
CODEC = default_codec()


def _limit_topic(settings: Settings, topic: str, max_message_bytes: int) -> None:
    """Set a topic's max.message.bytes (IncrementalAlterConfigs: other settings stay)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                            {"max.message.bytes": str(max_message_bytes)})],
                            incremental=True)
    finally:
        admin.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Settings, subprocess.Popen[bytes], Path]]:
    """A worker on a broker of this module's own, with the routed topic limited to ROUTED_LIMIT.

    Its own broker, because workers of other tests (the e2e pipeline's) may still be running on
    the session broker: they would process these inputs too, with topic limits read earlier.
    """
    home = tmp_path_factory.mktemp("dlq-worker")
    broker = start_local_broker(home / "kafka")
    try:
        settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key="d" * 64,
                            partitions=2, app_id="ehcp-test-dlq", data_dir=home / "data",
                            credentials_file=home / "credentials.json",
                            documents_dir=home / "documents", alert_tick_s=1.0)
        apply_topics(settings, catalogue(settings.app_id))
        _limit_topic(settings, CONTRIBUTIONS_ROUTED.name, ROUTED_LIMIT)  # the catalogue sets none
        log = home / "worker.log"
        proc = spawn(["worker"], settings_env(settings), log)
        try:
            yield settings, proc, log
        finally:
            stop(proc)
    finally:
        broker.stop()


def _produce(settings: Settings, topic: str, key: str, value: bytes,
             headers: list[tuple[str, bytes]] | None) -> None:
    """One record with kafka-python, acks=all, with exactly the headers given (None: none)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        producer.send(topic, value, key=key.encode(), headers=headers or []).get(30)
    finally:
        producer.close()


def _ce(schema: str, event_id: str, subject: str) -> list[tuple[str, bytes]]:
    return CloudEvent(id=event_id, source="/tests", type=event_type(schema),
                      time=datetime.now(UTC), subject=subject).headers()


def _referral(case_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    return referral_message(case_id, datetime.now(UTC) - timedelta(weeks=1))


def _advice(case_id: str, contribution_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    record = {
        "event_id": str(uuid.uuid4()),
        "contribution_id": contribution_id,
        "case_id": case_id,
        "request_id": None,
        "child_identifiers": [],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
        "submitted_at": datetime.now(UTC),
        "channel": "FHIR",
        "document": None,
    }
    schema = CONTRIBUTIONS.value_schema or ""
    return CODEC.encode(schema, record), _ce(schema, record["event_id"], case_id)


def _dead_letters(settings: Settings, key: str) -> list[dict[str, Any]]:
    """The dead letters under ``key``: their error headers and original value."""
    out = []
    for r in read_partitions(settings, DEAD_LETTER.name):
        if r.key == key.encode():
            out.append({**{k: v.decode() for k, v in r.headers if k.startswith("__connect")},
                        "value": r.value})
    return out


def _has_status(settings: Settings, case_id: str) -> bool:
    return any(r.key == case_id.encode() for r in read_partitions(settings, CASE_STATUS.name))


def _routed_ids(settings: Settings, case_id: str) -> list[str]:
    return [CODEC.decode(r.value or b"")[1]["contribution_id"]
            for r in read_partitions(settings, CONTRIBUTIONS_ROUTED.name)
            if r.key == case_id.encode()]


def test_a_referral_without_cloudevents_headers_is_dead_lettered_and_the_next_is_processed(
        worker: tuple[Settings, subprocess.Popen[bytes], Path]) -> None:
    """A raw kafka-python referral with no headers lands on the DLQ with the reason; a valid one for the same key right after is processed."""
    settings, proc, log = worker
    case_id = f"EHC-999-NOCE-{uuid.uuid4().hex[:8]}"
    value, headers = _referral(case_id)
    _produce(settings, REFERRALS.name, case_id, value, None)
    _produce(settings, REFERRALS.name, case_id, value, headers)

    letters = wait_until(lambda: _dead_letters(settings, case_id), 120, what="the dead letter")
    (letter,) = letters
    assert letter["__connect.errors.topic"] == REFERRALS.name
    assert letter["__connect.errors.stage"] == "process_cases"
    assert letter["__connect.errors.exception.class.name"] == "MalformedMessageError"
    assert letter["__connect.errors.exception.message"] == (
        "missing CloudEvents headers: ce_specversion, ce_id, ce_source, ce_type")
    assert letter["value"] == value
    wait_until(lambda: _has_status(settings, case_id), 120, what="the valid referral's case")
    assert proc.poll() is None, log.read_text()[-3000:]


def test_an_input_whose_routed_output_is_too_large_is_dead_lettered_and_the_next_is_routed(
        worker: tuple[Settings, subprocess.Popen[bytes], Path]) -> None:
    """A contribution whose routed copy exceeds the routed topic's max.message.bytes is dead-lettered with the sizes; the next one on the partition is routed."""
    settings, proc, log = worker
    case_id = f"EHC-999-BIG-{uuid.uuid4().hex[:8]}"
    _produce(settings, REFERRALS.name, case_id, *_referral(case_id))
    wait_until(lambda: _has_status(settings, case_id), 120, what="the case")
    # A first contribution shows the routing stage knows the case (its id entry arrived).
    _produce(settings, CONTRIBUTIONS.name, case_id, *_advice(case_id, "urn:uuid:probe"))
    wait_until(lambda: "urn:uuid:probe" in _routed_ids(settings, case_id), 120, what="the probe")

    big_id = "urn:uuid:big-" + "x" * (ROUTED_LIMIT + 500)
    big, big_headers = _advice(case_id, big_id)
    _produce(settings, CONTRIBUTIONS.name, case_id, big, big_headers)
    _produce(settings, CONTRIBUTIONS.name, case_id, *_advice(case_id, "urn:uuid:after"))

    wait_until(lambda: "urn:uuid:after" in _routed_ids(settings, case_id), 120,
               what="the contribution after the oversized one")
    (letter,) = _dead_letters(settings, case_id)
    assert letter["__connect.errors.topic"] == CONTRIBUTIONS.name
    assert letter["__connect.errors.stage"] == "route_contributions"
    assert letter["__connect.errors.exception.class.name"] == "EventTooLargeError"
    assert letter["__connect.errors.exception.message"].endswith(
        f"{CONTRIBUTIONS_ROUTED.name} accepts at most {ROUTED_LIMIT}")
    assert letter["value"] == big
    assert big_id not in _routed_ids(settings, case_id)
    assert proc.poll() is None, log.read_text()[-3000:]


def _status_change(case_id: str, request_id: str, owner: dict[str, str]
                   ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A TaskStatusChanged declining the request, as the connectors publish it."""
    event = TaskStatusChanged(
        request_id=request_id, case_id=case_id, status="rejected",
        reason_code="NOT_KNOWN_TO_SERVICE", reason_text="Not known to this service",
        owner_ods=owner["value"], owner_system=owner["system"], at=datetime.now(UTC))
    record = task_status_record(event)
    schema = TASK_STATUS.value_schema or ""
    return CODEC.encode(schema, record), _ce(schema, record["event_id"], case_id)


def _social_care_item(settings: Settings, case_id: str) -> dict[str, Any] | None:
    latest = latest_for_key(settings, CASE_STATUS.name, case_id)
    if latest is None:
        return None
    items = [a for a in CODEC.decode(latest.value or b"")[1]["advice"]
             if a["advice_type"] == "SOCIAL_CARE" and a["request_id"]]
    return items[0] if items else None


def test_a_status_change_by_another_la_than_the_one_asked_is_dead_lettered_with_an_alert(
        worker: tuple[Settings, subprocess.Popen[bytes], Path]) -> None:
    """LA 886 declining LA 999's social care request: dead-lettered with the reason and a CRITICAL alert; LA 999's own decline right after reaches the case."""
    settings, proc, log = worker
    case_id = f"EHC-999-OWNER-{uuid.uuid4().hex[:8]}"
    _produce(settings, REFERRALS.name, case_id, *_referral(case_id))
    item = wait_until(lambda: _social_care_item(settings, case_id), 120,
                      what="the social care request in the case")
    assert item["agency"] == {"system": LA_CODE_SYSTEM, "value": "999"}
    request_id = item["request_id"]
    forged, forged_headers = _status_change(case_id, request_id,
                                            {"system": LA_CODE_SYSTEM, "value": "886"})
    _produce(settings, TASK_STATUS.name, case_id, forged, forged_headers)
    _produce(settings, TASK_STATUS.name, case_id,
             *_status_change(case_id, request_id, {"system": LA_CODE_SYSTEM, "value": "999"}))

    declined = wait_until(
        lambda: (i := _social_care_item(settings, case_id)) and i["status"] == "DECLINED" and i,
        120, what="LA 999's own decline in the case")
    assert declined["decline_reason"] == "NOT_KNOWN_TO_SERVICE"
    (letter,) = _dead_letters(settings, case_id)
    assert letter["__connect.errors.topic"] == TASK_STATUS.name
    assert letter["__connect.errors.stage"] == "process_cases"
    assert letter["__connect.errors.exception.class.name"] == "RefusedError"
    assert "changed by https://ehcp-exchange.org/Id/la-code|886" in (
        letter["__connect.errors.exception.message"])
    assert letter["value"] == forged
    alerts = [CODEC.decode(r.value or b"")[1] for r in read_partitions(settings, ALERTS.name)
              if r.key == case_id.encode()]
    (refused,) = [a for a in alerts if a["kind"] == "OTHER"]
    assert (refused["severity"], refused["agency"]["value"]) == ("CRITICAL", "886")
    assert "Not known" not in refused["message"]
    assert proc.poll() is None, log.read_text()[-3000:]
