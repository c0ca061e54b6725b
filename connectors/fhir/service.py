"""The health connector's use cases, calling the ports (no FastAPI, no HTTP).

Each use case validates everything first and only then acts, in the order that keeps a retry
safe: store the document, publish the event, then remember the outcome. A failed publish
leaves no ledger entry, so the client's retry publishes; a repeat after success publishes
nothing and answers with the first result.

Over 400 lines on purpose: it is the one place that orders the health connector's side effects
(advice, transactions, Task updates share the ledger, the locks and the publish-then-remember
order), and splitting it by resource would spread that ordering over several modules.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, NoReturn
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import structlog

from connectors.documents import fetch_document
from connectors.fhir.advice import (
    AdviceSubmission,
    RemoteDocument,
    advice_submitted_event,
    advice_submitted_record,
    authorise,
    check_document,
    derived_ids,
    read_advice,
    stored_resource,
)
from connectors.fhir.bundles import read_transaction, response_entry, transaction_response
from connectors.fhir.codes import TASK_STATUS, TASK_TRANSITIONS
from connectors.fhir.errors import (
    ConflictError,
    ResourceNotFoundError,
    StructureError,
)
from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.ports import (
    StoredTask,
    SubmissionLease,
    SubmissionLedger,
    SubmissionOutcome,
    TaskEvents,
    TaskStore,
    UrlFetcher,
)
from connectors.fhir.task_search import PAGING_PARAMS, page, parse_task_paging
from connectors.fhir.tasks import (
    TaskUpdate,
    advice_request_to_task,
    check_transition,
    document_id_of_output,
    read_delegation,
    read_task_update,
    task_id_for,
)
from connectors.locks import KeyedLocks, LockTimeoutError
from connectors.ports import DocumentStore, EventPublisher, Principal, PublishedEvent
from ehcp.casework.calendar import LONDON
from ehcp.clock import Clock
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import ADVICE_REQUESTS
from ehcp.errors import AuthError, PublishError, ValidationError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM, normalise_ods_code
from ehcp.settings import Settings

log = structlog.get_logger(__name__)

_SEARCH_PARAMS: Final = frozenset({"owner", "owner:identifier", "status"})
#: Namespace of the ids of delegated parts and their AdviceRequested events.
_DELEGATION_IDS: Final = uuid.UUID("8d0f7c52-2b8e-4f4a-9c1d-5e6a7b8c9d01")
#: How long a send the client stopped waiting for may take before its submission is released.
LATE_SEND_WAIT_S: Final = 120.0
#: Late-send watchers, referenced until done (the event loop keeps only weak references).
_BACKGROUND: set[asyncio.Future[None]] = set()


def _millis(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _keep(task: asyncio.Future[None]) -> None:
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


@dataclass(frozen=True, slots=True)
class FhirPorts:
    """Everything the use cases reach the outside world through."""

    settings: Settings
    publisher: EventPublisher
    docstore: DocumentStore
    submissions: SubmissionLedger
    tasks: TaskStore
    task_events: TaskEvents
    url_fetcher: UrlFetcher | None
    clock: Clock


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to an advice submission: created now, or the first result replayed."""

    created: bool
    outcome: SubmissionOutcome

    @property
    def last_updated(self) -> datetime | None:
        """``meta.lastUpdated`` of the stored resource."""
        value = self.outcome.resource.get("meta", {}).get("lastUpdated")
        return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class PreparedTaskUpdate:
    """A validated Task status change, not yet applied.

    Attributes:
        stored: the Task as it was when the change was checked.
        update: what the caller asked for.
        changed: False for a repeat of the current status (nothing to do).
        output_document_id: the advice DocumentReference the completed Task will name.
    """

    stored: StoredTask
    update: TaskUpdate
    changed: bool
    output_document_id: str | None = None


