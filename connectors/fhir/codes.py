"""Code systems, identifier systems and value sets of the project's FHIR profile.

There is no national SEND/EHCP FHIR implementation guide, so the project defines its own code
systems under ``https://ehcp-exchange.org/`` (see ``docs/fhir-profile.md``). The NHS identifier
systems come from UK Core. Value sets of the FHIR core specification that fhir.resources does
not enforce (it accepts any string for a ``code``) are spelled out here, so the connector can
reject codes it does not understand instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FHIR_JSON: Final = "application/fhir+json"
FHIR_VERSION: Final = "4.0.1"

ADVICE_TYPE_SYSTEM: Final = "https://ehcp-exchange.org/CodeSystem/advice-type"
TASK_REASON_SYSTEM: Final = "https://ehcp-exchange.org/CodeSystem/advice-task-reason"
#: Task.businessStatus: a reminder that the advice is due soon or overdue (from the alerts).
TASK_BUSINESS_STATUS_SYSTEM: Final = (
    "https://ehcp-exchange.org/CodeSystem/advice-task-business-status")
#: The advice request id (``AdviceRequested.request_id``): ``Task.identifier``.
ADVICE_REQUEST_SYSTEM: Final = "https://ehcp-exchange.org/Id/advice-request"
#: The EHC needs assessment case id: ``Task.groupIdentifier``; may be named by advice.
EHC_CASE_SYSTEM: Final = "https://ehcp-exchange.org/Id/ehc-case"
#: RFC 3986 URI identifiers (``urn:uuid:...``, ``urn:oid:...``) are globally unique by themselves.
URI_SYSTEM: Final = "urn:ietf:rfc:3986"


@dataclass(frozen=True, slots=True)
class AdviceTypeCode:
    """One code of the advice-type code system and the Avro ``AdviceType`` symbol it stands for."""

    code: str
    symbol: str
    display: str
    regulation: str


ADVICE_TYPES: Final = (
    AdviceTypeCode("parent-or-young-person", "PARENT_OR_YOUNG_PERSON",
                   "Advice and information from the parent or young person", "reg 6(1)(a)"),
    AdviceTypeCode("educational", "EDUCATIONAL", "Educational advice", "reg 6(1)(b)"),
    AdviceTypeCode("medical", "MEDICAL", "Medical advice", "reg 6(1)(c)"),
    AdviceTypeCode("psychological", "PSYCHOLOGICAL", "Psychological advice", "reg 6(1)(d)"),
    AdviceTypeCode("social-care", "SOCIAL_CARE", "Social care advice", "reg 6(1)(e)"),
    AdviceTypeCode("other-la", "OTHER_LA", "Advice the LA thinks appropriate", "reg 6(1)(f)"),
    AdviceTypeCode("preparation-for-adulthood", "PREPARATION_FOR_ADULTHOOD",
                   "Preparation for adulthood and independent living", "reg 6(1)(g)"),
    AdviceTypeCode("family-requested", "FAMILY_REQUESTED",
                   "Advice the parent or young person reasonably requested", "reg 6(1)(h)"),
    AdviceTypeCode("vision-hearing-specialist", "VISION_HEARING_SPECIALIST",
                   "Educational advice from a qualified teacher of the vision or hearing impaired",
                   "reg 6(2)"),
    AdviceTypeCode("virtual-school-head", "VIRTUAL_SCHOOL_HEAD",
                   "Advice from the Virtual School Head", "LA policy"),
)
ADVICE_TYPE_BY_CODE: Final = {a.code: a for a in ADVICE_TYPES}
ADVICE_TYPE_BY_SYMBOL: Final = {a.symbol: a for a in ADVICE_TYPES}


@dataclass(frozen=True, slots=True)
class TaskReasonCode:
    """A reason a health body gives with a Task status change.

    Attributes:
        code: the code in :data:`TASK_REASON_SYSTEM`.
        display: human-readable meaning.
        statuses: the Task statuses this reason may accompany.
    """

    code: str
    display: str
    statuses: frozenset[str]


_DONE = frozenset({"accepted", "completed"})
TASK_REASONS: Final = (
    # reg 8(2): the only grounds that excuse a body's 6-week advice limit. There is deliberately
    # no "no prior involvement" code: the Regulations have no such exception.
    TaskReasonCode("reg-8-2-a", "Exceptional circumstances affecting the child, parent or "
                   "young person during the 6 weeks (reg 8(2)(a))", _DONE),
    TaskReasonCode("reg-8-2-b", "The child, parent or young person was absent from the area "
                   "for at least 4 continuous weeks during the 6 weeks (reg 8(2)(b))", _DONE),
    TaskReasonCode("reg-8-2-c", "The child or young person failed to keep an appointment for an "
                   "examination or test made by this body (reg 8(2)(c))", _DONE),
    # Why a body declines a request. Declining does not stop the LA's statutory clock.
    TaskReasonCode("wrong-recipient", "The request was sent to the wrong organisation",
                   frozenset({"rejected"})),
    TaskReasonCode("duplicate-request", "The same advice was already requested",
                   frozenset({"rejected"})),
    TaskReasonCode("other", "Another reason, given in statusReason.text", frozenset({"rejected"})),
)
TASK_REASON_BY_CODE: Final = {r.code: r for r in TASK_REASONS}

# FHIR R4 core value sets (required bindings) the connector reads.
DOCUMENT_REFERENCE_STATUS: Final = frozenset({"current", "superseded", "entered-in-error"})
COMPOSITION_STATUS: Final = frozenset({"preliminary", "final", "amended", "entered-in-error"})
TASK_STATUS: Final = frozenset({
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
    "in-progress", "on-hold", "failed", "completed", "entered-in-error",
})
TASK_INTENT: Final = frozenset({
    "unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
    "instance-order", "option",
})
#: request-priority (required binding of Task.priority).
TASK_PRIORITY: Final = frozenset({"routine", "urgent", "asap", "stat"})
BUNDLE_TYPE: Final = frozenset({
    "document", "message", "transaction", "transaction-response", "batch", "batch-response",
    "history", "searchset", "collection",
})
HTTP_VERB: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})

#: What this profile accepts where the core value set allows more.
ACCEPTED_DOCUMENT_STATUS: Final = frozenset({"current"})
ACCEPTED_DOC_STATUS: Final = frozenset({"final", "amended"})
#: Statuses a health body may set on an advice request Task.
UPDATABLE_TASK_STATUS: Final = frozenset({"accepted", "rejected", "completed"})
#: Allowed transitions of an advice request Task (a repeat of the current status is a no-op).
TASK_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "requested": frozenset({"accepted", "rejected", "completed"}),
    "accepted": frozenset({"rejected", "completed"}),
    "rejected": frozenset(),
    "completed": frozenset(),
}


#: Health services a Designated Clinical Officer delegates parts of the health advice to
#: (``Task.code`` of a sub-Task): code -> the ``service`` symbol of AdviceRequested v3.
HEALTH_SERVICE_SYSTEM: Final = "https://ehcp-exchange.org/CodeSystem/health-service"
HEALTH_SERVICES: Final[dict[str, tuple[str, str]]] = {
    "community-paediatrics": ("COMMUNITY_PAEDIATRICS", "Community paediatrics"),
    "speech-and-language-therapy": ("SPEECH_AND_LANGUAGE_THERAPY", "Speech and language therapy"),
    "occupational-therapy": ("OCCUPATIONAL_THERAPY", "Occupational therapy"),
    "physiotherapy": ("PHYSIOTHERAPY", "Physiotherapy"),
    "camhs": ("CAMHS", "Child and adolescent mental health services"),
    "other": ("OTHER", "Another health service"),
}
HEALTH_SERVICE_BY_SYMBOL: Final = {symbol: (code, display)
                                   for code, (symbol, display) in HEALTH_SERVICES.items()}
