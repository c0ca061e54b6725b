"""Inspecting and re-driving the dead-letter topic.

A dead letter holds the original key, value and headers plus Kafka Connect style error headers
(``__connect.errors.*``). Replay sends the original record back to its original topic with its
original headers, after an operator has fixed the cause. Replays go through the consumer group
``<app id>-dlq-replay``, whose committed offset marks what was already re-driven, so a dead letter
is replayed once unless ``--from-beginning`` is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ehcp.contract.topics import DEAD_LETTER, DEAD_LETTER_ERROR_PREFIX
from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.kafka_io.readers import RawRecord, read_partitions
from ehcp.settings import Settings

ERROR_PREFIX = DEAD_LETTER_ERROR_PREFIX


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter: where it came from and why it failed."""

    record: RawRecord
    original_topic: str
    original_partition: int
    original_offset: int
    stage: str
    exception_class: str
    exception_message: str

    @classmethod
    def of(cls, record: RawRecord) -> DeadLetter:
        """Read the error headers of a dead-letter record."""
        h = {k: v.decode(errors="replace") for k, v in record.headers if k.startswith(ERROR_PREFIX)}
        return cls(
            record=record,
            original_topic=h.get(f"{ERROR_PREFIX}topic", ""),
            original_partition=int(h.get(f"{ERROR_PREFIX}partition", "-1")),
            original_offset=int(h.get(f"{ERROR_PREFIX}offset", "-1")),
            stage=h.get(f"{ERROR_PREFIX}stage", ""),
            exception_class=h.get(f"{ERROR_PREFIX}exception.class.name", ""),
            exception_message=h.get(f"{ERROR_PREFIX}exception.message", ""),
        )

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it failed."""
        return [(k, v) for k, v in self.record.headers if not k.startswith(ERROR_PREFIX)]


def list_dead_letters(settings: Settings) -> Iterator[DeadLetter]:
    """Every dead letter currently on the topic."""
    for record in read_partitions(settings, DEAD_LETTER.name):
        yield DeadLetter.of(record)


def replay(
    settings: Settings,
    *,
    stage: str | None = None,
    topic: str | None = None,
    from_beginning: bool = False,
    dry_run: bool = False,
) -> list[DeadLetter]:
    """Send not-yet-replayed dead letters (optionally only one stage or topic) back to their topic.

    Returns the dead letters replayed (or that would be, with ``dry_run``).

    Raises:
        BrokerError: Kafka unreachable or a send not acknowledged.
    """
    from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
    from kafka.errors import KafkaError

    config = kafka_python_config(settings)
    group = f"{settings.app_id}-dlq-replay"
    try:
        consumer = KafkaConsumer(
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=2000,
            **config,
        )
        producer = KafkaProducer(acks="all", **config)
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc
    replayed: list[DeadLetter] = []
    try:
        partitions = consumer.partitions_for_topic(DEAD_LETTER.name) or set()
        tps = [TopicPartition(DEAD_LETTER.name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        for message in consumer:
            letter = DeadLetter.of(
                RawRecord(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.key,
                    message.value,
                    list(message.headers or []),
                    message.timestamp,
                )
            )
            if (stage is None or letter.stage == stage) and (
                topic is None or letter.original_topic == topic
            ):
                if not dry_run:
                    producer.send(
                        letter.original_topic,
                        key=message.key,
                        value=message.value,
                        headers=letter.original_headers(),
                    ).get(timeout=30)
                replayed.append(letter)
            if all(consumer.position(tp) >= end[tp] for tp in tps):
                break
        if not dry_run:
            producer.flush()
            consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in tps})
    except KafkaError as exc:
        raise BrokerError(f"replay failed: {type(exc).__name__}: {exc}") from exc
    finally:
        producer.close()
        consumer.close()
    return replayed
