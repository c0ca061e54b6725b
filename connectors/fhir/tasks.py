"""Advice requests as FHIR R4 Tasks, and the status updates health bodies send (pure).

An ``AdviceRequested`` record addressed to a health body becomes a Task: intent ``order``,
``for`` the child by NHS number, ``owner`` the ODS organisation, ``restriction.period.end`` the
date the advice is due (reg 8(1): 6 weeks from receipt of the request), ``identifier`` the
request id, ``groupIdentifier`` the EHC case id and ``requester`` the local authority (when the
request names it). Once advice answers it, the Task is ``completed`` and ``output`` references
the advice DocumentReference.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, cast

from fhir.resources.R4B.task import Task

from connectors.fhir.codes import (
    ADVICE_REQUEST_SYSTEM,
    ADVICE_TYPE_BY_SYMBOL,
    ADVICE_TYPE_SYSTEM,
    EHC_CASE_SYSTEM,
    HEALTH_SERVICE_BY_SYMBOL,
    HEALTH_SERVICE_SYSTEM,
    HEALTH_SERVICES,
    TASK_BUSINESS_STATUS_SYSTEM,
    TASK_INTENT,
    TASK_PRIORITY,
    TASK_REASON_BY_CODE,
    TASK_REASON_SYSTEM,
    TASK_STATUS,
    TASK_TRANSITIONS,
    UPDATABLE_TASK_STATUS,
)
from connectors.fhir.errors import ConflictError
from connectors.fhir.events import TaskStatus
from connectors.fhir.parsing import (
    check_code,
    check_modifiers,
    check_string_lengths,
    require_resource_type,
    validate_model,
)
from ehcp.contract.keys import identifiers_of, strongest_identifier
from ehcp.errors import InvalidIdentifierError, ValidationError
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, is_valid_nhs_number

_FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DOCUMENT_REFERENCE: Final = re.compile(r"^DocumentReference/([A-Za-z0-9\-.]{1,64})$")
#: Namespace for Task ids derived from request ids that are not valid FHIR ids.
_TASK_ID_NAMESPACE: Final = uuid.UUID("6f1c1f1e-3b53-5b8e-9a57-2f0b8e6c1d10")


def task_id_for(request_id: str) -> str:
    """The Task's logical id: the request id itself when it is a valid FHIR id, else a UUIDv5."""
    if _FHIR_ID.match(request_id):
        return request_id
    return str(uuid.uuid5(_TASK_ID_NAMESPACE, request_id))


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def advice_request_to_task(
    request: Mapping[str, Any],
    *,
    status: str = "requested",
    reason_code: str | None = None,
    reason_text: str | None = None,
    last_modified: datetime | None = None,
    version: int = 1,
    output_document_id: str | None = None,
    last_updated: datetime | None = None,
    reminder: str | None = None,
    la_reminded_at: datetime | None = None,
) -> dict[str, Any]:
    """Map an ``AdviceRequested`` record (Avro field names and types) to a FHIR R4 Task.

    Args:
        request: the record; ``sent_on`` and ``due_on`` are ``datetime.date``.
        status: the Task status the store holds.
        reason_code: code of the last status change (advice-task-reason code system).
        reason_text: text of the last status change.
        last_modified: when the status last changed.
        version: ``meta.versionId``.
        output_document_id: the advice DocumentReference that completed the Task, if any.
        last_updated: ``meta.lastUpdated`` (the last change of any kind; default
            ``last_modified``).
        reminder: ``due-soon`` or ``overdue``: shown as ``businessStatus``.
        la_reminded_at: when LA staff last sent a reminder from the workspace: a ``note``.

    Returns:
        The Task as a JSON-ready dict.
    """
    advice = ADVICE_TYPE_BY_SYMBOL.get(str(request["advice_type"]))
    regulation = str(request["regulation"])
    code: dict[str, Any]
    if advice is None:
        code = {"text": f"Advice ({regulation} SEND Regulations 2014)"}
        label = "advice"
    else:
        code = {
            "coding": [{"system": ADVICE_TYPE_SYSTEM, "code": advice.code,
                        "display": advice.display}],
            "text": advice.display,
        }
        label = advice.display[0].lower() + advice.display[1:]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id_for(str(request["request_id"])),
        "meta": {"versionId": str(version)},
        "identifier": [{"use": "official", "system": ADVICE_REQUEST_SYSTEM,
                        "value": str(request["request_id"])}],
        "groupIdentifier": {"system": EHC_CASE_SYSTEM, "value": str(request["case_id"])},
        "status": status,
        "intent": "order",
        "priority": "routine",
        "code": code,
        "description": (
            f"Provide {label} for an EHC needs assessment ({regulation} SEND Regulations 2014) "
            f"by {_iso(request['due_on'])} (reg 8(1): within 6 weeks of receiving the request)."
        ),
        "authoredOn": _iso(request["sent_on"]),
        "owner": {"type": "Organization", "identifier": {
            "system": str(request["agency"]["system"]), "value": str(request["agency"]["value"])}},
        "reasonCode": {"text": f"{regulation} SEND Regulations 2014"},
        "restriction": {"period": {"end": _iso(request["due_on"])}},
    }
    part_of = request.get("part_of")
    if part_of:
        # A part the ICB's DCO delegated (AdviceRequested v3): partOf the LA's request's Task.
        task["partOf"] = [{"reference": f"Task/{task_id_for(str(part_of))}"}]
        service_code, service_display = HEALTH_SERVICE_BY_SYMBOL.get(
            str(request.get("service") or "OTHER"), ("other", HEALTH_SERVICES["other"][1]))
        task["code"] = {
            "coding": [*code.get("coding", []), {"system": HEALTH_SERVICE_SYSTEM,
                                                 "code": service_code,
                                                 "display": service_display}],
            "text": f"{service_display}: part of the {label}",
        }
        task["description"] = (
            f"Provide the {service_display.lower()} part of the {label} for an EHC needs "
            f"assessment to the organisation that delegated it, by {_iso(request['due_on'])}."
        )
    requester = request.get("requester")
    if requester is not None:
        # The LA asking. AdviceRequested carries no contact person, so none is named here.
        task["requester"] = {"type": "Organization", "identifier": {
            "system": str(requester["system"]), "value": str(requester["value"])}}
    if output_document_id is not None:
        task["output"] = [{
            "type": {**code, "text": "Advice submitted for this request"},
            "valueReference": {"type": "DocumentReference",
                               "reference": f"DocumentReference/{output_document_id}"},
        }]
    child = strongest_identifier(identifiers_of(request.get("child_identifiers", [])))
    if child is not None:
        task["for"] = {"type": "Patient",
                       "identifier": {"system": child.system, "value": child.value}}
    if last_modified is not None:
        task["lastModified"] = last_modified.isoformat()
    updated = last_updated or last_modified
    if updated is not None:
        task["meta"]["lastUpdated"] = updated.isoformat()
    if reminder is not None:
        due = request.get("due_on")
        words = {"due-soon": "Reminder: this advice is due soon",
                 "overdue": "Reminder: this advice is overdue"}.get(reminder, "Reminder")
        task["businessStatus"] = {
            "coding": [{"system": TASK_BUSINESS_STATUS_SYSTEM, "code": reminder}],
            "text": f"{words} (due {_iso(due)})" if due else words,
        }
    if la_reminded_at is not None:
        task["note"] = [{"time": la_reminded_at.isoformat(),
                         "text": "The local authority sent a reminder about this advice."}]
    if reason_code is not None or reason_text is not None:
        reason: dict[str, Any] = {}
        known = TASK_REASON_BY_CODE.get(reason_code or "")
        if known is not None:
            reason["coding"] = [{"system": TASK_REASON_SYSTEM, "code": known.code,
                                 "display": known.display}]
        if reason_text:
            reason["text"] = reason_text
        task["statusReason"] = reason
    return task


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """What a health body asks to change on an advice request Task.

    Attributes:
        task_id: ``Task.id`` in the body, if given.
        request_id: the ``Task.identifier`` in the advice-request system, if given.
        status: the new status.
        reason_code: advice-task-reason code from ``statusReason``, if any.
        reason_text: ``statusReason.text``, if any.
        owner_ods: ODS code in ``Task.owner.identifier``, if given.
        output_reference: the ``Task.output`` DocumentReference reference, if given (checked
            by :func:`document_id_of_output`).
    """

    task_id: str | None
    request_id: str | None
    status: TaskStatus
    reason_code: str | None
    reason_text: str | None
    owner_ods: str | None
    output_reference: str | None = None


