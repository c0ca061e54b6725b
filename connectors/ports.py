"""Ports: the small interfaces connectors use to reach external systems, with in-memory fakes.

Production adapters live beside the code that needs them (``connectors.kafka_publisher``,
``connectors.docstore``); tests pass the fakes below through the same factory
(:func:`connectors.app.create_app`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from ehcp.errors import PublishError


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """One event as handed to Kafka: topic, key, the Avro record name and the record itself."""

    topic: str
    key: str
    schema_name: str
    record: Mapping[str, Any]
    ce_type: str
    ce_subject: str


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    """Where Kafka stored an event (acks=all): proof it is durable."""

    topic: str
    partition: int
    offset: int


class EventPublisher(Protocol):
    """Publishes contract events durably; raises :class:`PublishError` if Kafka cannot take them."""

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        """Encode and send one event, returning only once the broker has acknowledged it."""
        ...


@dataclass
class InMemoryPublisher:
    """Fake publisher for tests: records events; can be switched to fail like a lost broker."""

    events: list[PublishedEvent] = field(default_factory=list)
    unavailable: bool = False

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        """Record the event, or raise PublishError while ``unavailable`` is set."""
        if self.unavailable:
            raise PublishError("Kafka is unavailable")
        self.events.append(event)
        return PublishReceipt(topic=event.topic, partition=0, offset=len(self.events) - 1)


@dataclass(frozen=True, slots=True)
class DocumentClaim:
    """The claim check for a stored document: what Kafka carries instead of the bytes."""

    sha256: str
    size_bytes: int
    content_type: str

    def as_record(self) -> dict[str, Any]:
        """The Avro ``DocumentClaim`` record."""
        return {
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "content_type": self.content_type,
        }


class DocumentStore(Protocol):
    """Content-addressed document store: the same bytes always get the same claim."""

    def put(self, content: bytes, content_type: str) -> DocumentClaim:
        """Store bytes durably and return their claim."""
        ...

    def get(self, sha256: str) -> bytes | None:
        """Return stored bytes, or None if unknown."""
        ...

    def open(self, sha256: str) -> BinaryIO | None:
        """A readable binary file of the stored bytes (the caller closes it), or None if unknown.

        For streaming a document out without holding it all in memory.
        """
        ...


@dataclass
class InMemoryDocumentStore:
    """Fake document store for tests."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, content: bytes, content_type: str) -> DocumentClaim:
        """Store bytes under their SHA-256."""
        digest = hashlib.sha256(content).hexdigest()
        self.blobs[digest] = content
        return DocumentClaim(sha256=digest, size_bytes=len(content), content_type=content_type)

    def get(self, sha256: str) -> bytes | None:
        """Return the bytes stored under ``sha256``."""
        return self.blobs.get(sha256)

    def open(self, sha256: str) -> BinaryIO | None:
        """The bytes stored under ``sha256`` as a file in memory."""
        content = self.blobs.get(sha256)
        return None if content is None else io.BytesIO(content)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated agency credential and what it may do.

    Attributes:
        credential_id: id of the credential (never the secret).
        agency: the agency identifier (system, value), e.g. an ODS organisation code.
        kind: ``health``, ``education``, ``social_care``, ``local_authority`` or ``admin``.
        scopes: endpoint scopes, e.g. ``fhir:write``, ``education:write``.
        advice_types: AdviceType names this agency may submit.
    """

    credential_id: str
    agency_system: str
    agency_value: str
    kind: str
    scopes: frozenset[str]
    advice_types: frozenset[str] = frozenset()

    def allows(self, scope: str) -> bool:
        """True if the credential carries ``scope``."""
        return scope in self.scopes
