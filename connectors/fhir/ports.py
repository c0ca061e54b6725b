"""Ports of the health connector, each with an in-memory implementation.

Tests use the in-memory ones throughout; production uses :class:`InMemoryTaskStore` (each
connector process rebuilds the advice requests from Kafka at start-up) and
:class:`InMemoryTaskEvents` only where no Kafka publisher is wired.

The app factory puts implementations on ``app.state``:

- ``app.state.submissions``: :class:`SubmissionLedger` (idempotency of advice submissions);
- ``app.state.tasks``: :class:`TaskStore` (advice requests for every agency; FHIR serves the
  health ones as Tasks, the JSON APIs the others);
- ``app.state.task_events``: :class:`TaskEvents` (where Task status changes go);
- ``app.state.url_fetcher`` (optional): :class:`UrlFetcher` for attachments given by url.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from connectors.documents import FetchedDocument, InMemoryUrlFetcher, UrlFetcher
from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.tasks import task_id_for
from connectors.locks import LockTimeoutError
from connectors.ports import PublishReceipt
from ehcp.contract.topics import TASK_STATUS
from ehcp.errors import PublishError
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM

#: The url fetcher port is shared with the JSON connectors and lives in connectors/documents.py.
__all__ = [
    "FeedPosition", "FetchedDocument", "InMemorySubmissionLedger", "InMemoryTaskEvents",
    "InMemoryTaskStore", "InMemoryUrlFetcher", "StoredTask", "SubmissionLease",
    "SubmissionLedger", "SubmissionOutcome", "TaskEvents", "TaskStore", "UrlFetcher",
]

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


# --- advice requests, as Tasks ---------------------------------------------------------------


#: Where on Kafka a change was read: (topic, partition, offset). The same in every process.
FeedPosition = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class StoredTask:
    """An advice request held for the body asked, and where it has got to.

    Every connector process holds every advice request, whichever agency it was sent to (an
    NHS body by ODS code, a school by URN, an LA service by LA code). FHIR serves only those
    sent to an ODS organisation (:meth:`owned_by` with the ODS system); the JSON APIs serve
    the others to their own credentials.

    Attributes:
        task_id: the FHIR logical id (:func:`connectors.fhir.tasks.task_id_for`).
        request: the ``AdviceRequested`` record (Avro field names and types).
        status: ``requested``, ``accepted``, ``rejected`` or ``completed``.
        reason_code: code of the last status change, if any.
        reason_text: text of the last status change, if any.
        last_modified: when the status last changed (None: never).
        version: FHIR ``meta.versionId``, 1 on arrival and +1 per status change.
        output_document_id: the advice DocumentReference that completed it (``Task.output``).
        position: where on Kafka its latest change was read or written (None: not known), so
            readers can ask for what changed after a point (``connectors.agency_requests``).
        updated_at: when its latest change happened: the request record's Kafka timestamp, or
            a status change's ``changed_at``.
        reminder: ``due-soon`` or ``overdue`` while such an alert about this advice is open
            (shown as ``Task.businessStatus``); None otherwise.
        reminder_at: when the reminder last changed.
        la_reminded_at: when LA staff last sent the asked body a reminder about this advice
            from the workspace (shown as a ``Task.note``); None: never.
    """

    task_id: str
    request: Mapping[str, Any]
    status: str = "requested"
    reason_code: str | None = None
    reason_text: str | None = None
    last_modified: datetime | None = None
    version: int = 1
    output_document_id: str | None = None
    position: FeedPosition | None = None
    updated_at: datetime | None = None
    reminder: str | None = None
    reminder_at: datetime | None = None
    la_reminded_at: datetime | None = None

    @property
    def last_updated(self) -> datetime | None:
        """``meta.lastUpdated``: the latest change, of its status (or the request's arrival)
        or of its reminder."""
        known = [d for d in (self.updated_at, self.last_modified, self.reminder_at,
                             self.la_reminded_at) if d]
        return max(known) if known else None

    @property
    def owner_system(self) -> str:
        """The identifier system of the body asked (ODS code, school URN, LA code)."""
        return str(self.request["agency"]["system"])

    @property
    def owner_ods(self) -> str:
        """The code of the body asked (an ODS code when :attr:`owner_system` is ODS's)."""
        return str(self.request["agency"]["value"])

    def owned_by(self, system: str, value: str) -> bool:
        """Whether the request was sent to the agency ``system|value`` (codes case-insensitive)."""
        return system == self.owner_system and value.upper() == self.owner_ods.upper()

    @property
    def nhs_numbers(self) -> frozenset[str]:
        """The child's NHS numbers named by the request, without spaces."""
        return frozenset(
            str(i["value"]).replace(" ", "") for i in self.request.get("child_identifiers", [])
            if i.get("system") == NHS_NUMBER_SYSTEM
        )


class TaskStore(Protocol):
    """Advice requests addressed to any agency, looked up by owner (system and code)."""

    @property
    def complete(self) -> bool:
        """True once the store holds every request made before the connector started."""
        ...

    def mark_complete(self) -> None:
        """Say the store has caught up with everything made before the connector started."""
        ...

    def add(self, request: Mapping[str, Any], *, position: FeedPosition | None = None,
            at: datetime | None = None) -> StoredTask:
        """Hold an ``AdviceRequested`` record; adding the same request again changes nothing.

        Args:
            request: the record.
            position: where it was read on Kafka.
            at: the Kafka record's timestamp.
        """
        ...

    def get(self, task_id: str) -> StoredTask | None:
        """The Task with this logical id (sent to any agency: callers check the owner), or None."""
        ...

    def search(self, owner_ods: str, statuses: frozenset[str] | None = None, *,
               system: str = ODS_ORGANISATION_SYSTEM) -> list[StoredTask]:
        """Requests sent to ``system|owner_ods`` (an ODS code unless ``system`` says otherwise),
        optionally only those with one of ``statuses``, in the order they arrived."""
        ...

    def asked(self, owner_ods: str, *, case_id: str | None = None,
              nhs_number: str | None = None) -> bool:
        """Whether ODS organisation ``owner_ods`` holds a Task for this case (or, with no case,
        this child)."""
        ...

    def set_status(self, task_id: str, status: str, reason_code: str | None,
                   reason_text: str | None, at: datetime, *,
                   output_document_id: str | None = None,
                   position: FeedPosition | None = None) -> StoredTask:
        """Record a status change (and the completing advice, if any) and return the new state.

        The same change (status and time) recorded twice counts once: the connector records its
        own changes and then reads them back from Kafka, in either order. ``position`` is where
        the change is on Kafka; ``at`` is also its :attr:`StoredTask.updated_at`.
        """
        ...

    def set_reminder(self, task_id: str, reminder: str | None, at: datetime) -> StoredTask:
        """Show (``due-soon``, ``overdue``) or clear (None) the reminder on a Task; a new
        version only when it changes."""
        ...

    def record_la_reminder(self, task_id: str, reminder: str, at: datetime) -> StoredTask:
        """LA staff reminded the asked body at ``at``: show it (and ``reminder`` as the
        business status); a new version unless that reminder is shown already."""
        ...


@dataclass
class InMemoryTaskStore:
    """Task store in a dict, ordered by arrival, indexed by owner."""

    tasks: dict[str, StoredTask] = field(default_factory=dict)
    #: False until the feed has caught up (the production app starts it False).
    complete: bool = True
    _by_owner: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _asked: set[tuple[str, str, str]] = field(default_factory=set)

    def mark_complete(self) -> None:
        """Say the store has caught up with everything made before the connector started."""
        self.complete = True

    def add(self, request: Mapping[str, Any], *, position: FeedPosition | None = None,
            at: datetime | None = None) -> StoredTask:
        """Hold an ``AdviceRequested`` record; adding the same request again changes nothing."""
        task_id = task_id_for(str(request["request_id"]))
        if task_id not in self.tasks:
            task = StoredTask(task_id=task_id, request=dict(request), position=position,
                              updated_at=at)
            self.tasks[task_id] = task
            owner = (task.owner_system, task.owner_ods.upper())
            self._by_owner.setdefault(owner, []).append(task_id)
            if task.owner_system == ODS_ORGANISATION_SYSTEM:
                code = task.owner_ods.upper()
                self._asked.add((code, "case", str(request["case_id"])))
                self._asked.update((code, "nhs", n) for n in task.nhs_numbers)
        return self.tasks[task_id]

    def get(self, task_id: str) -> StoredTask | None:
        """The Task with this logical id, or None."""
        return self.tasks.get(task_id)

    def search(self, owner_ods: str, statuses: frozenset[str] | None = None, *,
               system: str = ODS_ORGANISATION_SYSTEM) -> list[StoredTask]:
        """Requests sent to ``system|owner_ods``, optionally filtered by status."""
        found = (self.tasks[i] for i in self._by_owner.get((system, owner_ods.upper()), ()))
        return [t for t in found if statuses is None or t.status in statuses]

    def asked(self, owner_ods: str, *, case_id: str | None = None,
              nhs_number: str | None = None) -> bool:
        """Whether ODS organisation ``owner_ods`` holds a Task for this case (or this child)."""
        key = ("case", case_id) if case_id is not None else ("nhs", nhs_number or "")
        return (owner_ods.upper(), *key) in self._asked

    def set_status(self, task_id: str, status: str, reason_code: str | None,
                   reason_text: str | None, at: datetime, *,
                   output_document_id: str | None = None,
                   position: FeedPosition | None = None) -> StoredTask:
        """Record a status change (and the completing advice, if any) and return the new state.

        Raises:
            KeyError: if the Task is unknown (callers look it up first).
        """
        current = self.tasks[task_id]
        if (current.status, current.last_modified) == (status, at):
            if position is not None and current.position != position:
                # The change read back from Kafka: where it really is (a local change may not
                # have known its position).
                current = replace(current, position=position)
                self.tasks[task_id] = current
            return current
        updated = replace(current, status=status, reason_code=reason_code,
                          reason_text=reason_text, last_modified=at, version=current.version + 1,
                          output_document_id=output_document_id,
                          position=position or current.position, updated_at=at)
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

    def record_la_reminder(self, task_id: str, reminder: str, at: datetime) -> StoredTask:
        """Show an LA's reminder; a new version unless one at ``at`` or later is shown.

        Raises:
            KeyError: if the Task is unknown.
        """
        current = self.tasks[task_id]
        if current.la_reminded_at is not None and current.la_reminded_at >= at:
            return current
        updated = replace(current, la_reminded_at=at, version=current.version + 1,
                          reminder=current.reminder or reminder,
                          reminder_at=current.reminder_at if current.reminder else at)
        self.tasks[task_id] = updated
        return updated


# --- Task status events ---------------------------------------------------------------------


class TaskEvents(Protocol):
    """Where Task status changes go; raises :class:`PublishError` if they cannot be made durable."""

    async def publish(self, event: TaskStatusChanged) -> PublishReceipt:
        """Hand over one status change, returning where it is once it is durable."""
        ...


@dataclass
class InMemoryTaskEvents:
    """Fake task events sink: records events; can be switched to fail like a lost broker."""

    events: list[TaskStatusChanged] = field(default_factory=list)
    unavailable: bool = False

    async def publish(self, event: TaskStatusChanged) -> PublishReceipt:
        """Record the event, or raise PublishError while ``unavailable`` is set."""
        if self.unavailable:
            raise PublishError("task events are unavailable")
        self.events.append(event)
        return PublishReceipt(topic=TASK_STATUS.name, partition=0, offset=len(self.events) - 1)
