"""Hostile input against the real broker: no event Kafka cannot hold gets past the connectors.

The publisher checks an event's size against the topic's ``max.message.bytes`` (413, never 503:
a retry cannot succeed), and the production connectors refuse over-long strings (422) before
anything reaches Kafka, where a megabyte identifier would later crash the stream worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from cli import demo
from connectors.auth import FileCredentialStore, new_credential
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import PublishedEvent
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS, catalogue
from ehcp.errors import EventTooLargeError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics, kafka_python_config
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.support import (
    free_ports,
    publish_advice_requests,
    settings_env,
    spawn,
    stop,
    synthetic_nhs_number,
    wait_until,
)
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration

SCHEMA = "org.ehcpexchange.events.AdviceSubmitted"


def _advice(contribution_id: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "contribution_id": contribution_id,
        "case_id": "EHC-T-LIM-1",
        "request_id": None,
        "child_identifiers": [],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ906"},
        "submitted_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "channel": "FHIR",
        "document": {"sha256": "ab" * 32, "size_bytes": 12, "content_type": "text/plain"},
    }


def _event(topic: str, contribution_id: str) -> PublishedEvent:
    record = _advice(contribution_id)
    return PublishedEvent(topic=topic, key="EHC-T-LIM-1", schema_name=SCHEMA, record=record,
                          ce_type="org.ehcpexchange.advice.submitted.v1",
                          ce_subject="EHC-T-LIM-1")


def _set_topic_configs(settings: Settings, topic: str, configs: dict[str, str]) -> None:
    """Set these overrides on the topic (kafka-python sends IncrementalAlterConfigs: others stay)."""
    admin = KafkaAdminClient(client_id="ehcp-test-limits", **kafka_python_config(settings))
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
    finally:
        admin.close()


@contextmanager
def small_topic(settings: Settings, max_message_bytes: int) -> Iterator[str]:
    """A fresh topic accepting at most ``max_message_bytes`` per record batch."""
    name = f"ehcp.test.limits-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(client_id="ehcp-test-limits", **kafka_python_config(settings))
    try:
        admin.create_topics([NewTopic(name, 1, 1, topic_configs={
            "max.message.bytes": str(max_message_bytes)})])
    finally:
        admin.close()
    yield name


def test_an_event_over_the_topic_limit_is_refused_as_too_large_not_unavailable(
        kafka_settings: Settings) -> None:
    """Against max.message.bytes=1200: a 700-byte event is sent, an 1800-byte one is refused."""
    with small_topic(kafka_settings, 1200) as topic:
        publisher = KafkaPublisher(kafka_settings, default_codec(), source="/test")

        async def run() -> tuple[Any, EventTooLargeError]:
            try:
                fits = await publisher.publish(_event(topic, f"urn:uuid:{uuid.uuid4()}"))
                with pytest.raises(EventTooLargeError) as refused:
                    await publisher.publish(_event(topic, "https://rbz.example/" + "a" * 1400))
                return fits, refused.value
            finally:
                await publisher.close()

        fits, refused = asyncio.run(run())
    assert fits.topic == topic
    assert refused.limit == 1200
    assert refused.size > 1200
    assert [r.offset for r in read_partitions(kafka_settings, topic)] == [fits.offset]


def test_kafkas_own_size_refusal_is_too_large_not_unavailable(kafka_settings: Settings) -> None:
    """A topic limit lowered after the publisher read it: Kafka's MESSAGE_TOO_LARGE is a 413."""
    with small_topic(kafka_settings, 100_000) as topic:
        publisher = KafkaPublisher(kafka_settings, default_codec(), source="/test")

        async def run() -> EventTooLargeError:
            try:
                await publisher.publish(_event(topic, f"urn:uuid:{uuid.uuid4()}"))  # reads limit
                _set_topic_configs(kafka_settings, topic, {"max.message.bytes": "600"})
                await asyncio.sleep(1)  # the broker applies topic configs asynchronously
                with pytest.raises(EventTooLargeError) as refused:
                    await publisher.publish(_event(topic, "https://rbz.example/" + "a" * 1400))
                return refused.value
            finally:
                await publisher.close()

        refused = asyncio.run(run())
    assert refused.limit == 0  # not known to the publisher: Kafka said no


@contextmanager
def connectors(settings: Settings, tmp_path: Path, ods: str) -> Iterator[tuple[str, str]]:
    """The production connectors (``ehcp connectors``) with one health credential."""
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, ods, "health")
    FileCredentialStore(tmp_path / "credentials.json").save([credential])
    (port,) = free_ports(1)
    env = {**settings_env(settings), "EHCP_HTTP_PORT": str(port),
           "EHCP_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
           "EHCP_SUBMISSIONS_FILE": str(tmp_path / "submissions.jsonl"),
           "EHCP_DOCUMENTS_DIR": str(tmp_path / "documents")}
    proc = spawn(["connectors"], env, tmp_path / "connectors.log")
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "connectors.log").read_text()[-3000:]
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 90, what="the connectors")
        yield base, token
    finally:
        stop(proc)


