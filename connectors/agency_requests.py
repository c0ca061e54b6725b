"""Advice requests for the bodies the JSON APIs serve: list, read, accept or decline (no HTTP).

A school (by URN), an educational psychology service or a social care team (by LA code) sees
the advice requests sent to its own agency identifier for the advice types its credential may
give, the way a health body sees its FHIR Tasks. The requests come from the connectors' Task
feed (:mod:`connectors.task_feed`), which every process rebuilds from Kafka.

Changed since a point: each request remembers where on Kafka its latest change was read
(topic, partition, offset; the same in every connector process). A cursor holds, per
partition, the offset up to which the caller has seen changes; a page lists requests changed
after it in (topic, partition, offset) order, so every page ends on a boundary that is exact
per partition and nothing that changes meanwhile is skipped: it gets a later offset. A request
that changes again is listed again (at least once).

Accepting or declining publishes ``TaskStatusChanged`` exactly as a FHIR Task update does
(:meth:`connectors.fhir.service.FhirService.apply_task_update`): the same transitions and
conflicts, a repeat of the current status changes nothing, and the event is durable in Kafka
before the answer. Its owner is the caller's agency identifier; the worker refuses a status
change by any other body than the one asked.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

import structlog

from connectors.fhir.codes import TASK_TRANSITIONS
from connectors.fhir.errors import ConflictError, ResourceNotFoundError
from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.ports import FeedPosition, StoredTask, TaskEvents, TaskStore
from connectors.fhir.tasks import check_transition, task_id_for
from connectors.locks import KeyedLocks
from connectors.ports import Principal
from ehcp.casework.calendar import LONDON
from ehcp.casework.events import DeclineReason
from ehcp.clock import Clock
from ehcp.errors import AuthError, PublishError, ValidationError

log = structlog.get_logger(__name__)

#: Page sizes of a request listing.
DEFAULT_PAGE: Final = 50
MAX_PAGE: Final = 200
#: Longest cursor accepted (a cursor holds one offset per partition of two topics).
CURSOR_MAX: Final = 4096
_CURSOR_VERSION: Final = 1


class RequestStatus(enum.StrEnum):
    """Where an advice request has got to, in the words the JSON APIs use."""

    REQUESTED = "REQUESTED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    COMPLETED = "COMPLETED"


#: Task statuses (connectors.fhir.codes) as the JSON APIs name them, and back.
_STATUS_NAMES: Final = {
    "requested": RequestStatus.REQUESTED,
    "accepted": RequestStatus.ACCEPTED,
    "rejected": RequestStatus.DECLINED,
    "completed": RequestStatus.COMPLETED,
}
_TASK_STATUS: Final = {name: status for status, name in _STATUS_NAMES.items()}
_OPEN: Final = frozenset({"requested", "accepted"})


@dataclass(frozen=True, slots=True)
class AdviceRequestView:
    """One advice request as the body asked sees it.

    Attributes:
        request_id: the LA's id for the request.
        case_id: the EHC case.
        requested_by: the LA code of the local authority asking (None in old data).
        advice_type: the ``AdviceType`` asked for.
        regulation: the regulation requiring it, e.g. ``reg 6(1)(e)``.
        sent_on: when the LA sent it; the 6 weeks of reg 8(1) run from here.
        due_on: when the advice is due.
        days_overdue: whole days past ``due_on`` on today's date in London (0: not overdue),
            None once the request is declined or completed.
        status: where it has got to.
        decline_reason: with ``DECLINED``, the reason code given.
        updated_at: when its latest change happened (the request's Kafka timestamp, or the
            status change's time).
    """

    request_id: str
    case_id: str
    requested_by: str | None
    advice_type: str
    regulation: str
    sent_on: date
    due_on: date
    days_overdue: int | None
    status: RequestStatus
    decline_reason: str | None
    updated_at: datetime | None


def request_view(task: StoredTask, today: date) -> AdviceRequestView:
    """The view of a stored request on ``today`` (days overdue are computed now, not stored)."""
    request = task.request
    due_on: date = request["due_on"]
    requester = request.get("requester")
    return AdviceRequestView(
        request_id=str(request["request_id"]),
        case_id=str(request["case_id"]),
        requested_by=str(requester["value"]) if requester else None,
        advice_type=str(request["advice_type"]),
        regulation=str(request["regulation"]),
        sent_on=request["sent_on"],
        due_on=due_on,
        days_overdue=max(0, (today - due_on).days) if task.status in _OPEN else None,
        status=_STATUS_NAMES[task.status],
        decline_reason=task.reason_code if task.status == "rejected" else None,
        updated_at=task.updated_at,
    )


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a caller has seen changes: per ``topic:partition``, the last offset seen.

    Attributes:
        seen: offset of the latest change already listed, by ``topic:partition``.
        since: the ``updated_since`` the listing started with, kept for its later pages.
    """

    seen: Mapping[str, int] = field(default_factory=dict)
    since: datetime | None = None

    def encode(self) -> str:
        """The opaque text form handed to the caller."""
        body = {"v": _CURSOR_VERSION, "seen": dict(sorted(self.seen.items())),
                "since": self.since.isoformat() if self.since else None}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Read a cursor this server issued.

        Raises:
            ValidationError: (422, location ``cursor``) anything else; the text is not echoed.
        """
        bad = ValidationError("cursor is not one this server issued; start again without it",
                              location="cursor")
        if len(text) > CURSOR_MAX:
            raise bad
        try:
            body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not isinstance(body, dict) or body.get("v") != _CURSOR_VERSION:
                raise bad
            seen = body["seen"]
            since = body["since"]
            if not isinstance(seen, dict) or not all(
                    isinstance(k, str) and type(v) is int for k, v in seen.items()):
                raise bad
            when = datetime.fromisoformat(since) if isinstance(since, str) else None
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise bad from exc
        if since is not None and (when is None or when.tzinfo is None):
            raise bad
        return cls(seen=seen, since=when)

    def has_seen(self, position: FeedPosition | None) -> bool:
        """Whether a change at ``position`` was already listed (unknown positions: yes)."""
        if position is None:
            return True
        topic, partition, offset = position
        return offset <= self.seen.get(f"{topic}:{partition}", -1)

    def after(self, positions: list[FeedPosition]) -> Cursor:
        """This cursor moved past the given positions."""
        seen = dict(self.seen)
        for topic, partition, offset in positions:
            key = f"{topic}:{partition}"
            seen[key] = max(offset, seen.get(key, -1))
        return Cursor(seen=seen, since=self.since)


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of a listing: the requests, where to resume, and whether more are waiting."""

    requests: list[AdviceRequestView]
    cursor: str
    more: bool


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What the body asked says about a request.

    Attributes:
        status: ``ACCEPTED`` or ``DECLINED``.
        reason: with ``DECLINED``, why (required).
        reason_text: free text (may hold personal data: kept on the task-status topic only,
            never logged or copied into the case).
    """

    status: RequestStatus
    reason: DeclineReason | None = None
    reason_text: str | None = None


def _position_key(task: StoredTask) -> FeedPosition:
    return task.position or ("", -1, -1)


def _changes(current: str, new: str) -> bool:
    """Whether ``current`` -> ``new`` changes anything (the FHIR Task transitions).

    Raises:
        ConflictError: (409) the request is already declined or completed.
    """
    try:
        return check_transition(current, new, location="/status")
    except ConflictError as exc:
        raise ConflictError(f"the request is {_STATUS_NAMES[current].value} and cannot become "
                            f"{_STATUS_NAMES[new].value}", location="/status") from exc


class AgencyRequests:
    """The use cases of the requests routes over the Task store and the Task events port."""

    def __init__(self, tasks: TaskStore, task_events: TaskEvents, clock: Clock,
                 locks: KeyedLocks) -> None:
        self._tasks = tasks
        self._events = task_events
        self._clock = clock
        self._locks = locks

    def _today(self) -> date:
        return self._clock.now().astimezone(ZoneInfo(LONDON)).date()

    def _mine(self, principal: Principal) -> list[StoredTask]:
        return [t for t in self._tasks.search(principal.agency_value,
                                              system=principal.agency_system)
                if str(t.request["advice_type"]) in principal.advice_types]

    def list(self, principal: Principal, *, statuses: frozenset[RequestStatus] | None = None,
             updated_since: datetime | None = None, cursor: str | None = None,
             limit: int = DEFAULT_PAGE) -> RequestPage:
        """The caller's requests, oldest change first, changed after the cursor if one is given.

        Before the Task feed has caught up after start-up this lists what it has read so far,
        as the FHIR Task search does.

        Raises:
            ValidationError: (422) a cursor this server did not issue, or a bad ``limit``.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be 1 to {MAX_PAGE}", location="limit")
        start = Cursor.decode(cursor) if cursor is not None else Cursor(since=updated_since)
        wanted = None if statuses is None else {_TASK_STATUS[s] for s in statuses}
        changed = [
            t for t in self._mine(principal)
            if (wanted is None or t.status in wanted)
            and (start.since is None or (t.updated_at is not None and t.updated_at >= start.since))
            and (cursor is None or not start.has_seen(t.position))
        ]
        changed.sort(key=_position_key)
        page = changed[:limit]
        moved = start.after([t.position for t in page if t.position is not None])
        today = self._today()
        return RequestPage([request_view(t, today) for t in page], moved.encode(),
                           more=len(changed) > limit)

    def _owned(self, principal: Principal, request_id: str) -> StoredTask:
        """The caller's request with this id.

        Raises:
            ResourceNotFoundError: (404) no such request.
            AuthError: (404, audited) a request sent to another agency (or for advice this
                credential does not give): answered exactly as an unknown one.
            PublishError: (503) unknown, but the Task feed has not caught up since start-up.
        """
        task = self._tasks.get(task_id_for(request_id))
        if task is None or str(task.request["request_id"]) != request_id:
            if not self._tasks.complete:
                raise PublishError("the connector is still loading advice requests; retry")
            raise ResourceNotFoundError("no such advice request")
        if not (task.owned_by(principal.agency_system, principal.agency_value)
                and str(task.request["advice_type"]) in principal.advice_types):
            raise AuthError("no such advice request", status=404)
        return task

    def read(self, principal: Principal, request_id: str) -> AdviceRequestView:
        """One of the caller's requests (see :meth:`_owned` for the errors)."""
        return request_view(self._owned(principal, request_id), self._today())

    async def change_status(self, principal: Principal, request_id: str,
                            change: StatusChange) -> AdviceRequestView:
        """Accept or decline one of the caller's requests; durable in Kafka before it returns.

        Raises:
            ResourceNotFoundError, AuthError, PublishError: as :meth:`_owned`.
            ValidationError: (422) a decline without a reason, or a reason with an acceptance.
            ConflictError: (409) the request is already declined or completed.
            PublishError: (503) the change could not be made durable; nothing was recorded.
        """
        if change.status not in (RequestStatus.ACCEPTED, RequestStatus.DECLINED):
            raise ValidationError("status must be ACCEPTED or DECLINED", location="/status")
        if change.status is RequestStatus.DECLINED and change.reason is None:
            raise ValidationError("a declined request needs a reason", location="/reason")
        if change.status is RequestStatus.ACCEPTED and change.reason is not None:
            raise ValidationError("a reason goes with DECLINED only", location="/reason")
        task = self._owned(principal, request_id)
        new = _TASK_STATUS[change.status]
        if not _changes(task.status, new):
            return request_view(task, self._today())  # a repeat: nothing to do
        async with self._locks.hold(("task", task.task_id)):
            current = self._tasks.get(task.task_id) or task
            if not _changes(current.status, new):
                return request_view(current, self._today())  # a concurrent repeat got here first
            now = self._clock.now()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # timestamp-millis
            code = change.reason.value if change.reason else None
            receipt = await self._events.publish(TaskStatusChanged(
                request_id=request_id, case_id=str(current.request["case_id"]),
                status="accepted" if new == "accepted" else "rejected",
                reason_code=code, reason_text=change.reason_text,
                owner_ods=principal.agency_value, owner_system=principal.agency_system, at=now,
            ))
            updated = self._tasks.set_status(
                current.task_id, new, code, change.reason_text, now,
                position=(receipt.topic, receipt.partition, receipt.offset))
        log.info("advice_request_status_changed", request_id=request_id,
                 status=change.status.value, reason_code=code,
                 credential_id=principal.credential_id)
        return request_view(updated, self._today())

    async def complete_answered(self, principal: Principal, request_id: str) -> None:
        """Complete the caller's request its advice (just published) names, as FHIR advice
        completes its Task; anything else (unknown, another agency's, already closed) is left.

        The JSON advice routes do not refuse advice for its ``request_id`` (the worker routes
        it); this only keeps the caller's own request list true.

        Raises:
            PublishError: (503) the completion could not be made durable. The advice is already
                in Kafka; a retry publishes it again (same event id) and completes the request.
        """
        task = self._tasks.get(task_id_for(request_id))
        if task is None or str(task.request["request_id"]) != request_id or not (
                task.owned_by(principal.agency_system, principal.agency_value)):
            return
        async with self._locks.hold(("task", task.task_id)):
            current = self._tasks.get(task.task_id) or task
            if "completed" not in TASK_TRANSITIONS.get(current.status, frozenset()):
                return
            now = self._clock.now()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            receipt = await self._events.publish(TaskStatusChanged(
                request_id=request_id, case_id=str(current.request["case_id"]),
                status="completed", reason_code=None, reason_text=None,
                owner_ods=principal.agency_value, owner_system=principal.agency_system, at=now,
            ))
            self._tasks.set_status(current.task_id, "completed", None, None, now,
                                   position=(receipt.topic, receipt.partition, receipt.offset))
        log.info("advice_request_completed_by_advice", request_id=request_id,
                 credential_id=principal.credential_id)
