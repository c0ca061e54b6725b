"""The managers' unrouted queue: route a contribution into one of the LA's cases, or discard it.

The read model keeps an unrouted contribution without the child's identity (no identifiers,
no date of birth): to decide on it, the workspace reads the ``ContributionUnrouted`` record
itself from ``ehcp.unrouted.v1`` at the partition and offset the read model noted (through
:class:`UnroutedRecords`, a small port with a Kafka and an in-memory implementation), checks it
is the record the queue showed, and publishes an ``UnroutedDecided`` (ROUTED with the chosen case
id, or DISCARDED) to ``ehcp.contributions.v1`` **under that record's Kafka key**. The worker
parked the contribution under the same key, so its routing stage meets the decision on the same
partition: it takes the contribution out of the parked list, resolves its
``CONTRIBUTION_UNROUTED`` alert and, for ROUTED, re-publishes the advice with the case id, keyed
by the case id, to be routed like any advice naming its case (:mod:`streams.stages.routing`).
Once decided, the contribution is never routed or alerted again, even when its child's case
appears later. The decision's event id is derived from the unrouted event, the decision and the
case, so deciding the same item twice the same way is one event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connectors.education.models import EVENT_NAMESPACE
from connectors.ports import PublishedEvent
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.records import CONTRIBUTION_UNROUTED, UNROUTED_DECIDED
from ehcp.contract.topics import CONTRIBUTIONS, UNROUTED
from ehcp.errors import ContractError, ValidationError
from ehcp.routing import hand_routed_event_id
from ehcp.settings import Settings


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """An ``ehcp.unrouted.v1`` record as Kafka holds it."""

    key: bytes | None
    value: bytes | None


class UnroutedRecords(Protocol):
    """Reads one ``ehcp.unrouted.v1`` record by its position."""

    def record(self, partition: int, offset: int) -> StoredRecord | None:
        """The record's key and bytes, or None if Kafka no longer has it.

        Raises:
            BrokerError: Kafka cannot be reached.
        """
        ...


@dataclass
class InMemoryUnroutedRecords:
    """For tests: values (and keys, if known) by (partition, offset)."""

    values: dict[tuple[int, int], bytes] = field(default_factory=dict)
    keys: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def record(self, partition: int, offset: int) -> StoredRecord | None:
        """The stored record, or None."""
        value = self.values.get((partition, offset))
        return None if value is None else StoredRecord(self.keys.get((partition, offset)), value)


class KafkaUnroutedRecords:
    """Reads the record from the broker (kafka-python, one short-lived consumer per read)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def record(self, partition: int, offset: int) -> StoredRecord | None:
        """The record at that position of ``ehcp.unrouted.v1``, or None."""
        from ehcp.kafka_io.record_at import read_one

        found = read_one(self._settings, UNROUTED.name, partition, offset)
        return None if found is None else StoredRecord(found.key, found.value)


class RecordGone(ValidationError):
    """The unrouted record is no longer in Kafka (retention) or is not the one queued."""


def routed_event_id(unrouted_event_id: str, case_id: str) -> str:
    """The id of the advice the worker re-publishes into ``case_id`` (one event per item and
    case)."""
    return hand_routed_event_id(unrouted_event_id, case_id)


def decision_event_id(unrouted_event_id: str, decision: str, case_id: str | None) -> str:
    """The ``UnroutedDecided`` event id: the same decision on the same item is one event."""
    return str(uuid.uuid5(EVENT_NAMESPACE,
                          f"unrouted-decided|{unrouted_event_id}|{decision}|{case_id or ''}"))


def unrouted_decided(stored: StoredRecord | None, *, unrouted_event_id: str, decision: str,
                     case_id: str | None, user_id: str, decided_at: datetime,
                     codec: AvroCodec, pseudonym_key: bytes) -> PublishedEvent:
    """The ``UnroutedDecided`` event for the queued contribution, keyed where it is parked.

    The key is the unrouted record's own Kafka key (the routing stage's key for the
    contribution); a record stored without one is keyed as the connectors keyed the contribution
    (:func:`~ehcp.contract.keys.contribution_key`), which is the same key.

    Raises:
        RecordGone: no bytes, not a ``ContributionUnrouted``, or another event than the queue's.
    """
    if stored is None or stored.value is None:
        raise RecordGone("this contribution is no longer kept in Kafka; ask the sender again")
    try:
        _, unrouted = codec.decode(stored.value, expected=CONTRIBUTION_UNROUTED)
    except ContractError as exc:
        raise RecordGone("the stored record could not be read") from exc
    if unrouted["event_id"] != unrouted_event_id:
        raise RecordGone("the stored record is not the one in the queue")
    contribution: Mapping[str, Any] = unrouted["contribution"]
    key = (stored.key.decode(errors="replace") if stored.key
           else contribution_key(pseudonym_key, contribution))
    record = {
        "event_id": decision_event_id(unrouted_event_id, decision, case_id),
        "unrouted_event_id": unrouted_event_id,
        "decision": decision,
        "case_id": case_id,
        "decided_by": user_id,
        "decided_at": decided_at,
        "contribution": dict(contribution),
    }
    return PublishedEvent(
        topic=CONTRIBUTIONS.name, key=key, schema_name=UNROUTED_DECIDED, record=record,
        ce_type=event_type(UNROUTED_DECIDED),
        ce_subject=case_id or str(contribution["contribution_id"]))