def read_task_update(data: Mapping[str, Any], *, root: str = "Task") -> TaskUpdate:
    """Validate a Task sent to update an advice request and extract the change.

    Only ``status``, ``statusReason`` and (with ``completed``) an ``output`` naming the advice
    DocumentReference are applied; the broker owns the rest of the Task (the LA's request), so
    other elements are validated for structure and otherwise ignored.

    Args:
        data: the Task as parsed JSON.
        root: FHIRPath of the Task in the request (for error locations).

    Raises:
        StructureError: (400) not a valid R4 Task, or a code outside a required value set
            (``status``, ``intent``, ``priority``).
        LimitExceededError: (422) a string longer than its element kind allows.
        ValidationError: (422) valid FHIR this profile does not accept.
        InvalidIdentifierError: (422) ``for`` names an NHS number failing its check digit.
    """
    require_resource_type(data, "Task", location=root)
    task = validate_model(Task, data, root=root)
    check_modifiers(data, root=root)
    check_string_lengths(data, root=root)
    check_code(task.status, TASK_STATUS, location=f"{root}.status")
    check_code(task.intent, TASK_INTENT, location=f"{root}.intent")
    check_code(task.priority, TASK_PRIORITY, location=f"{root}.priority", required=False)
    if task.status not in UPDATABLE_TASK_STATUS:
        raise ValidationError(
            "a health body may set status accepted, rejected or completed only",
            location=f"{root}.status",
        )
    if task.intent != "order":
        raise ValidationError("advice request Tasks have intent order", location=f"{root}.intent")
    status = cast(TaskStatus, task.status)

    request_ids = [i.value for i in task.identifier or []
                   if i.system == ADVICE_REQUEST_SYSTEM and i.value]
    if len(set(request_ids)) > 1:
        raise ValidationError("more than one advice request identifier",
                              location=f"{root}.identifier")

    owner_ods: str | None = None
    if task.owner is not None:
        ident = task.owner.identifier
        if ident is None or ident.system != ODS_ORGANISATION_SYSTEM or not ident.value:
            raise ValidationError(
                f"owner must identify the organisation by {ODS_ORGANISATION_SYSTEM}",
                location=f"{root}.owner.identifier",
            )
        owner_ods = ident.value

    for_ = getattr(task, "for_fhir", None)
    if for_ is not None and for_.identifier is not None:
        ident = for_.identifier
        if ident.system == NHS_NUMBER_SYSTEM and not is_valid_nhs_number(ident.value or ""):
            raise InvalidIdentifierError("NHS number fails its format or Modulus 11 check",
                                         location=f"{root}.for.identifier.value")

    reason_code, reason_text = _read_status_reason(task, status, root)
    return TaskUpdate(
        task_id=task.id, request_id=request_ids[0] if request_ids else None, status=status,
        reason_code=reason_code, reason_text=reason_text, owner_ods=owner_ods,
        output_reference=_read_output(task, status, root),
    )