def parse_if_none_exist(header: str) -> str:
    """The identifier token of an ``If-None-Exist: identifier=<system>|<value>`` header.

    Raises:
        StructureError: (400) any other search, or an identifier without a system.
    """
    params = parse_qsl(header.strip(), keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier":
        raise StructureError("If-None-Exist supports identifier=<system>|<value> only",
                             location="If-None-Exist", issue_code="not-supported")
    system, bar, value = params[0][1].partition("|")
    if not bar or not system or not value:
        raise StructureError("If-None-Exist needs identifier=<system>|<value>",
                             location="If-None-Exist", issue_code="invalid")
    return f"{system}|{value}"


def parse_task_search(params: Sequence[tuple[str, str]],
                      caller_ods: str) -> tuple[str, frozenset[str] | None]:
    """The owner and statuses of a Task search.

    Args:
        params: the query parameters in order.
        caller_ods: the caller's ODS organisation code (the default owner).

    Raises:
        StructureError: (400) an unsupported parameter or an unknown status code.
        AuthError: (403) a search for Tasks owned by another organisation.
    """
    owner = caller_ods
    statuses: set[str] | None = None
    for name, value in params:
        if name in PAGING_PARAMS:
            continue  # read by parse_task_paging
        if name not in _SEARCH_PARAMS:
            # The name is input: not echoed, not even as the expression.
            raise StructureError("a search parameter is not supported (owner, status, "
                                 "_lastUpdated, _count only)",
                                 issue_code="not-supported")
        if name.startswith("owner"):
            system, bar, code = value.rpartition("|")
            if bar and system and system != ODS_ORGANISATION_SYSTEM:
                raise StructureError(f"owner must be an ODS code ({ODS_ORGANISATION_SYSTEM})",
                                     location=name, issue_code="value")
            if code.upper() != caller_ods.upper():
                raise AuthError("you may search only Tasks your organisation owns", status=403)
        else:
            codes = {c for c in value.split(",") if c}
            if not codes or not codes <= TASK_STATUS:
                raise StructureError("status must be Task status codes", location="status",
                                     issue_code="code-invalid")
            statuses = codes if statuses is None else statuses & codes
    return owner, None if statuses is None else frozenset(statuses)


def task_resource(stored: StoredTask) -> dict[str, Any]:
    """The FHIR Task for a stored advice request."""
    return advice_request_to_task(
        stored.request, status=stored.status, reason_code=stored.reason_code,
        reason_text=stored.reason_text, last_modified=stored.last_modified,
        version=stored.version, output_document_id=stored.output_document_id,
        last_updated=stored.last_updated, reminder=stored.reminder,
        la_reminded_at=stored.la_reminded_at,
    )


class FhirService:
    """The connector's use cases over one set of ports."""

    def __init__(self, ports: FhirPorts, locks: KeyedLocks) -> None:
        self._ports = ports
        self._locks = locks

    # --- advice -----------------------------------------------------------------------------

    async def submit_advice(
        self,
        principal: Principal,
        data: Mapping[str, Any],
        *,
        if_none_exist: str | None = None,
        root: str = "DocumentReference",
        answering: StoredTask | None = None,
    ) -> SubmitResult:
        """Validate, store and publish one piece of advice, at most once per identifier.

        Args:
            principal: the authenticated caller.
            data: the DocumentReference as parsed JSON.
            if_none_exist: the ``If-None-Exist`` header, if sent.
            root: FHIRPath of the resource in the request.
            answering: the Task this advice completes (transaction path).

        Raises:
            ValidationError: (4xx) the advice is not acceptable.
            AuthError: (403) the caller may not submit it.
            PublishError: (503) Kafka did not take the event; nothing was recorded.
        """
        ports = self._ports
        settings = ports.settings
        now = ports.clock.now()
        submission = read_advice(
            data, max_document_bytes=settings.max_document_bytes,
            document_url_hosts=settings.document_url_hosts, now=now, root=root,
        )
        authorise(submission, principal)
        agency = principal.agency_value.upper()
        request_id, case_id, task = self._resolve_request(submission, agency, answering, root)
        conditional = parse_if_none_exist(if_none_exist) if if_none_exist else None

        lease = await self._acquire(agency, submission.contribution_token)
        handed_over = False
        try:
            for token in (conditional, submission.contribution_token):
                existing = (await asyncio.to_thread(ports.submissions.get, agency, token)
                            if token else None)
                if existing is not None:
                    log.info("fhir_advice_repeated", contribution_id=existing.contribution_id,
                             agency=agency)
                    if answering is None and task is not None:
                        # A retry after the Task event failed completes the Task now.
                        await self._complete_answered(task, agency, existing.resource_id)
                    return SubmitResult(created=False, outcome=existing)

            content = await self._document_bytes(submission, root)
            claim = await asyncio.to_thread(ports.docstore.put, content, submission.content_type)
            resource_id, event_id = derived_ids(agency, submission.contribution_token)
            record = advice_submitted_record(
                submission, claim, agency_ods=agency, event_id=event_id,
                submitted_at=submission.date or now, request_id=request_id, case_id=case_id,
            )
            event = advice_submitted_event(record, settings.pseudonym_key_bytes())
            outcome = SubmissionOutcome(
                resource_id=resource_id,
                resource=stored_resource(data, resource_id=resource_id, content=content,
                                         last_updated=now),
                contribution_id=submission.contribution_id, event_id=event_id,
            )
            tokens = submission.identifier_tokens + ((conditional,) if conditional else ())
            try:
                receipt = await ports.publisher.publish(event)
            except PublishError as exc:
                if exc.pending is not None:
                    handed_over = True
                    _keep(asyncio.ensure_future(
                        self._settle_late(lease, exc.pending, agency, tokens, outcome)))
                raise
            await asyncio.to_thread(ports.submissions.record, agency, tokens, outcome)
        finally:
            if not handed_over:
                lease.release()
        log.info(
            "fhir_advice_submitted", contribution_id=submission.contribution_id, agency=agency,
            advice_type=submission.advice_type, request_id=request_id, case_id=case_id,
            topic=receipt.topic, partition=receipt.partition, offset=receipt.offset,
        )
        if answering is None and task is not None:
            await self._complete_answered(task, agency, outcome.resource_id)
        return SubmitResult(created=True, outcome=outcome)

    async def _complete_answered(self, task: StoredTask, agency: str, document_id: str) -> None:
        """Complete the Task this advice answers, with ``output`` naming the DocumentReference.

        A Task already completed or rejected is left as it is, so a retried submission changes
        nothing. The advice is already published and recorded: if the Task event cannot be
        published the caller gets 503, and its retry (answered from the ledger) completes the
        Task.

        Raises:
            PublishError: (503) the Task's status change could not be made durable.
        """
        ports = self._ports
        async with self._locks.hold(("task", task.task_id)):
            current = ports.tasks.get(task.task_id) or task
            if "completed" not in TASK_TRANSITIONS.get(current.status, frozenset()):
                return
            now = _millis(ports.clock.now())
            receipt = await ports.task_events.publish(TaskStatusChanged(
                request_id=str(current.request["request_id"]),
                case_id=str(current.request["case_id"]) if current.request.get("case_id")
                else None,
                status="completed", reason_code=None, reason_text=None, owner_ods=agency,
                at=now, output_document_id=document_id,
            ))
            ports.tasks.set_status(current.task_id, "completed", None, None, now,
                                   output_document_id=document_id,
                                   position=(receipt.topic, receipt.partition, receipt.offset))
        log.info("fhir_task_completed_by_advice", request_id=current.request["request_id"],
                 document_id=document_id)

    async def _acquire(self, agency: str, token: str) -> SubmissionLease:
        """The submission's lease, or 503 while an earlier attempt is still being delivered."""
        try:
            return await self._ports.submissions.acquire(
                agency, token, self._ports.settings.publish_timeout_s)
        except LockTimeoutError as exc:
            raise PublishError("an earlier attempt at this submission is still being delivered "
                               "to Kafka; retry") from exc

    async def _settle_late(self, lease: SubmissionLease, pending: Awaitable[Any], agency: str,
                           tokens: tuple[str, ...], outcome: SubmissionOutcome) -> None:
        """Hold the submission until a send the client stopped waiting for has ended.

        The client already has its 503. If Kafka takes the event after all, the outcome is
        recorded, so the client's retry (in any process sharing the ledger) gets the original
        answer instead of publishing the event twice. If the send fails, the retry publishes.
        """
        try:
            await asyncio.wait_for(pending, LATE_SEND_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - any failure means "not delivered": retry publishes
            log.info("fhir_advice_late_send_failed", contribution_id=outcome.contribution_id,
                     agency=agency, error=type(exc).__name__)
        else:
            await asyncio.to_thread(self._ports.submissions.record, agency, tokens, outcome)
            log.info("fhir_advice_delivered_late", contribution_id=outcome.contribution_id,
                     agency=agency)
        finally:
            lease.release()

    def _resolve_request(
        self, submission: AdviceSubmission, agency: str, answering: StoredTask | None, root: str,
    ) -> tuple[str | None, str | None, StoredTask | None]:
        """The request the advice answers, its case and its Task, checked against the store."""
        where = f"{root}.context.related"
        stored = answering
        if submission.request_task_id is not None:
            found = self._ports.tasks.get(submission.request_task_id)
            if found is None or not found.owned_by(ODS_ORGANISATION_SYSTEM, agency):
                self._refuse_unowned("a Task")
            if stored is not None and found.task_id != stored.task_id:
                raise ValidationError("context.related references a different Task",
                                      location=where)
            stored = found
        request_id = submission.request_id
        if stored is not None:
            stored_request_id = str(stored.request["request_id"])
            if request_id is not None and request_id != stored_request_id:
                raise ValidationError("context.related names a different advice request",
                                      location=where)
            request_id = stored_request_id
        elif request_id is not None:
            found = self._ports.tasks.get(task_id_for(request_id))
            if found is None or not found.owned_by(ODS_ORGANISATION_SYSTEM, agency):
                self._refuse_unowned("an advice request")
            stored = found
        case_id = submission.case_id
        if stored is not None:
            stored_case = str(stored.request["case_id"])
            if case_id is not None and case_id != stored_case:
                raise ValidationError("context.related names a different case than the request",
                                      location=where)
            case_id = stored_case
        else:
            self._check_asked(submission, agency, case_id)
        return request_id, case_id, stored

    def _refuse_unowned(self, what: str) -> NoReturn:
        """Refuse a ``context.related`` Task or request that is not one of the caller's.

        A Task or request that does not exist and one another organisation owns get the same
        answer (403, an audit event, the same text), so the answer reveals nothing about other
        organisations' requests. Just after start-up, before the Task feed has read every
        request already in Kafka, both are 503 instead: either may only not be read yet.

        Raises:
            PublishError: (503) the Task feed has not caught up since start-up.
            AuthError: (403) not a Task or request addressed to the caller's organisation.
        """
        if not self._ports.tasks.complete:
            raise PublishError("the connector is still loading advice requests; retry")
        raise AuthError(f"context.related names {what} that was not addressed to your "
                        "organisation", status=403)

    def _check_asked(self, submission: AdviceSubmission, agency: str,
                     case_id: str | None) -> None:
        """Refuse advice about a case or child this organisation holds no advice request for.

        Advice that names no Task is accepted only from an organisation that was asked: one of
        its Tasks is for the named case or, with no case named, for the child's NHS number.

        Raises:
            AuthError: (403) the organisation was not asked (an audit event follows).
            PublishError: (503) not known yet: the Task feed has not caught up since start-up.
        """
        tasks = self._ports.tasks
        if tasks.asked(agency, case_id=case_id, nhs_number=submission.nhs_number):
            return
        if case_id is not None:
            refusal = "your organisation has not been asked for advice on this case"
        else:
            refusal = ("your organisation has not been asked for advice about this child "
                       "(no advice request names this NHS number)")
        if not tasks.complete:  # just started: the request may not have been read yet
            raise PublishError("the connector is still loading advice requests; retry")
        raise AuthError(refusal, status=403)

    async def _document_bytes(self, submission: AdviceSubmission, root: str) -> bytes:
        where = f"{root}.content[0].attachment"
        document = submission.document
        if not isinstance(document, RemoteDocument):
            return document.content
        fetched = await fetch_document(self._ports.url_fetcher, document.url,
                                       self._ports.settings.max_document_bytes,
                                       location=f"{where}.url")
        check_document(fetched.content, submission.declared_size, submission.declared_sha1,
                       location=where)
        return fetched.content

    def read_document_reference(self, principal: Principal, resource_id: str) -> SubmitResult:
        """A DocumentReference the caller's organisation submitted (data not included).

        Raises:
            ResourceNotFoundError: unknown, or submitted by another organisation.
        """
        outcome = None
        if principal.agency_system == ODS_ORGANISATION_SYSTEM:
            outcome = self._ports.submissions.get_resource(principal.agency_value.upper(),
                                                           resource_id)
        if outcome is None:
            raise ResourceNotFoundError("no such DocumentReference")
        return SubmitResult(created=False, outcome=outcome)

    # --- tasks ------------------------------------------------------------------------------

    def _readable_task(self, principal: Principal, task_id: str) -> StoredTask:
        """A Task the caller owns, or a part it delegated (the DCO reads its sub-Tasks)."""
        stored = self._ports.tasks.get(task_id)
        if stored is not None and stored.request.get("part_of") and (
                principal.agency_system == ODS_ORGANISATION_SYSTEM):
            parent = self._ports.tasks.get(task_id_for(str(stored.request["part_of"])))
            if parent is not None and parent.owned_by(ODS_ORGANISATION_SYSTEM,
                                                      principal.agency_value):
                return stored
        return self._owned_task(principal, task_id)

    def _owned_task(self, principal: Principal, task_id: str) -> StoredTask:
        stored = self._ports.tasks.get(task_id)
        # A request sent to a school or an LA service is never a FHIR Task, whoever asks.
        if (stored is None or principal.agency_system != ODS_ORGANISATION_SYSTEM
                or not stored.owned_by(ODS_ORGANISATION_SYSTEM, principal.agency_value)):
            raise ResourceNotFoundError("no such Task")
        return stored

    def read_task(self, principal: Principal, task_id: str) -> dict[str, Any]:
        """The Task, if the caller's organisation owns it.

        Raises:
            ResourceNotFoundError: unknown, or owned by another organisation.
        """
        return task_resource(self._readable_task(principal, task_id))

    def search_tasks(self, principal: Principal,
                     params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Tasks the caller's organisation owns, filtered by status.

        Raises:
            StructureError: (400) unsupported parameters.
            AuthError: (403) a search for another organisation's Tasks.
        """
        found, _, _ = self.search_task_page(principal, params)
        return found

    def search_task_page(self, principal: Principal, params: Sequence[tuple[str, str]]
                         ) -> tuple[list[dict[str, Any]], int, str | None]:
        """One page of the caller's Tasks (``_lastUpdated``, ``_count``, ``_cursor``).

        Returns:
            (the page's Tasks, how many match in all, the next page's cursor or None).

        Raises:
            StructureError: (400) unsupported parameters or values.
            AuthError: (403) a search for another organisation's Tasks.
        """
        if principal.agency_system != ODS_ORGANISATION_SYSTEM:
            raise AuthError("this credential does not belong to an NHS (ODS) organisation",
                            status=403)
        owner, statuses = parse_task_search(params, principal.agency_value)
        paging = parse_task_paging(params)
        chosen, total, cursor = page(self._ports.tasks.search(owner, statuses), paging,
                                     updated=lambda t: t.last_updated, key=lambda t: t.task_id)
        return [task_resource(t) for t in chosen], total, cursor

    def prepare_task_update(self, principal: Principal, task_id: str, data: Mapping[str, Any],
                            *, root: str = "Task",
                            in_transaction: bool = False) -> PreparedTaskUpdate:
        """Validate a status change of an owned Task without applying it.

        A completed Task's ``output`` must reference a DocumentReference the caller submitted;
        in a transaction the output is the Bundle's own DocumentReference, set when it is known.

        Raises:
            ResourceNotFoundError: (404) unknown or not owned.
            StructureError: (400) not a valid R4 Task, or ``Task.id`` missing or not the URL's.
            ValidationError: (422) a change this profile does not allow.
            ConflictError: (409) the Task is already closed with another status, or completed
                with other advice.
        """
        stored = self._owned_task(principal, task_id)
        update = read_task_update(data, root=root)
        if update.task_id != task_id:
            # FHIR R4 update: no id, or one differing from the URL, SHALL be 400 Bad Request.
            raise StructureError("Task.id is required and must match the id in the URL",
                                 location=f"{root}.id", issue_code="invalid")
        if update.request_id is not None and update.request_id != stored.request["request_id"]:
            raise ValidationError("identifier names a different advice request",
                                  location=f"{root}.identifier")
        if update.owner_ods is not None and update.owner_ods.upper() != stored.owner_ods.upper():
            raise ValidationError("owner cannot be changed", location=f"{root}.owner")
        changed = check_transition(stored.status, update.status, location=f"{root}.status")
        document_id = None
        if update.output_reference is not None and not in_transaction:
            document_id = self._output_document(principal, update.output_reference, root)
            if not changed and stored.output_document_id not in (None, document_id):
                raise ConflictError("the Task is completed with other advice",
                                    location=f"{root}.output")
        return PreparedTaskUpdate(stored=stored, update=update, changed=changed,
                                  output_document_id=document_id)

    def _output_document(self, principal: Principal, reference: str, root: str) -> str:
        """The id of the DocumentReference a Task output names, if the caller submitted it.

        Raises:
            ValidationError: (422) not a DocumentReference this organisation submitted.
        """
        document_id = document_id_of_output(reference, location=f"{root}.output[0]")
        if self._ports.submissions.get_resource(principal.agency_value.upper(),
                                                document_id) is None:
            raise ValidationError("output must name advice your organisation submitted",
                                  location=f"{root}.output[0].valueReference.reference")
        return document_id

    async def apply_task_update(self, principal: Principal,
                                prepared: PreparedTaskUpdate) -> StoredTask:
        """Publish the status change, then record it (nothing is recorded if publishing fails).

        Raises:
            PublishError: (503) the status change could not be made durable.
        """
        if not prepared.changed:
            return prepared.stored
        ports = self._ports
        stored, update = prepared.stored, prepared.update
        async with self._locks.hold(("task", stored.task_id)):
            current = ports.tasks.get(stored.task_id) or stored
            if not check_transition(current.status, update.status):
                return current  # a concurrent identical update got here first
            now = _millis(ports.clock.now())  # as the event carries it (timestamp-millis)
            receipt = await ports.task_events.publish(TaskStatusChanged(
                request_id=str(stored.request["request_id"]),
                case_id=str(stored.request["case_id"]) if stored.request.get("case_id") else None,
                status=update.status, reason_code=update.reason_code,
                reason_text=update.reason_text, owner_ods=principal.agency_value.upper(), at=now,
                output_document_id=prepared.output_document_id,
            ))
            updated = ports.tasks.set_status(
                stored.task_id, update.status, update.reason_code, update.reason_text, now,
                output_document_id=prepared.output_document_id,
                position=(receipt.topic, receipt.partition, receipt.offset))
        log.info("fhir_task_status_changed", request_id=stored.request["request_id"],
                 status=update.status, reason_code=update.reason_code)
        return updated

    # --- delegation by the ICB's Designated Clinical Officer --------------------------------

    async def delegate(self, principal: Principal,
                       data: Mapping[str, Any]) -> tuple[StoredTask, bool]:
        """Create a sub-Task: part of the caller's own advice request Task, for a provider.

        The part is published as an ``AdviceRequested`` (v3, ``part_of`` and ``service``) on
        the advice-requests topic, so the provider's Task, the case and every connector process
        learn of it from Kafka; it is held here only after Kafka has taken it.

        Returns:
            The stored sub-Task, and True if it was created now (False: the same part again).

        Raises:
            AuthError: (403) not an NHS organisation, or ``partOf`` is not the caller's Task
                (one that does not exist gets the same answer).
            ValidationError: (422) a part of a part, the caller as its own provider, a bad ODS
                code, or a due date after the parent's or before today.
            ConflictError: (409) the parent is closed, or the part id is another part's.
            PublishError: (503) Kafka did not take it; nothing was recorded.
        """
        if principal.agency_system != ODS_ORGANISATION_SYSTEM:
            raise AuthError("only an NHS (ODS) organisation delegates health advice", status=403)
        ports = self._ports
        delegation = read_delegation(data)
        caller = principal.agency_value.upper()
        parent = ports.tasks.get(delegation.parent_task_id)
        if parent is None or not parent.owned_by(ODS_ORGANISATION_SYSTEM, caller):
            if not ports.tasks.complete:
                raise PublishError("the connector is still loading advice requests; retry")
            raise AuthError("partOf names a Task that was not addressed to your organisation",
                            status=403)
        if parent.request.get("part_of"):
            raise ValidationError("a delegated part cannot be delegated again",
                                  location="Task.partOf")
        if parent.status in ("completed", "rejected"):
            raise ConflictError(f"the Task it is part of is {parent.status}",
                                location="Task.partOf")
        try:
            owner = normalise_ods_code(delegation.owner_ods)
        except ValidationError as exc:
            raise ValidationError(exc.message, location="Task.owner.identifier.value") from exc
        if owner == caller:
            raise ValidationError("delegate to another organisation, not your own",
                                  location="Task.owner.identifier.value")
        today = ports.clock.now().astimezone(ZoneInfo(LONDON)).date()
        # By the parent's reg 8(1) date; once that has passed, the part is due today at the
        # latest (it is already holding the ICB's answer up).
        latest = max(parent.request["due_on"], today)
        due = delegation.due_on or latest
        if not today <= due <= latest:
            raise ValidationError(
                f"restriction.period.end must be from today to {latest.isoformat()} (the "
                "parent's due date, or today once that has passed)",
                location="Task.restriction.period.end")
        parent_request = str(parent.request["request_id"])
        part_id = delegation.request_id or str(uuid.uuid5(
            _DELEGATION_IDS, f"{parent_request}|{owner}|{delegation.service}"))
        async with self._locks.hold(("task", task_id_for(part_id))):
            existing = ports.tasks.get(task_id_for(part_id))
            if existing is not None:
                same = (existing.request.get("part_of") == parent_request
                        and existing.owned_by(ODS_ORGANISATION_SYSTEM, owner)
                        and existing.request.get("service") == delegation.service)
                if not same:
                    raise ConflictError("this part id is already in use",
                                        location="Task.identifier")
                return existing, False
            case_id = str(parent.request["case_id"])
            record = {
                "event_id": str(uuid.uuid5(_DELEGATION_IDS, f"part|{case_id}|{part_id}")),
                "request_id": part_id,
                "case_id": case_id,
                "advice_type": parent.request["advice_type"],
                "regulation": parent.request["regulation"],
                "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": owner},
                "child_identifiers": [dict(i) for i in parent.request["child_identifiers"]],
                "sent_on": today,
                "due_on": due,
                "requester": {"system": ODS_ORGANISATION_SYSTEM, "value": caller},
                "part_of": parent_request,
                "service": delegation.service,
            }
            schema = ADVICE_REQUESTS.value_schema or ""
            receipt = await ports.publisher.publish(PublishedEvent(
                topic=ADVICE_REQUESTS.name, key=case_id, schema_name=schema, record=record,
                ce_type=event_type(schema), ce_subject=case_id))
            stored = ports.tasks.add(record, position=(receipt.topic, receipt.partition,
                                                       receipt.offset),
                                     at=_millis(ports.clock.now()))
        log.info("fhir_task_delegated", request_id=parent_request, part_id=part_id,
                 provider=owner, service=delegation.service, case_id=case_id)
        return stored, True

    # --- transaction ------------------------------------------------------------------------

    async def transaction(self, principal: Principal,
                          data: Mapping[str, Any]) -> dict[str, Any]:
        """Process the advice transaction: the DocumentReference, then the completed Task.

        Both entries are validated before anything is stored or published. A retry after a
        partial failure (503 on the Task event) publishes only what is missing.

        Returns:
            The transaction-response Bundle.
        """
        tx = read_transaction(data)
        task_root = f"Bundle.entry[{tx.task_index}].resource"
        prepared = self.prepare_task_update(principal, tx.task_id, tx.task, root=task_root,
                                            in_transaction=True)
        if prepared.update.status != "completed":
            raise ValidationError("the Task sent with advice must be completed",
                                  location=f"{task_root}.status")
        result = await self.submit_advice(
            principal, tx.document, root=f"Bundle.entry[{tx.document_index}].resource",
            answering=prepared.stored,
        )
        outcome = result.outcome
        prepared = replace(prepared, output_document_id=outcome.resource_id)
        stored = await self.apply_task_update(principal, prepared)
        entries: list[dict[str, Any]] = [{}, {}]
        entries[tx.document_index] = response_entry(
            "201 Created" if result.created else "200 OK",
            f"DocumentReference/{outcome.resource_id}/_history/1", version="1",
            last_modified=result.last_updated, resource=outcome.resource,
        )
        entries[tx.task_index] = response_entry(
            "200 OK", f"Task/{stored.task_id}/_history/{stored.version}",
            version=str(stored.version), last_modified=stored.last_modified,
            resource=task_resource(stored),
        )
        return transaction_response(entries)

