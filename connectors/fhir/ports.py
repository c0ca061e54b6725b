"""Ports of the health connector, each with an in-memory implementation.

Tests use the in-memory ones throughout; production uses :class:`InMemoryTaskStore` (each
connector process rebuilds the health Tasks from Kafka at start-up) and
:class:`InMemoryTaskEvents` only where no Kafka publisher is wired.

The app factory puts implementations on ``app.state``:

- ``app.state.submissions``: :class:`SubmissionLedger` (idempotency of advice submissions);
- ``app.state.tasks``: :class:`TaskStore` (advice requests for health, as FHIR Tasks);
- ``app.state.task_events``: :class:`TaskEvents` (where Task status changes go);
- ``app.state.url_fetcher`` (optional): :class:`UrlFetcher` for attachments given by url.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from connectors.fhir.errors import DocumentFetchError, DocumentTooLargeError
from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.tasks import task_id_for
from connectors.locks import LockTimeoutError
from ehcp.errors import PublishError
from ehcp.identifiers import NHS_NUMBER_SYSTEM

# --- idempotency of advice submissions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmissionOutcome:
    """What a successful advice submission answered, replayed for a retry.

    Attributes:
        resource_id: the id the server gave the DocumentReference.
        resource: the stored DocumentReference (no inline data) as returned with 201.
        contribution_id: ``AdviceSubmitted.contribution_id``.
        event_id: ``AdviceSubmitted.event_id`` of the published event.
    """

    resource_id: str
    resource: Mapping[str, Any]
    contribution_id: str
    event_id: str


class SubmissionLease(Protocol):
    """Exclusive use of one submission identifier, until released."""

    def release(self) -> None:
        """Let the next holder in; a second call does nothing."""
        ...


class SubmissionLedger(Protocol):
    """Remembers published submissions by (agency ODS code, identifier ``system|value``).

    Every connector process sharing a ledger sees the others' outcomes, and :meth:`acquire`
    excludes them all, so one submission is published by one process at a time.
    """

    async def acquire(self, agency: str, identifier: str, timeout_s: float) -> SubmissionLease:
        """Exclusive use of (agency, identifier) across every process sharing the ledger.

        Raises:
            LockTimeoutError: another holder kept it for ``timeout_s``.
        """
        ...

    def get(self, agency: str, identifier: str) -> SubmissionOutcome | None:
        """The outcome recorded for this agency and identifier token, or None."""
        ...

    def get_resource(self, agency: str, resource_id: str) -> SubmissionOutcome | None:
        """The outcome whose DocumentReference has this id, if this agency submitted it."""
        ...

    def record(self, agency: str, identifiers: Iterable[str], outcome: SubmissionOutcome) -> None:
        """Remember an outcome under every identifier token of the resource.

        Called only after the event was published, so a failed publish leaves nothing behind.
        """
        ...


@dataclass
class _AsyncLease:
    lock: asyncio.Lock

    def release(self) -> None:
        if self.lock.locked():
            self.lock.release()


@dataclass
class InMemorySubmissionLedger:
    """Submission ledger in a dict, for one process (lost on restart)."""

    outcomes: dict[tuple[str, str], SubmissionOutcome] = field(default_factory=dict)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    async def acquire(self, agency: str, identifier: str, timeout_s: float) -> SubmissionLease:
        """Exclusive use of (agency, identifier) in this process."""
        lock = self._locks.setdefault((agency, identifier), asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout_s)
        except TimeoutError:
            raise LockTimeoutError(f"{agency}|{identifier}") from None
        return _AsyncLease(lock)

    def get(self, agency: str, identifier: str) -> SubmissionOutcome | None:
        """The outcome recorded for this agency and identifier token, or None."""
        return self.outcomes.get((agency, identifier))

    def get_resource(self, agency: str, resource_id: str) -> SubmissionOutcome | None:
        """The outcome whose DocumentReference has this id, if this agency submitted it."""
        return next((o for (a, _), o in self.outcomes.items()
                     if a == agency and o.resource_id == resource_id), None)

    def record(self, agency: str, identifiers: Iterable[str], outcome: SubmissionOutcome) -> None:
        """Remember an outcome under every identifier token (first one wins)."""
        for identifier in identifiers:
            self.outcomes.setdefault((agency, identifier), outcome)


# --- advice requests for health, as Tasks ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredTask:
    """An advice request held for a health body, and where it has got to.

    Attributes:
        task_id: the FHIR logical id (:func:`connectors.fhir.tasks.task_id_for`).
        request: the ``AdviceRequested`` record (Avro field names and types).
        status: ``requested``, ``accepted``, ``rejected`` or ``completed``.
        reason_code: code of the last status change, if any.
        reason_text: text of the last status change, if any.
        last_modified: when the status last changed (None: never).
        version: FHIR ``meta.versionId``, 1 on arrival and +1 per status change.
        output_document_id: the advice DocumentReference that completed it (``Task.output``).
        created_at: when its advice request reached Kafka (the record's timestamp), if known.
        reminder: ``due-soon`` or ``overdue`` while such an alert about this advice is open
            (shown as ``Task.businessStatus``); None otherwise.
        reminder_at: when the reminder last changed.
    """

    task_id: str
    request: Mapping[str, Any]
    status: str = "requested"
    reason_code: str | None = None
    reason_text: str | None = None
    last_modified: datetime | None = None
    version: int = 1
    output_document_id: str | None = None
    created_at: datetime | None = None
    reminder: str | None = None
    reminder_at: datetime | None = None

    @property
    def last_updated(self) -> datetime | None:
        """``meta.lastUpdated``: the latest of the request's arrival, the last status change
        and the last reminder change."""
        known = [d for d in (self.created_at, self.last_modified, self.reminder_at) if d]
        return max(known) if known else None

    @property
    def owner_ods(self) -> str:
        """ODS code of the organisation asked for the advice."""
        return str(self.request["agency"]["value"])

    @property
    def nhs_numbers(self) -> frozenset[str]:
        """The child's NHS numbers named by the request, without spaces."""
        return frozenset(
            str(i["value"]).replace(" ", "") for i in self.request.get("child_identifiers", [])
            if i.get("system") == NHS_NUMBER_SYSTEM
        )


class TaskStore(Protocol):
    """Advice requests addressed to health bodies."""

    @property
    def complete(self) -> bool:
        """True once the store holds every request made before the connector started."""
        ...

    def mark_complete(self) -> None:
        """Say the store has caught up with everything made before the connector started."""
        ...

    def add(self, request: Mapping[str, Any], at: datetime | None = None) -> StoredTask:
        """Hold an ``AdviceRequested`` record (``at``: its Kafka timestamp); adding the same
        request again changes nothing."""
        ...

    def get(self, task_id: str) -> StoredTask | None:
        """The Task with this logical id, or None."""
        ...

    def search(self, owner_ods: str, statuses: frozenset[str] | None = None) -> list[StoredTask]:
        """Tasks owned by ``owner_ods``, optionally only those with one of ``statuses``."""
        ...

    def asked(self, owner_ods: str, *, case_id: str | None = None,
              nhs_number: str | None = None) -> bool:
        """Whether ``owner_ods`` holds a Task for this case (or, with no case, this child)."""
        ...

    def set_status(self, task_id: str, status: str, reason_code: str | None,
                   reason_text: str | None, at: datetime, *,
                   output_document_id: str | None = None) -> StoredTask:
        """Record a status change (and the completing advice, if any) and return the new state.

        The same change (status and time) recorded twice counts once: the connector records its
        own changes and then reads them back from Kafka, in either order.
        """
        ...

    def set_reminder(self, task_id: str, reminder: str | None, at: datetime) -> StoredTask:
        """Show (``due-soon``, ``overdue``) or clear (None) the reminder on a Task; a new
        version only when it changes."""
        ...


@dataclass
class InMemoryTaskStore:
    """Task store in a dict, ordered by arrival."""

    tasks: dict[str, StoredTask] = field(default_factory=dict)
    #: False until the feed has caught up (the production app starts it False).
    complete: bool = True
    _by_owner: dict[str, list[str]] = field(default_factory=dict)
    _asked: set[tuple[str, str, str]] = field(default_factory=set)

    def mark_complete(self) -> None:
        """Say the store has caught up with everything made before the connector started."""
        self.complete = True

    def add(self, request: Mapping[str, Any], at: datetime | None = None) -> StoredTask:
        """Hold an ``AdviceRequested`` record (``at``: its Kafka timestamp); adding the same
        request again changes nothing."""
        task_id = task_id_for(str(request["request_id"]))
        if task_id not in self.tasks:
            task = StoredTask(task_id=task_id, request=dict(request), created_at=at)
            self.tasks[task_id] = task
            owner = task.owner_ods.upper()
            self._by_owner.setdefault(owner, []).append(task_id)
            self._asked.add((owner, "case", str(request["case_id"])))
            self._asked.update((owner, "nhs", n) for n in task.nhs_numbers)
        return self.tasks[task_id]

    def get(self, task_id: str) -> StoredTask | None:
        """The Task with this logical id, or None."""
        return self.tasks.get(task_id)

    def search(self, owner_ods: str, statuses: frozenset[str] | None = None) -> list[StoredTask]:
        """Tasks owned by ``owner_ods``, optionally filtered by status (indexed by owner)."""
        found = (self.tasks[i] for i in self._by_owner.get(owner_ods.upper(), ()))
        return [t for t in found if statuses is None or t.status in statuses]

    def asked(self, owner_ods: str, *, case_id: str | None = None,
              nhs_number: str | None = None) -> bool:
        """Whether ``owner_ods`` holds a Task for this case (or, with no case, this child)."""
        key = ("case", case_id) if case_id is not None else ("nhs", nhs_number or "")
        return (owner_ods.upper(), *key) in self._asked

    def set_status(self, task_id: str, status: str, reason_code: str | None,
                   reason_text: str | None, at: datetime, *,
                   output_document_id: str | None = None) -> StoredTask:
        """Record a status change (and the completing advice, if any) and return the new state.

        Raises:
            KeyError: if the Task is unknown (callers look it up first).
        """
        current = self.tasks[task_id]
        if (current.status, current.last_modified) == (status, at):
            return current
        updated = replace(current, status=status, reason_code=reason_code,
                          reason_text=reason_text, last_modified=at, version=current.version + 1,
                          output_document_id=output_document_id)
        self.tasks[task_id] = updated
        return updated

    def set_reminder(self, task_id: str, reminder: str | None, at: datetime) -> StoredTask:
        """Show or clear the reminder on a Task; a new version only when it changes.

        Raises:
            KeyError: if the Task is unknown.
        """
        current = self.tasks[task_id]
        if current.reminder == reminder:
            return current
        updated = replace(current, reminder=reminder, reminder_at=at,
                          version=current.version + 1)
        self.tasks[task_id] = updated
        return updated


# --- Task status events ---------------------------------------------------------------------


class TaskEvents(Protocol):
    """Where Task status changes go; raises :class:`PublishError` if they cannot be made durable."""

    async def publish(self, event: TaskStatusChanged) -> None:
        """Hand over one status change, returning only once it is durable."""
        ...


@dataclass
class InMemoryTaskEvents:
    """Fake task events sink: records events; can be switched to fail like a lost broker."""

    events: list[TaskStatusChanged] = field(default_factory=list)
    unavailable: bool = False

    async def publish(self, event: TaskStatusChanged) -> None:
        """Record the event, or raise PublishError while ``unavailable`` is set."""
        if self.unavailable:
            raise PublishError("task events are unavailable")
        self.events.append(event)


# --- attachments given by url ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """Bytes read from an attachment url, and the media type the server gave (if any)."""

    content: bytes
    content_type: str | None = None


class UrlFetcher(Protocol):
    """Reads an attachment url whose host is on ``settings.document_url_hosts``."""

    async def fetch(self, url: str, max_bytes: int) -> FetchedDocument:
        """Read at most ``max_bytes`` from ``url``.

        Raises:
            DocumentTooLargeError: if the document is longer than ``max_bytes``.
            DocumentFetchError: if it cannot be read.
        """
        ...


@dataclass
class InMemoryUrlFetcher:
    """Fake fetcher serving documents from a dict keyed by url."""

    documents: dict[str, FetchedDocument] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, url: str, max_bytes: int) -> FetchedDocument:
        """Serve ``url`` from the dict, honouring the size limit."""
        self.fetched.append(url)
        document = self.documents.get(url)
        if document is None:
            raise DocumentFetchError("the attachment url could not be fetched")
        if len(document.content) > max_bytes:
            raise DocumentTooLargeError(
                f"the document is larger than {max_bytes} bytes",
                location="DocumentReference.content[0].attachment.url",
            )
        return document
