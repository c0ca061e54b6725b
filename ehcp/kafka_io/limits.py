"""How large a record Kafka will take on a topic, and the check both producers run before sending.

A record no retry could deliver (larger than the producer's ``max_request_size`` or the topic's
``max.message.bytes``) raises :class:`~ehcp.errors.EventTooLargeError`. The connectors answer it
with 413; the stream worker dead-letters the input whose output it is. The size is the one
aiokafka estimates for a batch holding the record alone; a topic's limit is read from the broker
and cached for :data:`TOPIC_LIMIT_TTL_S`. Kafka's own refusal (``MessageSizeTooLargeError``,
``RecordTooLargeError``) is recognised by :func:`is_too_large`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Final

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ehcp.errors import EventTooLargeError
from ehcp.kafka_io.kafka_clients import aiokafka_config
from ehcp.settings import Settings

log = structlog.get_logger(__name__)

#: aiokafka's default ``max_request_size`` (1 MiB): the connectors' producer states it.
MAX_REQUEST_SIZE: Final = 1_048_576
#: How long a topic's ``max.message.bytes`` is trusted before it is read again.
TOPIC_LIMIT_TTL_S: Final = 300.0


def record_size(key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> int:
    """The size of a record batch holding this record alone, as aiokafka estimates it."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def check_record_size(topic: str, size: int, limit: int) -> None:
    """Refuse a record over ``limit`` bytes.

    Raises:
        EventTooLargeError: ``size > limit``; the message names the topic and both numbers.
    """
    if size > limit:
        raise EventTooLargeError(
            f"the event is {size} bytes; {topic} accepts at most {limit}", size=size, limit=limit
        )


def is_too_large(exc: BaseException) -> bool:
    """Whether a send failed because Kafka (or the client) refuses the record for its size.

    Faust wraps client errors (``ProducerSendError ... from exc``), so the cause chain is read.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (MessageSizeTooLargeError, RecordTooLargeError)):
            return True
        seen = seen.__cause__
    return False


class TopicLimits:
    """Reads and caches each topic's ``max.message.bytes`` through an aiokafka admin client."""

    def __init__(
        self, settings: Settings, client_id: str, fallback: int = MAX_REQUEST_SIZE
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._fallback = fallback
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()
        self._cache: dict[str, tuple[float, int]] = {}

    async def limit(self, topic: str) -> int:
        """The topic's ``max.message.bytes``; ``fallback`` if it cannot be read (not fatal)."""
        cached = self._cache.get(topic)
        if cached is not None and time.monotonic() - cached[0] < TOPIC_LIMIT_TTL_S:
            return cached[1]
        try:
            admin = await self._ensure_admin()
            responses = await asyncio.wait_for(
                admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]),
                self._settings.publish_timeout_s,
            )
            limit = max_message_bytes(responses, topic)
        except (KafkaError, OSError, TimeoutError, ValueError) as exc:
            # Not fatal: Kafka's own MESSAGE_TOO_LARGE answer is recognised after the send.
            log.warning("topic_limit_unknown", topic=topic, error=type(exc).__name__)
            return self._fallback
        self._cache[topic] = (time.monotonic(), limit)
        return limit

    async def _ensure_admin(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(
                    request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
                    client_id=self._client_id,
                    **aiokafka_config(self._settings),
                )
                try:
                    await asyncio.wait_for(admin.start(), self._settings.publish_timeout_s)
                except (KafkaError, OSError, TimeoutError):
                    await admin.close()
                    raise
                self._admin = admin
            return self._admin

    async def close(self) -> None:
        """Close the admin client, if one was opened."""
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await asyncio.wait_for(admin.close(), 5)
            except (KafkaError, OSError, TimeoutError):
                log.warning("admin_close_failed")


def max_message_bytes(responses: list[Any], topic: str) -> int:
    """``max.message.bytes`` from a DescribeConfigs answer for one topic.

    Raises:
        ValueError: the answer carries an error or no such entry.
    """
    for response in responses:
        for error_code, _message, _kind, name, entries in (
            (r[0], r[1], r[2], r[3], r[4]) for r in response.resources
        ):
            if name != topic:
                continue
            if error_code:
                raise ValueError(f"DescribeConfigs error {error_code}")
            for entry in entries:
                if entry[0] == "max.message.bytes":
                    return int(entry[1])
    raise ValueError("max.message.bytes not in the DescribeConfigs answer")
