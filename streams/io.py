"""Sending contract events from agents, and the dead-letter path.

Outputs are awaited until Kafka acknowledges them before the agent moves on, so an input's offset
is only committed after what it caused is durable (at-least-once; handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.topics import TopicSpec

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


@dataclass
class Outbox:
    """Collects an agent's outputs for one input and sends them together."""

    codec: AvroCodec
    topics: Mapping[str, faust.TopicT]
    pending: list[Awaitable[Any]] = field(default_factory=list)

    async def send(
        self, spec: TopicSpec, key: str, record: Mapping[str, Any], subject: str
    ) -> None:
        """Encode and send one record with CloudEvents headers."""
        schema = spec.value_schema
        assert schema is not None, f"{spec.name} carries raw bytes"  # noqa: S101 - programming error
        ce = CloudEvent(
            id=str(record.get("event_id") or uuid.uuid4()),
            source=SOURCE,
            type=event_type(schema),
            time=datetime.now(UTC),
            subject=subject,
        )
        value = self.codec.encode(schema, record)
        fut = await self.topics[spec.name].send(key=key.encode(), value=value, headers=ce.headers())
        self.pending.append(fut)

    async def flush(self) -> None:
        """Wait until Kafka has acknowledged everything sent."""
        if self.pending:
            pending, self.pending = self.pending, []
            await asyncio.gather(*pending)


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
