"""Audit events (``AccessRefused``, ``RecordRead``, ``ActionTaken``), written in the background so
a refusal or a read answers at once.

A 403 never waits for Kafka: :meth:`AuditTrail.refused` hands the event to a background task
and returns. That task publishes with acks=all, retrying a bounded number of times with
exponential backoff; an event it still cannot write is appended to a local spool file
(JSON lines, mode 0600, fsynced) and never only logged. The spool is replayed when the app
starts, and again after any later audit write succeeds (Kafka is back). Shutdown waits for the
writes under way, up to a bound, and spools whatever is still unwritten.

Why a local spool rather than ``ehcp.dead-letter.v1``: an audit write is lost almost only when
Kafka is unreachable, and then the dead-letter topic, on the same cluster, is unreachable too.
A file on the connector's own disk is the one place that is still durable. The spool holds no
personal data (credential id, agency code, method, path, refusal reason, time).

Replays publish the same event id again, so a reader of ``ehcp.audit.v1`` may see an event
twice (at least once), never zero times.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import structlog

from connectors.ports import EventPublisher, Principal, PublishedEvent
from ehcp.contract.cloudevents import event_type
from ehcp.contract.records import ACCESS_REFUSED, ACTION_TAKEN, RECORD_READ
from ehcp.contract.topics import AUDIT
from ehcp.errors import EhcpError

log = structlog.get_logger(__name__)

#: Attempts at publishing one audit event before it is spooled (each bounded by the
#: publisher's own timeout, ``EHCP_PUBLISH_TIMEOUT_S``).
ATTEMPTS: Final = 5
#: Backoff before the second attempt; it doubles each time, up to :data:`MAX_BACKOFF_S`.
FIRST_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 8.0
#: How long shutdown waits for audit writes under way before spooling them.
SHUTDOWN_WAIT_S: Final = 15.0


class AuditSpool(Protocol):
    """Durable storage for audit records Kafka did not take."""

    def append(self, record: Mapping[str, Any]) -> None:
        """Store one record durably."""
        ...

    def load(self) -> list[dict[str, Any]]:
        """Every stored record, oldest first."""
        ...

    def remove(self, event_ids: set[str]) -> None:
        """Forget the records with these event ids (they are now in Kafka)."""
        ...


@dataclass
class InMemoryAuditSpool:
    """Spool for tests."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def append(self, record: Mapping[str, Any]) -> None:
        """Keep the record."""
        self.records.append(dict(record))

    def load(self) -> list[dict[str, Any]]:
        """The kept records."""
        return [dict(r) for r in self.records]

    def remove(self, event_ids: set[str]) -> None:
        """Drop the records with these event ids."""
        self.records = [r for r in self.records if r["event_id"] not in event_ids]


