"""``ehcp report sen2`` reads the case history the real worker stored on a real broker (#14 item 10).

Referrals for LA 999 and LA 886 and a decision to assess go through the worker; the report for
LA 999 then holds LA 999's case with the dates the engine worked out, leaves out LA 886's, and
reports (never crashes on) an unreadable stored case.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.topics import CASE_STATUS, CASEWORK_EVENTS, REFERRALS, catalogue
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.support import (
    LocalBroker,
    settings_env,
    spawn,
    stop,
    synthetic_nhs_number,
    wait_until,
)

pytestmark = pytest.mark.integration
RECEIVED = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=3)


def _referral(case_id: str, la: str) -> tuple[str, str, bytes, list[tuple[str, bytes]]]:
    from cli import demo
    from connectors.education.models import ReferralIn, referral_record
    from ehcp.contract.avro import default_codec

    body = demo.referral(RECEIVED, case_id)
    body["la_code"] = la
    body["child"] = {**body["child"], "nhs_number": synthetic_nhs_number()}
    del body["child"]["upn"]
    record = referral_record(ReferralIn.model_validate(body))
    schema = REFERRALS.value_schema or ""
    ce = CloudEvent(id=record["event_id"], source="/tests", type=event_type(schema),
                    time=datetime.now(UTC), subject=case_id)
    return REFERRALS.name, case_id, default_codec().encode(schema, record), ce.headers()


def _decision(case_id: str) -> tuple[str, str, bytes, list[tuple[str, bytes]]]:
    from ehcp.contract.avro import default_codec

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
    return CASEWORK_EVENTS.name, case_id, default_codec().encode(schema, record), headers


def _send(settings: Settings, messages: list[tuple[str, str, bytes, list[tuple[str, bytes]]]]
          ) -> None:
    from kafka import KafkaProducer

    from ehcp.kafka_io.kafka_clients import kafka_python_config

    producer = KafkaProducer(acks="all", **kafka_python_config(settings))
    try:
        for topic, key, value, headers in messages:
            producer.send(topic, value, key=key.encode(), headers=headers)
        producer.flush(30)
    finally:
        producer.close()


def test_the_sen2_return_reads_the_workers_case_history(
    kafka_settings: Settings, own_broker: LocalBroker, tmp_path: Path
) -> None:
    # a broker and a worker of this test's own: on the session broker this worker also read
    # every earlier test's referrals, and once (full suite, loaded machine) the return lacked
    # this test's case for a reason not yet understood -- see the assertion's output below
    settings = kafka_settings.model_copy(
        update={"kafka_bootstrap": own_broker.config.bootstrap,
                "app_id": f"ehcp-test-sen2-{uuid.uuid4().hex[:6]}"})
    apply_topics(settings, catalogue(settings.app_id))
    tag = uuid.uuid4().hex[:6].upper()
    ours, theirs = f"EHC-999-SEN2-{tag}", f"EHC-886-SEN2-{tag}"
    _send(settings, [_referral(ours, "999"), _referral(theirs, "886")])
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], settings_env(settings), log)
    changelog = f"{settings.app_id}-cases-changelog"
    try:
        def status_of(case_id: str) -> dict[str, object] | None:
            from ehcp.contract.avro import default_codec
            found = None
            for r in read_partitions(settings, CASE_STATUS.name):
                if r.key == case_id.encode() and r.value:
                    found = default_codec().decode(r.value)[1]
            return found

        wait_until(lambda: status_of(ours) and status_of(theirs), timeout_s=240,
                   what="a case status for both referrals")
        _send(settings, [_decision(ours)])
        wait_until(lambda: (status_of(ours) or {}).get("stage") == "ASSESSING", timeout_s=240,
                   what="LA 999's case assessing")

        def stored() -> bool:
            states = {json.loads(r.key): json.loads(r.value)
                      for r in read_partitions(settings, changelog) if r.key and r.value}
            return "DecisionToAssessMade" in json.dumps(states.get(ours, {}).get("inputs", []))

        wait_until(stored, timeout_s=240, what="the decision in the stored case")
    finally:
        stop(worker)
    # a stored case nothing can read: reported by its key, never fatal
    _send(settings, [(changelog, json.dumps(f"EHC-999-BAD-{tag}"), b"{not json", [])])

    out = tmp_path / "sen2.csv"
    reference = (datetime.now(UTC) + timedelta(days=1)).date()
    result = CliRunner().invoke(
        cli, ["report", "sen2", "--la", "999", "--year", str(reference.year),
              "--reference-date", reference.isoformat(), "--format", "csv", "--out", str(out)],
        env=settings_env(settings))
    assert result.exit_code == 0, result.output
    rows = {r["CaseRef"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert theirs not in rows
    assert ours in rows, result.output
    row = rows[ours]
    assert row["Scope"] == "ongoing work on the reference date"
    assert row["Requests.ReceivedDate"] == RECEIVED.date().isoformat()
    assert row["Requests.RequestOutcomeDate"] == (RECEIVED + timedelta(weeks=2)).date().isoformat()
    assert row["Requests.RequestOutcome"] == ""  # code list not found: left for the LA
    summary = result.stderr if hasattr(result, "stderr") else result.output
    assert f"EHC-999-BAD-{tag}" in summary
    assert "another LA's case" in summary
    assert row["Person.PersonBirthDate"] not in summary  # the summary holds no dates of birth
