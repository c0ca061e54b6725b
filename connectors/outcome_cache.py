"""A bounded, least-recently-used cache of submission outcomes, in front of a ledger's store.

A recorded outcome never changes (the first one wins), so a cached outcome is never stale; only
absences are not cached (another process may record one at any moment). The cache holds at most
``max_entries`` keys, so a connector's memory no longer grows with every submission it has seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``max_entries`` values; the least recently used one goes first. Thread-safe:
    a ledger is written from a worker thread and read on the event loop."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self._max = max_entries
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The cached value (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value``, dropping the least recently used entry beyond the bound."""
        if self._max == 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
