"""The production :class:`~connectors.ports.EventPublisher`: aiokafka, acks=all, idempotent.

``publish`` returns only when every in-sync replica has the record, so a 2xx from a connector
means the event is durable. While Kafka is unreachable it raises
:class:`~ehcp.errors.PublishError` (the handler answers 503 with Retry-After). A retry of the same
submission (same event id) joins the original send rather than writing the event again.

An event Kafka could never take raises :class:`~ehcp.errors.EventTooLargeError` instead (413: a
retry cannot succeed). Before sending, the record's size (as aiokafka estimates a batch holding
it alone) is checked against the smaller of the producer's ``max_request_size`` and the topic's
``max.message.bytes``, read from the broker and cached for :data:`TOPIC_LIMIT_TTL_S`; Kafka's
own refusal (``MessageSizeTooLargeError``) is translated the same way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from connectors.ports import PublishedEvent, PublishReceipt
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent
from ehcp.errors import EventTooLargeError, PublishError
from ehcp.kafka_io.kafka_clients import aiokafka_config
from ehcp.settings import Settings

log = structlog.get_logger(__name__)
#: How many delivered event ids a publisher remembers, so late retries are answered, not re-sent.
DELIVERED_MEMORY: Final = 10_000
#: The producer's ``max_request_size`` (aiokafka's default, 1 MiB), stated so it can be checked.
MAX_REQUEST_SIZE: Final = 1_048_576
#: How long a topic's ``max.message.bytes`` is trusted before it is read again.
TOPIC_LIMIT_TTL_S: Final = 300.0


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
        self._admin: AIOKafkaAdminClient | None = None
        self._topic_limits: dict[str, tuple[float, int]] = {}

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
            PublishError: Kafka unavailable or the send timed out; nothing is acknowledged.
            EventTooLargeError: the record is larger than the topic or the producer accepts.
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
        await self._check_size(event, value, ce)
        meta = await self._send(event, value, ce)
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
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            event.key.encode(), value, ce.headers())
        limit = min(MAX_REQUEST_SIZE, await self._topic_limit(event.topic))
        if size > limit:
            log.warning("event_too_large", topic=event.topic, size=size, limit=limit,
                        ce_type=event.ce_type)
            raise EventTooLargeError(
                f"the event is {size} bytes; {event.topic} accepts at most {limit}",
                size=size, limit=limit)

    async def _topic_limit(self, topic: str) -> int:
        """The topic's ``max.message.bytes``; the producer's limit if it cannot be read."""
        cached = self._topic_limits.get(topic)
        if cached is not None and time.monotonic() - cached[0] < TOPIC_LIMIT_TTL_S:
            return cached[1]
        try:
            admin = await self._ensure_admin()
            responses = await asyncio.wait_for(
                admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]),
                self._settings.publish_timeout_s)
            limit = _max_message_bytes(responses, topic)
        except (KafkaError, OSError, TimeoutError, ValueError) as exc:
            # Not fatal: Kafka's own MESSAGE_TOO_LARGE answer is translated in _send.
            log.warning("topic_limit_unknown", topic=topic, error=type(exc).__name__)
            return MAX_REQUEST_SIZE
        self._topic_limits[topic] = (time.monotonic(), limit)
        return limit

    async def _ensure_admin(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(
                    request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
                    client_id="ehcp-connectors-limits",
                    **aiokafka_config(self._settings),
                )
                try:
                    await asyncio.wait_for(admin.start(), self._settings.publish_timeout_s)
                except (KafkaError, OSError, TimeoutError):
                    await admin.close()
                    raise
                self._admin = admin
            return self._admin

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
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await asyncio.wait_for(admin.close(), 5)
            except (KafkaError, OSError, TimeoutError):
                log.warning("admin_close_failed")


def _max_message_bytes(responses: list[Any], topic: str) -> int:
    """``max.message.bytes`` from a DescribeConfigs answer for one topic.

    Raises:
        ValueError: the answer carries an error or no such entry.
    """
    for response in responses:
        for error_code, _message, _kind, name, entries in (
                (r[0], r[1], r[2], r[3], r[4]) for r in response.resources):
            if name != topic:
                continue
            if error_code:
                raise ValueError(f"DescribeConfigs error {error_code}")
            for entry in entries:
                if entry[0] == "max.message.bytes":
                    return int(entry[1])
    raise ValueError("max.message.bytes not in the DescribeConfigs answer")
