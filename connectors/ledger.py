"""A durable :class:`~connectors.fhir.ports.SubmissionLedger`: an append-only JSON-lines file.

The health connector records each published submission here (after Kafka acknowledged it), so a
client retrying after the connector restarted gets the original answer instead of a second event.
Each record is one line, written with one append and fsynced before ``record`` returns.

Several connector processes may share the file (``uvicorn --workers``, or hosts sharing a
filesystem with working ``flock``): each reads what the others appended before answering, and
:meth:`FileSubmissionLedger.acquire` locks a submission identifier across all of them
(:class:`connectors.locks.FileKeyLocks` in ``<file>.locks/``).

Memory: the ledger keeps an index from each (agency, identifier) and (agency, resource id) to the
offset of its line (tens of bytes a submission), and at most ``cache_size`` parsed outcomes
(:class:`connectors.outcome_cache.LruCache`); an outcome not cached is read back from its line.
Connectors that must not grow at all, or run on several hosts, use the PostgreSQL ledger
(:mod:`connectors.pgstore`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from connectors.fhir.ports import SubmissionLease, SubmissionOutcome
from connectors.locks import FileKeyLocks
from connectors.outcome_cache import LruCache

#: Parsed outcomes a ledger keeps by default (EHCP_SUBMISSION_CACHE_SIZE).
DEFAULT_CACHE_SIZE = 10_000


class FileSubmissionLedger:
    """Submission outcomes by (agency, identifier), kept in a JSON-lines file (mode 0600)."""

    def __init__(self, path: Path, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._path = path
        self._locks = FileKeyLocks(path.with_name(path.name + ".locks"))
        self._outcomes: dict[tuple[str, str], int] = {}  # -> offset of the line
        self._resources: dict[tuple[str, str], int] = {}
        self.cache: LruCache[int, SubmissionOutcome] = LruCache(cache_size)
        self._read_up_to = 0
        self._reading = threading.Lock()  # record() runs in a thread, get() on the event loop

    async def acquire(self, agency: str, identifier: str, timeout_s: float) -> SubmissionLease:
        """Lock (agency, identifier) across every process sharing this file.

        Raises:
            LockTimeoutError: another holder kept it for ``timeout_s``.
        """
        return await self._locks.acquire(f"{agency}|{identifier}", timeout_s)

    def get(self, agency: str, identifier: str) -> SubmissionOutcome | None:
        """The outcome recorded for this agency and identifier token, or None."""
        self._refresh()
        return self._outcome_at(self._outcomes.get((agency, identifier)))

    def get_resource(self, agency: str, resource_id: str) -> SubmissionOutcome | None:
        """The outcome whose DocumentReference has this id, if this agency submitted it."""
        self._refresh()
        return self._outcome_at(self._resources.get((agency, resource_id)))

    def record(self, agency: str, identifiers: Iterable[str], outcome: SubmissionOutcome) -> None:
        """Append the outcome durably, then remember it under every identifier (first wins)."""
        identifiers = list(identifiers)
        line = json.dumps(
            {
                "agency": agency,
                "identifiers": identifiers,
                "outcome": {
                    "resource_id": outcome.resource_id,
                    "resource": dict(outcome.resource),
                    "contribution_id": outcome.contribution_id,
                    "event_id": outcome.event_id,
                },
            }
        )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._refresh()

    def _refresh(self) -> None:
        """Read the complete lines appended since the last read (by any process)."""
        with self._reading:
            try:
                with self._path.open("rb") as f:
                    f.seek(self._read_up_to)
                    chunk = f.read()
            except FileNotFoundError:
                return
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
            offset = self._read_up_to
            self._read_up_to += len(complete)
            for line in complete.splitlines(keepends=True):
                if line.strip():
                    self._remember(offset, json.loads(line))
                offset += len(line)

    def _remember(self, offset: int, entry: dict[str, object]) -> None:
        agency = str(entry["agency"])
        outcome = _outcome(entry)
        for identifier in entry["identifiers"]:  # type: ignore[attr-defined]
            self._outcomes.setdefault((agency, identifier), offset)
        self._resources.setdefault((agency, outcome.resource_id), offset)

    def _outcome_at(self, offset: int | None) -> SubmissionOutcome | None:
        """The outcome on the line at ``offset``: from the cache, else read from the file."""
        if offset is None:
            return None
        cached = self.cache.get(offset)
        if cached is not None:
            return cached
        with self._path.open("rb") as f:
            f.seek(offset)
            outcome = _outcome(json.loads(f.readline()))
        self.cache.put(offset, outcome)
        return outcome


def _outcome(entry: dict[str, object]) -> SubmissionOutcome:
    return SubmissionOutcome(**entry["outcome"])  # type: ignore[arg-type]