def _read_output(task: Task, status: str, root: str) -> str | None:
    """The one ``output.valueReference.reference`` of a completed Task, if it gives one."""
    references: set[str] = set()
    for index, output in enumerate(task.output or []):
        value = getattr(output, "valueReference", None)
        if value is None or not value.reference:
            raise ValidationError("output must be a reference to the advice DocumentReference",
                                  location=f"{root}.output[{index}]")
        references.add(value.reference)
    if not references:
        return None
    if status != "completed":
        raise ValidationError("only a completed Task has an output", location=f"{root}.output")
    if len(references) > 1:
        raise ValidationError("output names more than one DocumentReference",
                              location=f"{root}.output")
    return references.pop()


def document_id_of_output(reference: str, *, location: str = "Task.output") -> str:
    """The DocumentReference id in a ``Task.output`` reference ``DocumentReference/<id>``.

    Raises:
        ValidationError: (422) a reference to anything else.
    """
    match = _DOCUMENT_REFERENCE.fullmatch(reference)
    if match is None:
        raise ValidationError("output must reference DocumentReference/<id>",
                              location=f"{location}.valueReference.reference")
    return match.group(1)


def _read_status_reason(task: Task, status: str, root: str) -> tuple[str | None, str | None]:
    reason = task.statusReason
    code: str | None = None
    text: str | None = None
    if reason is not None:
        text = reason.text or None
        for index, coding in enumerate(reason.coding or []):
            where = f"{root}.statusReason.coding[{index}]"
            if coding.system != TASK_REASON_SYSTEM:
                raise ValidationError(
                    f"statusReason codes must come from {TASK_REASON_SYSTEM}", location=where)
            known = TASK_REASON_BY_CODE.get(coding.code or "")
            if known is None:
                raise ValidationError("unknown advice-task-reason code", location=f"{where}.code")
            if status not in known.statuses:
                raise ValidationError(
                    f"reason {known.code} cannot accompany status {status}",
                    location=f"{where}.code",
                )
            if code is not None and code != known.code:
                raise ValidationError("give one reason code", location=where)
            code = known.code
    if status == "rejected" and code is None and text is None:
        raise ValidationError("a rejected Task needs a statusReason (a code or text)",
                              location=f"{root}.statusReason")
    if code == "other" and not text:
        raise ValidationError("reason other needs statusReason.text",
                              location=f"{root}.statusReason.text")
    return code, text


