"""Reading one record by its position (kafka-python): the workspace's one read of a topic.

The workspace reads the read model, not Kafka; the exception is routing an unrouted
contribution by hand, which needs the contribution as the sender sent it (the child's
identifiers are not copied into the read model). This module reads that one record, at the
partition and offset the read model noted, and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.settings import Settings


@dataclass(frozen=True, slots=True)
class RecordAt:
    """The record found at a position."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _consumer(settings: Settings) -> Any:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(enable_auto_commit=False, client_id="ehcp-workspace",
                             consumer_timeout_ms=1000, **kafka_python_config(settings))
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc


def read_one(settings: Settings, topic: str, partition: int, offset: int, *,
             timeout_s: float = 10.0) -> RecordAt | None:
    """The record at ``offset`` of one partition, or None (deleted by retention, or never there).

    Raises:
        BrokerError: Kafka cannot be reached or does not answer in time.
    """
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    consumer = _consumer(settings)
    try:
        tp = TopicPartition(topic, partition)
        if partition not in (consumer.partitions_for_topic(topic) or ()):
            return None
        consumer.assign([tp])
        if not consumer.beginning_offsets([tp])[tp] <= offset < consumer.end_offsets([tp])[tp]:
            return None
        consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for r in consumer.poll(timeout_ms=500, max_records=1).get(tp, []):
                if r.offset != offset:
                    return None  # a compacted gap: the record is gone
                return RecordAt(partition, r.offset, r.key, r.value)
        raise BrokerError(f"no answer from Kafka for {topic} {partition}/{offset}")
    except KafkaError as exc:
        raise BrokerError(f"cannot read {topic} from Kafka: {type(exc).__name__}") from exc
    finally:
        consumer.close()