def _post_when_ready(base: str, token: str, body: Any) -> httpx.Response:
    """POST advice, retrying while the Task feed is still loading (503)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    deadline = time.monotonic() + 60
    while True:
        response = httpx.post(f"{base}/fhir/DocumentReference", json=body, headers=headers,
                              timeout=60)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def _published_contributions(settings: Settings) -> set[str]:
    codec = default_codec()
    ids = {codec.decode(r.value or b"")[1].get("contribution_id")
           for r in read_partitions(settings, CONTRIBUTIONS.name)}
    return {i for i in ids if i is not None}  # not advice: a person's UnroutedDecided


def test_the_connectors_refuse_a_megabyte_identifier_and_a_deep_body_without_publishing(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """Over HTTP: a 1,000,000-character masterIdentifier.value is 422, 2000-deep JSON 422."""
    nhs = synthetic_nhs_number()
    case_id = f"EHC-999-LIM-{uuid.uuid4().hex[:8]}"
    publish_advice_requests(kafka_settings, [
        advice_request(f"{case_id}-R1", owner="ZZ906", nhs_number=nhs, case_id=case_id)])
    advice = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
    advice["subject"]["identifier"]["value"] = nhs
    advice["custodian"]["identifier"]["value"] = "ZZ906"
    huge = "https://rbz.example/Id/advice|" + "A" * 1_000_000
    advice["masterIdentifier"] = {"system": "https://rbz.example/Id/advice", "value": huge}
    with connectors(kafka_settings, tmp_path, "ZZ906") as (base, token):
        refused = _post_when_ready(base, token, advice)
        deep = httpx.post(f"{base}/fhir/DocumentReference",
                          content=b'{"extension":' + b"[" * 2000 + b"]" * 2000 + b"}",
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/fhir+json"}, timeout=60)
    assert refused.status_code == 422, refused.text[:300]
    assert refused.json()["issue"][0]["expression"] == [
        "DocumentReference.masterIdentifier.value"]
    assert deep.status_code == 422, deep.text[:300]
    assert deep.json()["issue"][0]["code"] == "too-costly"
    assert not any(len(c) > 1000 for c in _published_contributions(kafka_settings))


def test_the_connectors_answer_413_for_advice_larger_than_the_contributions_topic_takes(
        kafka_settings: Settings, own_broker: LocalBroker, tmp_path: Path) -> None:
    """With the topic at max.message.bytes=1200: usual advice is 201, long-id advice 413.

    On a broker of its own: lowering the limit of the session's contributions topic would refuse
    other tests' advice meanwhile, and kafka-python's AlterConfigs could not take the override off.
    """
    kafka_settings = kafka_settings.model_copy(
        update={"kafka_bootstrap": own_broker.config.bootstrap})
    apply_topics(kafka_settings, catalogue(kafka_settings.app_id))
    nhs = synthetic_nhs_number()
    case_id = f"EHC-999-LIM-{uuid.uuid4().hex[:8]}"
    publish_advice_requests(kafka_settings, [
        advice_request(f"{case_id}-R1", owner="ZZ907", nhs_number=nhs, case_id=case_id)])

    def advice(system: str, value: str) -> dict[str, Any]:
        body = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
        body["subject"]["identifier"]["value"] = nhs
        body["custodian"]["identifier"]["value"] = "ZZ907"
        body["masterIdentifier"] = {"system": system, "value": value}
        return body

    usual = advice("urn:ietf:rfc:3986", f"urn:uuid:{uuid.uuid4()}")
    # Within every string bound (URI 1024, identifier value 128), but 1.8 KB as an event.
    long_ids = advice("https://rbz.example/Id/" + "a" * 1000, "V" * 128)
    spec = next(s for s in catalogue(kafka_settings.app_id) if s.name == CONTRIBUTIONS.name)
    _set_topic_configs(kafka_settings, CONTRIBUTIONS.name,
                       {**spec.configs(kafka_settings.min_insync_replicas),
                        "max.message.bytes": "1200"})
    time.sleep(1)  # the broker applies topic configs asynchronously
    with connectors(kafka_settings, tmp_path, "ZZ907") as (base, token):
        accepted = _post_when_ready(base, token, usual)
        too_large = _post_when_ready(base, token, long_ids)
    assert accepted.status_code == 201, accepted.text[:300]
    assert too_large.status_code == 413, too_large.text[:300]
    assert too_large.json()["issue"][0]["code"] == "too-long"
    assert "Retry-After" not in too_large.headers
    published = _published_contributions(kafka_settings)
    assert usual["masterIdentifier"]["value"] in published
    assert not any(c.endswith("V" * 128) for c in published)