def check_transition(current: str, new: str, *, location: str = "Task.status") -> bool:
    """Whether moving from ``current`` to ``new`` changes anything.

    Returns:
        False for a repeat of the current status (an idempotent retry), True for a change.

    Raises:
        ConflictError: if the Task cannot move from ``current`` to ``new``.
    """
    if current == new:
        return False
    if new not in TASK_TRANSITIONS.get(current, frozenset()):
        raise ConflictError(f"the Task is {current} and cannot become {new}", location=location)
    return True


@dataclass(frozen=True, slots=True)
class Delegation:
    """A DCO's new sub-Task: part of its own advice request Task, for a provider.

    Attributes:
        parent_task_id: the Task id in ``partOf``.
        owner_ods: the provider asked (``owner.identifier``, ODS).
        service: the ``service`` symbol (HEALTH_SERVICES) from ``code``.
        request_id: the part's id from ``identifier`` (advice-request system), if given.
        due_on: ``restriction.period.end`` as a date, if given.
    """

    parent_task_id: str
    owner_ods: str
    service: str
    request_id: str | None
    due_on: date | None


_TASK_REFERENCE: Final = re.compile(r"^Task/([A-Za-z0-9\-.]{1,64})$")


def read_delegation(data: Mapping[str, Any], *, root: str = "Task") -> Delegation:
    """Validate a Task a DCO creates to delegate part of its advice request.

    Raises:
        StructureError: (400) not a valid R4 Task, or a code outside a required value set.
        LimitExceededError: (422) a string longer than its element kind allows.
        ValidationError: (422) not a sub-Task this profile accepts.
    """
    require_resource_type(data, "Task", location=root)
    task = validate_model(Task, data, root=root)
    check_modifiers(data, root=root)
    check_string_lengths(data, root=root)
    check_code(task.status, TASK_STATUS, location=f"{root}.status")
    check_code(task.intent, TASK_INTENT, location=f"{root}.intent")
    check_code(task.priority, TASK_PRIORITY, location=f"{root}.priority", required=False)
    if task.status != "requested":
        raise ValidationError("a new sub-Task has status requested", location=f"{root}.status")
    if task.intent != "order":
        raise ValidationError("advice request Tasks have intent order", location=f"{root}.intent")
    parts = [p.reference for p in task.partOf or []]
    if len(parts) != 1 or not parts[0]:
        raise ValidationError("partOf must reference exactly one Task (Task/<id>)",
                              location=f"{root}.partOf")
    match = _TASK_REFERENCE.fullmatch(parts[0])
    if match is None:
        raise ValidationError("partOf must reference Task/<id>",
                              location=f"{root}.partOf[0].reference")
    owner = task.owner.identifier if task.owner is not None else None
    if owner is None or owner.system != ODS_ORGANISATION_SYSTEM or not owner.value:
        raise ValidationError(f"owner must identify the provider by {ODS_ORGANISATION_SYSTEM}",
                              location=f"{root}.owner.identifier")
    services = [c.code for c in (task.code.coding if task.code else None) or []
                if c.system == HEALTH_SERVICE_SYSTEM]
    if len(services) != 1 or services[0] not in HEALTH_SERVICES:
        raise ValidationError(f"code must give one service from {HEALTH_SERVICE_SYSTEM}",
                              location=f"{root}.code")
    request_ids = {i.value for i in task.identifier or []
                   if i.system == ADVICE_REQUEST_SYSTEM and i.value}
    if len(request_ids) > 1:
        raise ValidationError("more than one advice request identifier",
                              location=f"{root}.identifier")
    due: date | None = None
    period = task.restriction.period if task.restriction is not None else None
    if period is not None and period.end is not None:
        end = period.end
        due = end.date() if isinstance(end, datetime) else end
    return Delegation(
        parent_task_id=match.group(1), owner_ods=owner.value, service=HEALTH_SERVICES[
            str(services[0])][0], request_id=request_ids.pop() if request_ids else None,
        due_on=due,
    )
