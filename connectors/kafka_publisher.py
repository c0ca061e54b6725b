"""The production :class:`~connectors.ports.EventPublisher`: aiokafka, acks=all, idempotent.

``publish`` returns only when every in-sync replica has the record, so a 2xx from a connector
means the event is durable. While Kafka is unreachable it raises
:class:`~ehcp.errors.PublishError` (the handler answers 503 with Retry-After). A retry of the same
submission (same event id) joins the original send rather than writing the event again.

An event Kafka could never take raises :class:`~ehcp.errors.EventTooLargeError` instead (413: a
retry cannot succeed). Before sending, the record's size (as aiokafka estimates a batch holding
it alone) is checked against the smaller of the producer's ``max_request_size`` and the topic's
``max.message.bytes``, read from the broker and cached for five minutes; Kafka's
own refusal (``MessageSizeTooLargeError``) is translated the same way. The size check and the
topic limits are :mod:`ehcp.kafka_io.limits`, shared with the stream worker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from connectors.ports import PublishedEvent, PublishReceipt
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent
from ehcp.errors import EventTooLargeError, PublishError, SchemaRegistryError
from ehcp.kafka_io.kafka_clients import aiokafka_config
from ehcp.kafka_io.limits import MAX_REQUEST_SIZE, TopicLimits, check_record_size, record_size
from ehcp.metrics import metrics
from ehcp.settings import Settings

log = structlog.get_logger(__name__)
#: How many delivered event ids a publisher remembers, so late retries are answered, not re-sent.
DELIVERED_MEMORY: Final = 10_000


class KafkaPublisher:
    """Encodes events with the Avro codec and sends them with acks=all."""

    def __init__(self, settings: Settings, codec: AvroCodec, source: str) -> None:
        self._settings = settings
        self._codec = codec
        self._source = source
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._delivered: OrderedDict[str, Any] = OrderedDict()
        self._limits = TopicLimits(settings, "ehcp-connectors-limits")
        self._component = source.rstrip("/").rsplit("/", 1)[-1]  # metrics label

    async def ready(self) -> bool:
        """True once the producer has started (connected and read the cluster's metadata);
        starts it if need be."""
        try:
            await self._ensure()
        except PublishError:
            return False
        return True

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
                    max_request_size=MAX_REQUEST_SIZE,
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
            PublishError: Kafka (or, for the Confluent wire format, the schema registry)
                unavailable or the send timed out; nothing is acknowledged.
            EventTooLargeError: the record is larger than the topic or the producer accepts.
            ContractError: the record does not fit its schema (a programming error upstream).
        """
        try:
            value = self._codec.encode(event.schema_name, event.record, event.topic)
        except SchemaRegistryError as exc:  # the Confluent format's registry: retry later (503)
            log.error("schema_registry_unavailable", topic=event.topic, error=str(exc))
            raise PublishError(f"schema registry unavailable: {exc}") from exc
        ce = CloudEvent(
            id=str(event.record.get("event_id") or uuid.uuid4()),
            source=self._source,
            type=event.ce_type,
            time=datetime.now(UTC),
            subject=event.ce_subject,
        )
        await self._check_size(event, value, ce)
        try:
            meta = await self._send(event, value, ce)
        except PublishError:
            metrics().publish_failures.labels(self._component, event.topic).inc()
            raise
        metrics().events_published.labels(self._component, meta.topic).inc()
        log.info(
            "event_published",
            topic=meta.topic,
            partition=meta.partition,
            offset=meta.offset,
            ce_type=event.ce_type,
            ce_subject=event.ce_subject,
        )
        return PublishReceipt(topic=meta.topic, partition=meta.partition, offset=meta.offset)

    async def _check_size(self, event: PublishedEvent, value: bytes, ce: CloudEvent) -> None:
        """Refuse a record no retry could deliver, before it is sent (413, never 503)."""
        size = record_size(event.key.encode(), value, ce.headers())
        limit = min(MAX_REQUEST_SIZE, await self._limits.limit(event.topic))
        if size > limit:
            log.warning("event_too_large", topic=event.topic, size=size, limit=limit,
                        ce_type=event.ce_type)
        check_record_size(event.topic, size, limit)

    async def _send(self, event: PublishedEvent, value: bytes, ce: CloudEvent) -> Any:
        """Send, or join the send already under way for the same event id.

        A send that times out is not cancelled: aiokafka may still deliver it once Kafka is back.
        So the future is kept under the event id (deterministic per submission), and a retry of
        the same submission waits for that send instead of writing the event a second time; a
        delivered send is remembered for the same reason.
        """
        event_id = ce.id
        if event_id in self._delivered:
            return self._delivered[event_id]
        pending = self._inflight.get(event_id)
        if pending is None:
            producer = await self._ensure()
            pending = asyncio.ensure_future(producer.send_and_wait(
                event.topic, value=value, key=event.key.encode(), headers=ce.headers()))
            self._inflight[event_id] = pending
            pending.add_done_callback(lambda done: self._settle(event_id, done))
        try:
            return await asyncio.wait_for(asyncio.shield(pending), self._settings.publish_timeout_s)
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            # Kafka (or aiokafka) refused the record for its size: it never will take it.
            log.warning("publish_refused_too_large", topic=event.topic, error=type(exc).__name__)
            raise EventTooLargeError(f"{event.topic} refused the event for its size",
                                     size=len(value), limit=0) from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("publish_failed", topic=event.topic, error=type(exc).__name__)
            raise PublishError(
                f"Kafka did not acknowledge the event: {type(exc).__name__}",
                pending=None if pending.done() else asyncio.shield(pending),
            ) from exc

    def _settle(self, event_id: str, done: asyncio.Future[Any]) -> None:
        self._inflight.pop(event_id, None)
        if not done.cancelled() and done.exception() is None:
            self._delivered[event_id] = done.result()
            while len(self._delivered) > DELIVERED_MEMORY:
                self._delivered.popitem(last=False)

    async def _reset(self) -> None:
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    await asyncio.wait_for(producer.stop(), 5)
                except (KafkaError, OSError, TimeoutError):
                    log.warning("producer_stop_failed")

    async def close(self) -> None:
        """Flush and stop the producer (and the admin client reading topic limits)."""
        await self._reset()
        await self._limits.close()
