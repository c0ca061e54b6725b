"""Reading topics from the CLI with kafka-python: a case's latest status, alerts, dead letters.

Keys are placed on partitions by murmur2, as the Java client, aiokafka and Faust all do, so the
partition holding a case is computed rather than scanned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ehcp.contract.avro import AvroCodec
from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.settings import Settings


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` on."""
    from kafka.partitioner.default import murmur2

    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(
            enable_auto_commit=False,
            client_id="ehcp-cli",
            consumer_timeout_ms=1000,
            **kafka_python_config(settings),
        )
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc


def read_partitions(
    settings: Settings,
    topic: str,
    partitions: list[int] | None = None,
    *,
    follow: bool = False,
    from_beginning: bool = True,
) -> Iterator[RawRecord]:
    """Yield records of ``topic`` (all partitions by default) up to the current end, or forever."""
    from kafka import TopicPartition

    consumer = _consumer(settings)
    try:
        available = consumer.partitions_for_topic(topic)
        if not available:
            raise BrokerError(
                f"topic {topic} does not exist (run `ehcp topics apply`), or this principal "
                f"({settings.kafka_sasl_username or 'anonymous'}) may not describe it"
            )
        tps = [
            TopicPartition(topic, p)
            for p in sorted(partitions if partitions is not None else available)
        ]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        end = consumer.end_offsets(tps)
        while True:
            batch = consumer.poll(timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    yield RawRecord(
                        tp.topic,
                        tp.partition,
                        r.offset,
                        r.key,
                        r.value,
                        list(r.headers or []),
                        r.timestamp,
                    )
            if not follow and all(consumer.position(tp) >= end[tp] for tp in tps):
                return
    finally:
        consumer.close()


def latest_for_key(
    settings: Settings, topic: str, key: str, *, stored_key: bytes | None = None
) -> RawRecord | None:
    """The newest record with ``key`` (a compacted topic's current value), or None.

    ``key`` places the record on its partition; ``stored_key`` is the key as stored, if it is
    encoded differently (Faust changelogs store JSON-encoded keys on the source partition).
    """
    consumer = _consumer(settings)
    try:
        count = len(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()
    if count == 0:
        raise BrokerError(
                f"topic {topic} does not exist (run `ehcp topics apply`), or this principal "
                f"({settings.kafka_sasl_username or 'anonymous'}) may not describe it"
            )
    latest = None
    partition = partition_for(key.encode(), count)
    wanted = stored_key if stored_key is not None else key.encode()
    for record in read_partitions(settings, topic, [partition]):
        if record.key == wanted:
            latest = record
    return latest


def decode_all(
    codec: AvroCodec, records: Iterator[RawRecord]
) -> Iterator[tuple[RawRecord, dict[str, Any]]]:
    """Decode records with the codec (raising on bad ones)."""
    for record in records:
        _, value = codec.decode(record.value or b"")
        yield record, value
