"""The production :class:`~connectors.ports.EventPublisher`: aiokafka, acks=all, idempotent.

``publish`` returns only when every in-sync replica has the record, so a 2xx from a connector
means the event is durable. While Kafka is unreachable it raises
:class:`~ehcp.errors.PublishError` (the handler answers 503 with Retry-After) and reconnects on
the next call.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.ports import PublishedEvent, PublishReceipt
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent
from ehcp.errors import PublishError
from ehcp.kafka_clients import aiokafka_config
from ehcp.settings import Settings

log = structlog.get_logger(__name__)


class KafkaPublisher:
    """Encodes events with the Avro codec and sends them with acks=all."""

    def __init__(self, settings: Settings, codec: AvroCodec, source: str) -> None:
        self._settings = settings
        self._codec = codec
        self._source = source
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
                    client_id="ehcp-connectors",
                    **aiokafka_config(self._settings),
                )
                try:
                    await asyncio.wait_for(producer.start(), self._settings.publish_timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise PublishError(f"Kafka is unavailable: {type(exc).__name__}") from exc
                self._producer = producer
            return self._producer

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        """Send one event and wait for acks=all.

        Raises:
            PublishError: Kafka unavailable or the send timed out; nothing is acknowledged.
            ContractError: the record does not fit its schema (a programming error upstream).
        """
        value = self._codec.encode(event.schema_name, event.record)
        ce = CloudEvent(
            id=str(event.record.get("event_id") or uuid.uuid4()),
            source=self._source,
            type=event.ce_type,
            time=datetime.now(UTC),
            subject=event.ce_subject,
        )
        producer = await self._ensure()
        try:
            meta = await asyncio.wait_for(
                producer.send_and_wait(
                    event.topic, value=value, key=event.key.encode(), headers=ce.headers()
                ),
                self._settings.publish_timeout_s,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("publish_failed", topic=event.topic, error=type(exc).__name__)
            await self._reset()
            raise PublishError(
                f"Kafka did not acknowledge the event: {type(exc).__name__}"
            ) from exc
        log.info(
            "event_published",
            topic=meta.topic,
            partition=meta.partition,
            offset=meta.offset,
            ce_type=event.ce_type,
            ce_subject=event.ce_subject,
        )
        return PublishReceipt(topic=meta.topic, partition=meta.partition, offset=meta.offset)

    async def _reset(self) -> None:
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    await asyncio.wait_for(producer.stop(), 5)
                except (KafkaError, OSError, TimeoutError):
                    log.warning("producer_stop_failed")

    async def close(self) -> None:
        """Flush and stop the producer."""
        await self._reset()
