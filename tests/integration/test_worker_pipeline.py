"""The pipelined worker on a real broker: state written by the completing task lands on the
right changelog partition, and a restarted worker carries on from it (issue #11).

The case stage's state is stored by a task of the agent's own, after Kafka acknowledged the
input's outputs; Faust takes the changelog partition from its "current event", which that task
sets. Were it wrong, a case's state would sit on another changelog partition, and a worker
restarted (or another worker given the partition) would not find it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.topics import CASE_STATUS, CASEWORK_EVENTS, REFERRALS, catalogue
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import partition_for, read_partitions
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
CODEC = default_codec()
CASES = [f"EHC-999-PIPE-{n:03d}" for n in range(24)]
RECEIVED = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=3)


@pytest.fixture(scope="module")
def broker_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker of this module's own (other tests' workers must not take these inputs)."""
    home = tmp_path_factory.mktemp("pipeline")
    broker = start_local_broker(home / "kafka")
    try:
        settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key="e" * 64,
                            partitions=4, app_id="ehcp-test-pipeline", data_dir=home / "data",
                            credentials_file=home / "credentials.json",
                            documents_dir=home / "documents")
        apply_topics(settings, catalogue(settings.app_id))
        yield settings
    finally:
        broker.stop()


def _send(settings: Settings, messages: list[tuple[str, str, bytes, list[tuple[str, bytes]]]]
          ) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for topic, key, value, headers in messages:
            producer.send(topic, value, key=key.encode(), headers=headers)
        producer.flush(30)
    finally:
        producer.close()


def _decision(case_id: str) -> tuple[str, str, bytes, list[tuple[str, bytes]]]:
    event_id = f"{case_id}-decision"
    on = (RECEIVED + timedelta(weeks=2)).date()
    event = {"type": "DecisionToAssessMade", "event_id": event_id, "case_id": case_id,
             "occurred_on": on.isoformat()}
    record = {"event_id": event_id, "case_id": case_id, "event_type": "DecisionToAssessMade",
              "occurred_on": on, "recorded_by": {"system": LA_CODE_SYSTEM, "value": "999"},
              "event_json": json.dumps(event)}
    schema = CASEWORK_EVENTS.value_schema or ""
    headers = CloudEvent(id=event_id, source="/tests", type=event_type(schema),
                         time=datetime.now(UTC), subject=case_id).headers()
    return CASEWORK_EVENTS.name, case_id, CODEC.encode(schema, record), headers


def _last_statuses(settings: Settings) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for r in read_partitions(settings, CASE_STATUS.name):
        if r.key and r.value:
            out[r.key.decode()] = CODEC.decode(r.value)[1]
    return out


def test_state_is_on_its_cases_partition_and_a_restarted_worker_carries_on(
    broker_settings: Settings, tmp_path: Path
) -> None:
    """24 referrals at once (many in flight), a restart, then a decision for each case."""
    settings = broker_settings
    _send(settings, [(REFERRALS.name, c, *referral_message(c, RECEIVED)) for c in CASES])
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], settings_env(settings), log)
    try:
        wait_until(lambda: set(CASES) <= set(_last_statuses(settings)), timeout_s=240,
                   what="a case status for every referral")
    finally:
        stop(worker)

    changelog = f"{settings.app_id}-cases-changelog"
    # Faust writes the table's keys as JSON strings (the case id in quotes)
    stored = {json.loads(r.key): r for r in read_partitions(settings, changelog) if r.key}
    assert set(CASES) <= set(stored)
    for case_id in CASES:
        record = stored[case_id]
        # the partition the case's inputs are on (keyed by the case id, as every input is)
        assert record.partition == partition_for(case_id.encode(), settings.partitions)
        state = json.loads(record.value or b"{}")
        assert state["la_code"] == "999"
        assert state["next_due"] is not None

    worker = spawn(["worker"], settings_env(settings), log)
    try:
        _send(settings, [_decision(c) for c in CASES])

        def assessed() -> bool:
            statuses = _last_statuses(settings)
            return all(statuses.get(c, {}).get("stage") == "ASSESSING" for c in CASES)

        wait_until(assessed, timeout_s=240, what="every case assessing after the decision")
    finally:
        stop(worker)
    statuses = _last_statuses(settings)
    for case_id in CASES:  # the referral came back from the changelog: same case, not a new one
        assert statuses[case_id]["received_on"] == RECEIVED.date()
    text = log.read_text(errors="replace")
    assert "kafka_partition_stalled" not in text
    assert "stage_completion_failed" not in text
