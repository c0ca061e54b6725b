"""Sending contract events from agents, and the dead-letter path.

Outputs are awaited until Kafka acknowledges them before the agent moves on, so an input's offset
is only committed after what it caused is durable (at-least-once; handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.records import Emit
from ehcp.contract.topics import TopicSpec
from ehcp.errors import EventTooLargeError
from ehcp.kafka_io.limits import MAX_REQUEST_SIZE, check_record_size, is_too_large, record_size
from ehcp.metrics import metrics

log = structlog.get_logger(__name__)

SOURCE = "/ehcp-exchange/streams"


def headers_of(event: faust.EventT[Any]) -> list[tuple[str, bytes]]:
    """An event's headers as a list of pairs, whatever form Faust gives them in."""
    raw = event.headers
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [(str(k), v or b"") for k, v in raw.items()]
    return [(str(k), v or b"") for k, v in raw]


async def _no_topic_limit(_topic: str) -> int:
    return MAX_REQUEST_SIZE


@dataclass(frozen=True, slots=True)
class _Prepared:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


#: Hands one encoded record to the producer: (topic, key, value, headers) -> its ack future.
ProducerSend = Callable[[str, bytes, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]


@dataclass
class Outbox:
    """Collects an agent's outputs for one input and sends them together.

    An output Kafka could never take (over the producer's ``max_request_size`` or the topic's
    ``max.message.bytes``) raises :class:`~ehcp.errors.EventTooLargeError`: before anything is
    sent when the size check catches it, or from :meth:`flush` when Kafka refuses it. The agent
    dead-letters the input for it; every other send error propagates (the worker crashes and
    the input is read again).

    Attributes:
        codec: encodes the records.
        topics: the Faust topics by name.
        topic_limit: a topic's ``max.message.bytes`` (``TopicLimits.limit`` in the worker).
        max_request_size: the producer's ``max_request_size``.
        producer_send: hands records straight to the app's producer (the worker): the same
            send Faust's ``Topic.send`` ends in, without its per-message channel, future and
            sensor objects (about 5 % of the worker's CPU under cProfile); None sends through
            ``topics``.
    """

    codec: AvroCodec
    topics: Mapping[str, faust.TopicT]
    topic_limit: Callable[[str], Awaitable[int]] = _no_topic_limit
    max_request_size: int = MAX_REQUEST_SIZE
    pending: list[Awaitable[Any]] = field(default_factory=list)
    producer_send: ProducerSend | None = None

    def _prepare(
        self, spec: TopicSpec, key: str, record: Mapping[str, Any], subject: str
    ) -> _Prepared:
        schema = spec.value_schema
        assert schema is not None, f"{spec.name} carries raw bytes"  # noqa: S101 - programming error
        ce = CloudEvent(
            id=str(record.get("event_id") or uuid.uuid4()),
            source=SOURCE,
            type=event_type(schema),
            time=datetime.now(UTC),
            subject=subject,
        )
        value = self.codec.encode(schema, record, spec.name)
        return _Prepared(spec.name, key.encode(), value, ce.headers())

    async def _check(self, out: _Prepared) -> None:
        size = record_size(out.key, out.value, out.headers)
        limit = min(self.max_request_size, await self.topic_limit(out.topic))
        if size > limit:
            log.warning("output_too_large", topic=out.topic, size=size, limit=limit)
        check_record_size(out.topic, size, limit)

    async def _send(self, out: _Prepared) -> None:
        try:
            if self.producer_send is not None:
                fut = await self.producer_send(out.topic, out.key, out.value, out.headers)
            else:
                fut = await self.topics[out.topic].send(
                    key=out.key, value=out.value, headers=out.headers
                )
        except Exception as exc:
            if is_too_large(exc):
                raise EventTooLargeError(
                    f"{out.topic} refused an output for its size", size=len(out.value), limit=0
                ) from exc
            raise
        self.pending.append(fut)
        metrics().events_published.labels("worker", out.topic).inc()

    async def send(
        self, spec: TopicSpec, key: str, record: Mapping[str, Any], subject: str
    ) -> None:
        """Encode, size-check and send one record with CloudEvents headers."""
        out = self._prepare(spec, key, record, subject)
        await self._check(out)
        await self._send(out)

    async def send_all(self, emits: Sequence[Emit]) -> None:
        """Encode and size-check every record first, then send them: all or none is sent.

        Raises:
            EventTooLargeError: one of them could never be produced; nothing was sent.
        """
        prepared = [self._prepare(e.topic, e.key, e.record, e.subject) for e in emits]
        for out in prepared:
            await self._check(out)
        for out in prepared:
            await self._send(out)

    async def flush(self) -> None:
        """Wait until Kafka has acknowledged everything sent.

        Raises:
            EventTooLargeError: Kafka refused a record for its size (the others may be sent).
        """
        if self.pending:
            pending, self.pending = self.pending, []
            try:
                await asyncio.gather(*pending)
            except Exception as exc:
                if is_too_large(exc):
                    raise EventTooLargeError(
                        "Kafka refused an output for its size", size=0, limit=0
                    ) from exc
                raise


def error_headers(
    event: faust.EventT[Any], stage: str, exc: BaseException
) -> list[tuple[str, bytes]]:
    """Kafka Connect style error headers describing where and why a message failed."""
    msg = event.message
    return [
        *headers_of(event),
        ("__connect.errors.topic", msg.topic.encode()),
        ("__connect.errors.partition", str(msg.partition).encode()),
        ("__connect.errors.offset", str(msg.offset).encode()),
        ("__connect.errors.stage", stage.encode()),
        ("__connect.errors.exception.class.name", type(exc).__name__.encode()),
        ("__connect.errors.exception.message", str(exc)[:1000].encode()),
        ("__connect.errors.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


async def dead_letter(
    dlq: faust.TopicT, event: faust.EventT[Any], stage: str, exc: BaseException
) -> None:
    """Send the original bytes to the dead-letter topic with the reason, and wait for the ack."""
    msg = event.message
    log.warning(
        "message_dead_lettered",
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        stage=stage,
        error=type(exc).__name__,
    )
    fut = await dlq.send(key=event.key, value=event.value, headers=error_headers(event, stage, exc))
    await fut
    metrics().dead_letters.labels(stage, type(exc).__name__).inc()