class FileAuditSpool:
    """Audit records in a JSON-lines file (mode 0600), shared safely by processes (flock)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path.with_name(self._path.name + ".lock"), os.O_CREAT | os.O_RDWR,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record and fsync it."""
        line = json.dumps(_to_json(record), sort_keys=True) + "\n"
        with self._locked():
            fd = os.open(self._path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def load(self) -> list[dict[str, Any]]:
        """Every record in the file; a torn last line (a crash mid-write) is skipped."""
        with self._locked():
            return self._read()

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self._path.read_text()
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            try:
                records.append(_from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                log.error("audit_spool_line_unreadable", path=str(self._path))
        return records

    def remove(self, event_ids: set[str]) -> None:
        """Rewrite the file atomically without these records."""
        with self._locked():
            keep = [r for r in self._read() if r["event_id"] not in event_ids]
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".audit-spool")
            with os.fdopen(fd, "w") as handle:
                for record in keep:
                    handle.write(json.dumps(_to_json(record), sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._path)


#: The time field of each audit record (JSON has no timestamps: the spool stores ISO text).
_TIME_FIELDS: Final = ("refused_at", "read_at", "acted_at")
#: Spooled records name their schema here; a line without it (older spools) is AccessRefused.
_SCHEMA_FIELD: Final = "_schema"


def _to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, **{k: record[k].isoformat() for k in _TIME_FIELDS if k in record}}


def _from_json(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, **{k: datetime.fromisoformat(data[k]) for k in _TIME_FIELDS if k in data}}


def audit_event(record: Mapping[str, Any], schema: str = ACCESS_REFUSED) -> PublishedEvent:
    """The audit event for a record, keyed by the credential id (or the workspace user id)."""
    who = str(record.get("credential_id") or record.get("user_id") or "")
    return PublishedEvent(
        topic=AUDIT.name,
        key=who,
        schema_name=schema,
        record=record,
        ce_type=event_type(schema),
        ce_subject=who,
    )


def refusal_record(principal: Principal, *, method: str, path: str, reason: str,
                   at: datetime) -> dict[str, Any]:
    """An ``AccessRefused`` record: who was refused what, and why (never personal data)."""
    return {
        "event_id": str(uuid.uuid4()),
        "credential_id": principal.credential_id,
        "agency": {"system": principal.agency_system, "value": principal.agency_value},
        "method": method,
        "path": path,
        "reason": reason[:300],
        "refused_at": at,
    }


def document_read_record(principal: Principal, *, sha256: str, case_id: str | None,
                         channel: str, method: str, path: str, at: datetime) -> dict[str, Any]:
    """A ``RecordRead`` record: a credential read an advice document (never its content)."""
    return {
        "event_id": str(uuid.uuid4()),
        "credential_id": principal.credential_id,
        "user_id": None,
        "agency": {"system": principal.agency_system, "value": principal.agency_value},
        "record_kind": "DOCUMENT",
        "record_id": sha256,
        "case_id": case_id,
        "channel": channel,
        "method": method,
        "path": path,
        "read_at": at,
    }


class AuditTrail:
    """Writes audit events without making the refusal or the read wait for them."""

    def __init__(
        self,
        publisher: EventPublisher,
        spool: AuditSpool,
        *,
        attempts: int = ATTEMPTS,
        first_backoff_s: float = FIRST_BACKOFF_S,
        shutdown_wait_s: float = SHUTDOWN_WAIT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._publisher = publisher
        self._spool = spool
        self._attempts = attempts
        self._first_backoff_s = first_backoff_s
        self._shutdown_wait_s = shutdown_wait_s
        self._sleep = sleep  # injected so tests can see the backoff without waiting for it
        #: (schema, record) handed to a background write and not yet written or spooled.
        self._pending: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._replaying: asyncio.Task[int] | None = None

    async def refused(self, record: Mapping[str, Any]) -> None:
        """Start writing one ``AccessRefused`` record in the background and return at once.

        It yields to the event loop once, so the write has begun (and, with a publisher that
        does not wait, has finished) before the refusal is answered; it never waits for Kafka.
        """
        await self._start(ACCESS_REFUSED, record)

    async def read(self, record: Mapping[str, Any]) -> None:
        """Start writing one ``RecordRead`` record in the background and return at once."""
        await self._start(RECORD_READ, record)

    async def action(self, record: Mapping[str, Any]) -> None:
        """Start writing one ``ActionTaken`` record (a workspace user's action) and return."""
        await self._start(ACTION_TAKEN, record)

    async def _start(self, schema: str, record: Mapping[str, Any]) -> None:
        self._pending[str(record["event_id"])] = (schema, record)
        task = asyncio.create_task(self._write(schema, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.sleep(0)

    async def _write(self, schema: str, record: Mapping[str, Any]) -> None:
        event_id = str(record["event_id"])
        backoff = self._first_backoff_s
        try:
            for attempt in range(1, self._attempts + 1):
                try:
                    await self._publisher.publish(audit_event(record, schema))
                except EhcpError as exc:
                    log.warning("audit_write_failed", attempt=attempt, error=type(exc).__name__,
                                credential_id=record.get("credential_id"))
                    if attempt < self._attempts:
                        await self._sleep(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                self._pending.pop(event_id, None)
                self.start_replay()
                return
            self._spool_pending(event_id, "retries_exhausted")
        finally:
            # Cancelled (shutdown) or a programming error: the record must still not be lost.
            self._spool_pending(event_id, "write_interrupted")

    def _spool_pending(self, event_id: str, why: str) -> None:
        pending = self._pending.pop(event_id, None)
        if pending is None:
            return
        schema, record = pending
        self._spool.append({**record, _SCHEMA_FIELD: schema})
        log.error("audit_event_spooled", reason=why, credential_id=record.get("credential_id"),
                  event_id=event_id)

    def start_replay(self) -> None:
        """Replay the spool in the background, unless a replay is already running."""
        if self._replaying is None or self._replaying.done():
            self._replaying = asyncio.create_task(self.replay())

    async def replay(self) -> int:
        """Publish every spooled record once; keep those Kafka still does not take.

        Returns:
            How many spooled records were written to Kafka.
        """
        records = await asyncio.to_thread(self._spool.load)
        written: set[str] = set()
        for spooled in records:
            record = {k: v for k, v in spooled.items() if k != _SCHEMA_FIELD}
            schema = str(spooled.get(_SCHEMA_FIELD, ACCESS_REFUSED))
            try:
                await self._publisher.publish(audit_event(record, schema))
            except EhcpError as exc:
                log.warning("audit_replay_stopped", error=type(exc).__name__,
                            remaining=len(records) - len(written))
                break
            written.add(str(record["event_id"]))
        if written:
            await asyncio.to_thread(self._spool.remove, written)
            log.info("audit_spool_replayed", written=len(written))
        return len(written)

    async def close(self) -> None:
        """Wait for audit writes under way (bounded), then spool whatever is still unwritten."""
        tasks: list[asyncio.Task[Any]] = [*self._tasks]
        if self._replaying is not None:
            tasks.append(self._replaying)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._shutdown_wait_s)
            for task in late:
                task.cancel()
            if late:  # a cancellation can be swallowed (wait_for racing a result): bound it too
                await asyncio.wait(late, timeout=1.0)
        for event_id in list(self._pending):
            self._spool_pending(event_id, "shutdown")

    @property
    def pending(self) -> int:
        """How many records are being written and not yet in Kafka or the spool."""
        return len(self._pending)
