"""The read-model projector: reads the projected topics into the workspace database.

It joins no consumer group: it assigns itself every partition of the projected topics and seeks
each to the next offset stored in the database (the beginning if none), then writes each polled
batch's rows and new offsets in one transaction (``ehcp.readmodel.store.apply_batch``). Kafka
offsets are never committed; the database is the only record of progress, so a stop anywhere
(even between two batches' writes) loses and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from ehcp.contract.avro import AvroCodec
from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.readmodel.mapping import PROJECTED_TOPICS, Source
from ehcp.readmodel.store import apply_batch, stored_offsets
from ehcp.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class ProjectionReport:
    """What one projection run did."""

    applied: int = 0
    batches: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)


def project(
    settings: Settings,
    engine: Engine,
    codec: AvroCodec,
    *,
    follow: bool = False,
    max_records: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProjectionReport:
    """Project the topics into ``engine``'s database from the stored offsets.

    Args:
        settings: Kafka connection settings.
        engine: the read model's database (tables created beforehand).
        codec: decodes the records.
        follow: keep reading new records until ``should_stop``; otherwise stop at the end
            offsets seen at the start.
        max_records: stop after applying this many records (tests use it to stop half way).
        should_stop: polled between batches; True stops the run.

    Raises:
        BrokerError: Kafka unreachable or a projected topic missing.
        ConfigurationError: EHCP_PSEUDONYM_KEY unset or too short.
        ReadModelError: the database refused a batch (nothing of that batch is kept).
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    # Keys the child-identifier search pseudonyms (docs/readmodel.md); required, as the worker's.
    pseudonym_key = settings.pseudonym_key_bytes()
    try:
        consumer: Any = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            client_id="ehcp-readmodel-projector",
            # A stored offset that retention has since deleted resumes at the oldest record kept.
            auto_offset_reset="earliest",
            **kafka_python_config(settings),
        )
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc
    report = ProjectionReport()
    try:
        tps: list[Any] = []
        for spec in PROJECTED_TOPICS:
            partitions = consumer.partitions_for_topic(spec.name)
            if not partitions:
                raise BrokerError(f"topic {spec.name} does not exist (run `ehcp topics apply`)")
            tps.extend(TopicPartition(spec.name, p) for p in sorted(partitions))
        consumer.assign(tps)
        stored = stored_offsets(engine)
        for tp in tps:
            if (tp.topic, tp.partition) in stored:
                consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                consumer.seek_to_beginning(tp)
        end = consumer.end_offsets(tps)
        while not should_stop():
            if max_records is not None and report.applied >= max_records:
                break
            if not follow and all(consumer.position(tp) >= end[tp] for tp in tps):
                break
            limit = 500 if max_records is None else max(1, min(500, max_records - report.applied))
            polled = consumer.poll(timeout_ms=500, max_records=limit)
            sources = [
                Source(tp.topic, tp.partition, r.offset, r.key, r.value,
                       tuple(r.headers or ()), r.timestamp)
                for tp, records in polled.items()
                for r in records
            ]
            if not sources:
                continue
            report.applied += apply_batch(engine, sources, codec, pseudonym_key)
            report.batches += 1
            log.debug("readmodel.batch_applied", records=len(sources))
        report.positions = {(tp.topic, tp.partition): consumer.position(tp) for tp in tps}
    except KafkaError as exc:
        raise BrokerError(f"projection stopped: {type(exc).__name__}: {exc}") from exc
    finally:
        consumer.close()
    log.info("readmodel.projected", applied=report.applied, batches=report.batches)
    return report
