"""The connectors' Kafka publisher: acks=all, CloudEvents headers, a wire format any Avro reader reads."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import PublishedEvent, PublishReceipt
from ehcp.contract.avro import default_codec, fingerprint
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.errors import PublishError
from ehcp.kafka_io.kafka_clients import kafka_python_config
from ehcp.settings import Settings
from schemas import SCHEMA_DIR
from tests.support import free_ports

pytestmark = pytest.mark.integration


def _advice(contribution_id: str) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "contribution_id": contribution_id,
        "case_id": "EHC-T-PUB-1",
        "request_id": None,
        "child_identifiers": [],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "ZZ901"},
        "submitted_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "channel": "FHIR",
        "document": {"sha256": "ab" * 32, "size_bytes": 12, "content_type": "text/plain"},
    }


def _read_back(settings: Settings, topic: str, partition: int, offset: int):
    consumer = KafkaConsumer(enable_auto_commit=False, **kafka_python_config(settings))
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for _ in range(20):
            records = consumer.poll(timeout_ms=500).get(tp, [])
            if records:
                return records[0]
    finally:
        consumer.close()
    raise AssertionError("record not found")


def test_published_advice_decodes_with_plain_fastavro(kafka_settings: Settings) -> None:
    """A published record reads back with plain fastavro and the schema file its fingerprint names."""
    record = _advice("urn:uuid:" + str(uuid.uuid4()))

    async def publish() -> PublishReceipt:
        publisher = KafkaPublisher(kafka_settings, default_codec(), source="/tests")
        try:
            return await publisher.publish(
                PublishedEvent(
                    topic=CONTRIBUTIONS.name,
                    key="EHC-T-PUB-1",
                    schema_name=CONTRIBUTIONS.value_schema or "",
                    record=record,
                    ce_type="org.ehcpexchange.advice.submitted.v1",
                    ce_subject="EHC-T-PUB-1",
                )
            )
        finally:
            await publisher.close()

    receipt = asyncio.run(publish())
    message = _read_back(kafka_settings, receipt.topic, receipt.partition, receipt.offset)
    value: bytes = message.value
    assert value[:2] == b"\xc3\x01"
    by_fingerprint = {
        fingerprint(json.loads(p.read_text())): p for p in Path(SCHEMA_DIR).glob("*/v*.avsc")
    }
    schema_file = by_fingerprint[value[2:10]]
    assert schema_file.parent.name == "advice_submitted"
    decoded = fastavro.schemaless_reader(
        io.BytesIO(value[10:]), fastavro.parse_schema(json.loads(schema_file.read_text()))
    )
    assert decoded == record
    headers = dict(message.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"org.ehcpexchange.advice.submitted.v1"
    assert headers["ce_id"] == record["event_id"].encode()
    assert headers["ce_subject"] == b"EHC-T-PUB-1"
    assert message.key == b"EHC-T-PUB-1"


def test_publish_to_an_absent_broker_raises_publish_error(kafka_settings: Settings) -> None:
    """With no broker listening, publish raises PublishError instead of hanging or succeeding."""
    (port,) = free_ports(1)
    settings = kafka_settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{port}", "publish_timeout_s": 3.0}
    )

    async def publish() -> None:
        publisher = KafkaPublisher(settings, default_codec(), source="/tests")
        try:
            await publisher.publish(
                PublishedEvent(
                    topic=CONTRIBUTIONS.name,
                    key="EHC-T-PUB-2",
                    schema_name=CONTRIBUTIONS.value_schema or "",
                    record=_advice("c-2"),
                    ce_type="t",
                    ce_subject="s",
                )
            )
        finally:
            await publisher.close()

    with pytest.raises(PublishError):
        asyncio.run(publish())
