"""Every record of the catalogue's topics that holds one of a child's needles (``ehcp.traces``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ehcp.contract.topics import TopicSpec
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from ehcp.traces import Needles, found_in


@dataclass(frozen=True, slots=True)
class TopicTrace:
    """One record holding needles, and in which part of it (key, value, headers)."""

    topic: str
    partition: int
    offset: int
    part: str
    labels: frozenset[str]


def topic_traces(settings: Settings, specs: Sequence[TopicSpec], needles: Needles
                 ) -> list[TopicTrace]:
    """Read every topic from the beginning to its end and report each record holding a needle.

    Raises:
        BrokerError: Kafka unreachable, or a topic missing.
    """
    out = []
    for spec in specs:
        for record in read_partitions(settings, spec.name):
            parts = {
                "key": found_in(record.key, needles),
                "value": found_in(record.value, needles),
                "headers": set().union(*(found_in(v, needles) for _, v in record.headers)),
            }
            out += [TopicTrace(record.topic, record.partition, record.offset, part,
                               frozenset(labels)) for part, labels in parts.items() if labels]
    return out
