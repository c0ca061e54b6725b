"""The managers' unrouted queue: route a contribution into one of the LA's cases, or discard it.

The read model keeps an unrouted contribution without the child's identity (no identifiers,
no date of birth): to route it, the workspace reads the ``ContributionUnrouted`` record itself
from ``ehcp.unrouted.v1`` at the partition and offset the read model noted (through
:class:`UnroutedRecords`, a small port with a Kafka and an in-memory implementation), checks
it is the record the queue showed, and re-publishes its ``AdviceSubmitted`` to
``ehcp.contributions.v1`` with the chosen case id: keyed by
:func:`~ehcp.contract.keys.contribution_key` (the case id) and encoded against the Avro
contract by the publisher, as the JSON API does, so the worker's routing stage finds the case
by its id and routes it like any advice. The contribution id, agency, channel, request and
document claim stay the sender's; the event id is new and derived from the unrouted event and
the case, so routing the same item twice to the same case is one event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.education.models import EVENT_NAMESPACE
from connectors.ports import PublishedEvent
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.records import ADVICE_SUBMITTED, CONTRIBUTION_UNROUTED
from ehcp.contract.topics import CONTRIBUTIONS, UNROUTED
from ehcp.errors import ContractError, ValidationError
from ehcp.settings import Settings


class UnroutedRecords(Protocol):
    """Reads one ``ehcp.unrouted.v1`` record's value by its position."""

    def value(self, partition: int, offset: int) -> bytes | None:
        """The record's bytes, or None if Kafka no longer has it.

        Raises:
            BrokerError: Kafka cannot be reached.
        """
        ...


@dataclass
class InMemoryUnroutedRecords:
    """For tests: values by (partition, offset)."""

    values: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def value(self, partition: int, offset: int) -> bytes | None:
        """The stored value, or None."""
        return self.values.get((partition, offset))


class KafkaUnroutedRecords:
    """Reads the record from the broker (kafka-python, one short-lived consumer per read)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def value(self, partition: int, offset: int) -> bytes | None:
        """The record's bytes at that position of ``ehcp.unrouted.v1``, or None."""
        from ehcp.kafka_io.record_at import read_one

        found = read_one(self._settings, UNROUTED.name, partition, offset)
        return None if found is None else found.value


class RecordGone(ValidationError):
    """The unrouted record is no longer in Kafka (retention) or is not the one queued."""


def routed_event_id(unrouted_event_id: str, case_id: str) -> str:
    """The re-published advice's event id: the same item routed to the same case is one event."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"routed-by-hand|{unrouted_event_id}|{case_id}"))


def rerouted_advice(value: bytes | None, *, unrouted_event_id: str, case_id: str,
                    codec: AvroCodec, pseudonym_key: bytes) -> PublishedEvent:
    """The ``AdviceSubmitted`` event that routes the queued contribution into ``case_id``.

    Raises:
        RecordGone: no bytes, not a ``ContributionUnrouted``, or another event than the queue's.
    """
    if value is None:
        raise RecordGone("this contribution is no longer kept in Kafka; ask the sender again")
    try:
        _, unrouted = codec.decode(value, expected=CONTRIBUTION_UNROUTED)
    except ContractError as exc:
        raise RecordGone("the stored record could not be read") from exc
    if unrouted["event_id"] != unrouted_event_id:
        raise RecordGone("the stored record is not the one in the queue")
    contribution: Mapping[str, Any] = unrouted["contribution"]
    record = {**contribution, "case_id": case_id,
              "event_id": routed_event_id(unrouted_event_id, case_id)}
    schema = CONTRIBUTIONS.value_schema or ADVICE_SUBMITTED
    return PublishedEvent(
        topic=CONTRIBUTIONS.name, key=contribution_key(pseudonym_key, record),
        schema_name=schema, record=record, ce_type=event_type(schema), ce_subject=case_id)
