"""Bounded de-duplication of at-least-once re-sends by event id.

Kafka delivery is at least once: a worker that crashes between writing its outputs and
committing its input offsets writes those outputs again when it restarts, with the same event
ids. Readers therefore drop an event id they have just seen. Re-sends arrive close to the
original (within one uncommitted batch of the writer), so remembering the most recent ids is
enough, and memory stays bounded however long a reader follows a topic.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

#: How many recent event ids a reader remembers. A re-send repeats what the writer produced
#: since its last offset commit: the Faust worker commits every few seconds, and a case's
#: evaluation writes a handful of alerts, so even a backlog replayed after an outage repeats far
#: fewer than 10,000 events. 10,000 ids of 36 characters are about 1 MB in an OrderedDict.
RECENT_EVENT_IDS: Final = 10_000


class RecentIds:
    """The ``capacity`` most recently seen ids (least recently seen dropped first)."""

    def __init__(self, capacity: int = RECENT_EVENT_IDS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """Remember ``event_id``; True unless it is among the recent ids already seen."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
