"""The Task status event this connector emits (not a Kafka contract: the lead maps it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ehcp.identifiers import ODS_ORGANISATION_SYSTEM

TaskStatus = Literal["accepted", "rejected", "completed"]


@dataclass(frozen=True, slots=True)
class TaskStatusChanged:
    """The body asked accepted, rejected or completed an advice request (a FHIR Task for health).

    Attributes:
        request_id: the advice request (``AdviceRequested.request_id``, ``Task.identifier``).
        case_id: the EHC case the request belongs to, as the task store holds it.
        status: the new status.
        reason_code: a code of ``https://ehcp-exchange.org/CodeSystem/advice-task-reason``
            (``reg-8-2-a`` .. ``reg-8-2-c`` excuse the 6-week limit; ``wrong-recipient``,
            ``duplicate-request``, ``other`` explain a rejection), or None.
        reason_text: free text from ``Task.statusReason.text`` (may hold personal data: never log).
        owner_ods: the code of the body that changed the status: its ODS organisation code,
            or (over the JSON APIs) its school URN or LA code.
        at: when the broker accepted the change (UTC).
        output_document_id: with ``completed``, the logical id of the advice DocumentReference
            the Task's ``output`` names, if any.
        owner_system: the identifier system of ``owner_ods`` (ODS unless a JSON API set it).
    """

    request_id: str
    case_id: str | None
    status: TaskStatus
    reason_code: str | None
    reason_text: str | None
    owner_ods: str
    at: datetime
    output_document_id: str | None = None
    owner_system: str = ODS_ORGANISATION_SYSTEM
