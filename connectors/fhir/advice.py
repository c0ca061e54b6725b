"""Advice as a FHIR DocumentReference -> the ``AdviceSubmitted`` record (pure, no I/O).

:func:`read_advice` validates a DocumentReference against the core specification (structure and
the required bindings fhir.resources leaves unchecked) and against the project's profile
(``docs/fhir-profile.md``), and returns an :class:`AdviceSubmission`. The service stores the
document, then :func:`advice_submitted_record` builds the Avro record that carries the document's
claim check, never its bytes.

Over 400 lines on purpose: it is the whole profile of one resource (every element the profile
reads, its bounds and required bindings, and the error each violation gets), kept together so a
reviewer can hold it against docs/fhir-profile.md in one read.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.reference import Reference

from connectors.documents import (
    estimated_base64_size,
    is_allowed_url,
    is_media_type,
    too_large,
)
from connectors.fhir.codes import (
    ACCEPTED_DOC_STATUS,
    ACCEPTED_DOCUMENT_STATUS,
    ADVICE_REQUEST_SYSTEM,
    ADVICE_TYPE_BY_CODE,
    ADVICE_TYPE_SYSTEM,
    COMPOSITION_STATUS,
    DOCUMENT_REFERENCE_STATUS,
    EHC_CASE_SYSTEM,
    URI_SYSTEM,
)
from connectors.fhir.parsing import (
    check_code,
    check_modifiers,
    check_string_lengths,
    require_resource_type,
    validate_model,
)
from connectors.ports import DocumentClaim, Principal, PublishedEvent
from ehcp.contract.keys import contribution_key
from ehcp.contract.records import ADVICE_SUBMITTED
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.errors import AuthError, InvalidIdentifierError, ValidationError
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, normalise_nhs_number

SCHEMA_NAME: Final = ADVICE_SUBMITTED
CE_TYPE: Final = "org.ehcpexchange.advice.submitted.v1"
#: How far in the future DocumentReference.date may be (clock skew between systems).
CLOCK_SKEW: Final = timedelta(minutes=5)

_FULL_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: ehcp.identifiers matches with \d and $ (any Unicode digit, a final newline): be stricter here.
_ASCII_NHS_NUMBER: Final = re.compile(r"[0-9 ]{10,12}")
_TASK_REFERENCE: Final = re.compile(r"^Task/([A-Za-z0-9\-.]{1,64})$")
#: Namespace for ids derived from (agency, contribution identifier): retries get the same ids.
_ID_NAMESPACE: Final = uuid.UUID("0c0f3f57-4f0e-5d1e-8a0e-5b7d8e0c9a31")


@dataclass(frozen=True, slots=True)
class InlineDocument:
    """The document sent inline in ``attachment.data``."""

    content: bytes


@dataclass(frozen=True, slots=True)
class RemoteDocument:
    """The document named by ``attachment.url`` on an allowed host."""

    url: str


@dataclass(frozen=True, slots=True)
class AdviceSubmission:
    """What a valid advice DocumentReference says, in the domain's terms.

    Attributes:
        contribution_id: stable id from the sender (``AdviceSubmitted.contribution_id``).
        contribution_token: the identifier as ``system|value``: the idempotency key.
        identifier_tokens: every identifier of the resource as ``system|value``.
        nhs_number: the child's NHS number (validated; never log it).
        child_date_of_birth: from a contained Patient, when a full date is given.
        agency_ods_codes: ODS organisation codes of the custodian and authors.
        advice_type: the ``AdviceType`` symbol.
        request_task_id: the Task the advice answers (``context.related`` reference), if any.
        request_id: the advice request id (``context.related`` identifier), if any.
        case_id: the EHC case id (``context.related`` identifier), if any.
        date: ``DocumentReference.date`` in UTC, if given.
        content_type: ``attachment.contentType``.
        declared_size: ``attachment.size``, if given.
        declared_sha1: ``attachment.hash`` (SHA-1), if given.
        document: the inline bytes or the url to fetch.
    """

    contribution_id: str
    contribution_token: str
    identifier_tokens: tuple[str, ...]
    nhs_number: str
    child_date_of_birth: date | None
    agency_ods_codes: frozenset[str]
    advice_type: str
    request_task_id: str | None
    request_id: str | None
    case_id: str | None
    date: datetime | None
    content_type: str
    declared_size: int | None
    declared_sha1: bytes | None
    document: InlineDocument | RemoteDocument


def read_advice(
    data: Mapping[str, Any],
    *,
    max_document_bytes: int,
    document_url_hosts: Iterable[str],
    now: datetime,
    root: str = "DocumentReference",
) -> AdviceSubmission:
    """Validate an advice DocumentReference and extract the submission.

    Args:
        data: the resource as parsed JSON.
        max_document_bytes: the largest document accepted.
        document_url_hosts: hosts ``attachment.url`` may point at.
        now: the current time (for the future-date check).
        root: FHIRPath of the resource in the request (for error locations).

    Raises:
        StructureError: (400) not valid FHIR R4 or a code outside a required value set.
        DocumentTooLargeError: (413) inline data larger than ``max_document_bytes``.
        InvalidIdentifierError: (422) the NHS number fails its check digit.
        LimitExceededError: (422) a string longer than its element kind allows.
        ValidationError: (422) valid FHIR that this profile does not accept.
    """
    require_resource_type(data, "DocumentReference", location=root)
    _precheck_inline_size(data, max_document_bytes, root)
    doc = validate_model(DocumentReference, data, root=root)
    check_modifiers(data, root=root)
    check_string_lengths(data, root=root)

    check_code(doc.status, DOCUMENT_REFERENCE_STATUS, location=f"{root}.status")
    if doc.status not in ACCEPTED_DOCUMENT_STATUS:
        raise ValidationError("only status current is accepted for new advice",
                              location=f"{root}.status")
    check_code(doc.docStatus, COMPOSITION_STATUS, location=f"{root}.docStatus", required=False)
    if doc.docStatus is not None and doc.docStatus not in ACCEPTED_DOC_STATUS:
        raise ValidationError("advice must be final (docStatus final or amended)",
                              location=f"{root}.docStatus")
    if doc.relatesTo:
        raise ValidationError(
            "relatesTo (replacing or appending to earlier advice) is not supported",
            location=f"{root}.relatesTo")
    if doc.securityLabel:
        raise ValidationError(
            "securityLabel is not supported: the broker cannot enforce it downstream",
            location=f"{root}.securityLabel")

    contribution_id, token, tokens = _read_identifiers(doc, root)
    contained = {str(r.id): r for r in doc.contained or [] if getattr(r, "id", None)}
    nhs_number, dob = _read_child(doc, contained, root)
    agency_codes = _read_agency(doc, contained, root)
    advice_type = _read_advice_type(doc, root)
    request_task_id, request_id, case_id = _read_context(doc, root)
    submitted = _read_date(doc, now, root)
    content_type, declared_size, declared_sha1, document = _read_attachment(
        doc, max_document_bytes, frozenset(h.lower() for h in document_url_hosts), root)

    return AdviceSubmission(
        contribution_id=contribution_id, contribution_token=token, identifier_tokens=tokens,
        nhs_number=nhs_number, child_date_of_birth=dob, agency_ods_codes=agency_codes,
        advice_type=advice_type, request_task_id=request_task_id, request_id=request_id,
        case_id=case_id, date=submitted, content_type=content_type, declared_size=declared_size,
        declared_sha1=declared_sha1, document=document,
    )


def _precheck_inline_size(data: Mapping[str, Any], limit: int, root: str) -> None:
    # Refuse an oversize document before the model decodes the base64 into memory.
    content = data.get("content")
    if not isinstance(content, list):
        return
    for index, item in enumerate(content):
        attachment = item.get("attachment") if isinstance(item, dict) else None
        inline = attachment.get("data") if isinstance(attachment, dict) else None
        if isinstance(inline, str) and estimated_base64_size(inline) > limit:
            raise too_large(limit, location=f"{root}.content[{index}].attachment.data")


def _read_identifiers(doc: DocumentReference, root: str) -> tuple[str, str, tuple[str, ...]]:
    tokens: list[str] = []
    chosen: tuple[str, str] | None = None
    master = doc.masterIdentifier
    if master is not None:
        if not master.system or not master.value:
            raise ValidationError("masterIdentifier needs a system and a value",
                                  location=f"{root}.masterIdentifier")
        chosen = (master.system, master.value)
        tokens.append(f"{master.system}|{master.value}")
    for ident in doc.identifier or []:
        if ident.system and ident.value:
            tokens.append(f"{ident.system}|{ident.value}")
            if chosen is None:
                chosen = (ident.system, ident.value)
    if chosen is None:
        raise ValidationError(
            "a contribution identifier is required (masterIdentifier with system and value)",
            location=f"{root}.masterIdentifier",
        )
    system, value = chosen
    # A urn:uuid / urn:oid value is globally unique by itself; otherwise keep the system with it.
    contribution_id = value if system == URI_SYSTEM else f"{system}|{value}"
    return contribution_id, f"{system}|{value}", tuple(dict.fromkeys(tokens))


def _read_child(doc: DocumentReference, contained: Mapping[str, Any],
                root: str) -> tuple[str, date | None]:
    subject = doc.subject
    where = f"{root}.subject"
    if subject is None:
        raise ValidationError("subject must identify the child by NHS number", location=where)
    if subject.type is not None and subject.type != "Patient":
        raise ValidationError("subject must be a Patient", location=f"{where}.type")
    numbers: list[tuple[str, str]] = []
    if subject.identifier is not None:
        if subject.identifier.system != NHS_NUMBER_SYSTEM:
            raise ValidationError(f"subject.identifier.system must be {NHS_NUMBER_SYSTEM}",
                                  location=f"{where}.identifier.system")
        numbers.append((subject.identifier.value or "", f"{where}.identifier.value"))
    dob: date | None = None
    reference = subject.reference or ""
    if reference.startswith("#"):
        patient = contained.get(reference[1:])
        if patient is None or patient.get_resource_type() != "Patient":
            raise ValidationError("subject.reference must name a contained Patient",
                                  location=f"{where}.reference")
        index = list(contained).index(reference[1:])
        for i, ident in enumerate(patient.identifier or []):
            if ident.system == NHS_NUMBER_SYSTEM:
                numbers.append((ident.value or "",
                                f"{root}.contained[{index}].identifier[{i}].value"))
        birth = patient.birthDate
        if isinstance(birth, date) and _FULL_DATE.match(birth.isoformat()):
            dob = birth
    if not numbers:
        raise ValidationError(
            f"subject must identify the child by NHS number ({NHS_NUMBER_SYSTEM}): "
            "subject.identifier or a contained Patient", location=where)
    checked: set[str] = set()
    for value, location in numbers:
        try:
            if not _ASCII_NHS_NUMBER.fullmatch(value):
                raise InvalidIdentifierError("NHS number must be 10 digits")
            checked.add(normalise_nhs_number(value))
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(exc.message, location=location) from exc
    if len(checked) > 1:
        raise ValidationError("subject names more than one NHS number", location=where)
    return checked.pop(), dob


def _ods_codes(reference: Reference, contained: Mapping[str, Any]) -> list[str]:
    codes: list[str] = []
    if reference.identifier is not None and reference.identifier.system == ODS_ORGANISATION_SYSTEM:
        codes.append(reference.identifier.value or "")
    ref = reference.reference or ""
    if ref.startswith("#") and ref[1:] in contained:
        resource = contained[ref[1:]]
        if resource.get_resource_type() == "Organization":
            codes += [i.value or "" for i in resource.identifier or []
                      if i.system == ODS_ORGANISATION_SYSTEM]
    return codes


def _read_agency(doc: DocumentReference, contained: Mapping[str, Any],
                 root: str) -> frozenset[str]:
    codes: list[str] = []
    if doc.custodian is not None:
        codes += _ods_codes(doc.custodian, contained)
    for author in doc.author or []:
        codes += _ods_codes(author, contained)
    if not codes or not all(codes):
        raise ValidationError(
            f"custodian (or an author) must identify the organisation by "
            f"{ODS_ORGANISATION_SYSTEM}", location=f"{root}.custodian")
    return frozenset(c.upper() for c in codes)


def _read_advice_type(doc: DocumentReference, root: str) -> str:
    found: set[str] = set()
    codings = (doc.type.coding or []) if doc.type is not None else []
    for index, coding in enumerate(codings):
        if coding.system != ADVICE_TYPE_SYSTEM:
            continue  # translations into other code systems (LOINC, SNOMED CT) are allowed
        advice = ADVICE_TYPE_BY_CODE.get(coding.code or "")
        if advice is None:
            raise ValidationError("unknown advice-type code",
                                  location=f"{root}.type.coding[{index}].code")
        found.add(advice.symbol)
    if not found:
        raise ValidationError(f"type must carry a coding from {ADVICE_TYPE_SYSTEM}",
                              location=f"{root}.type")
    if len(found) > 1:
        raise ValidationError("type names more than one advice type", location=f"{root}.type")
    return found.pop()


def _read_context(doc: DocumentReference,
                  root: str) -> tuple[str | None, str | None, str | None]:
    task_ids: set[str] = set()
    request_ids: set[str] = set()
    case_ids: set[str] = set()
    related = (doc.context.related or []) if doc.context is not None else []
    for index, ref in enumerate(related):
        where = f"{root}.context.related[{index}]"
        understood = False
        if ref.reference is not None:
            match = _TASK_REFERENCE.match(ref.reference)
            if match is None:
                raise ValidationError("context.related may reference Task/<id> only",
                                       location=f"{where}.reference")
            task_ids.add(match.group(1))
            understood = True
        if ref.identifier is not None:
            if ref.identifier.system == ADVICE_REQUEST_SYSTEM and ref.identifier.value:
                request_ids.add(ref.identifier.value)
            elif ref.identifier.system == EHC_CASE_SYSTEM and ref.identifier.value:
                case_ids.add(ref.identifier.value)
            else:
                raise ValidationError(
                    f"context.related.identifier must be in {ADVICE_REQUEST_SYSTEM} or "
                    f"{EHC_CASE_SYSTEM}", location=f"{where}.identifier")
            understood = True
        if not understood:
            raise ValidationError("context.related needs a reference or an identifier",
                                  location=where)
    for found, name in ((task_ids, "Task"), (request_ids, "advice request"), (case_ids, "case")):
        if len(found) > 1:
            raise ValidationError(f"context.related names more than one {name}",
                                  location=f"{root}.context.related")
    return (next(iter(task_ids), None), next(iter(request_ids), None),
            next(iter(case_ids), None))


def _read_date(doc: DocumentReference, now: datetime, root: str) -> datetime | None:
    if doc.date is None:
        return None
    when = doc.date if doc.date.tzinfo else doc.date.replace(tzinfo=UTC)
    if when > now + CLOCK_SKEW:
        raise ValidationError("date is in the future", location=f"{root}.date")
    return when.astimezone(UTC)


def _read_attachment(
    doc: DocumentReference, limit: int, hosts: frozenset[str], root: str
) -> tuple[str, int | None, bytes | None, InlineDocument | RemoteDocument]:
    contents = doc.content or []
    if len(contents) != 1:
        raise ValidationError("exactly one content entry is supported", location=f"{root}.content")
    attachment = contents[0].attachment
    where = f"{root}.content[0].attachment"
    if attachment is None:
        raise ValidationError("content.attachment is required", location=where)
    content_type = attachment.contentType
    if not content_type or not is_media_type(content_type):
        raise ValidationError("attachment.contentType must be a media type",
                              location=f"{where}.contentType")
    declared_size = attachment.size
    declared_sha1 = attachment.hash or None
    if attachment.data is not None and attachment.url is not None:
        raise ValidationError("give attachment.data or attachment.url, not both", location=where)
    document: InlineDocument | RemoteDocument
    if attachment.data is not None:
        content = bytes(attachment.data)
        if len(content) > limit:
            raise too_large(limit, location=f"{where}.data")
        check_document(content, declared_size, declared_sha1, location=where)
        document = InlineDocument(content)
    elif attachment.url is not None:
        url = str(attachment.url)
        if not is_allowed_url(url, hosts):
            raise ValidationError(
                "attachment.url must be an https url on a host this server is configured to "
                "fetch from; send the document inline in attachment.data",
                location=f"{where}.url")
        document = RemoteDocument(url)
    else:
        raise ValidationError("attachment.data (base64) is required", location=f"{where}.data")
    return content_type, declared_size, declared_sha1, document


def check_document(content: bytes, declared_size: int | None, declared_sha1: bytes | None,
                   *, location: str) -> None:
    """Check the document against ``attachment.size`` and ``attachment.hash`` when given.

    Raises:
        ValidationError: if the document is empty or does not match what was declared.
    """
    if not content:
        raise ValidationError("the document is empty", location=location)
    if declared_size is not None and declared_size != len(content):
        raise ValidationError("attachment.size does not match the document",
                              location=f"{location}.size")
    if declared_sha1 is not None and declared_sha1 != hashlib.sha1(content).digest():  # noqa: S324
        # SHA-1 because FHIR R4 defines Attachment.hash as SHA-1; it is an integrity check only.
        raise ValidationError("attachment.hash (SHA-1) does not match the document",
                              location=f"{location}.hash")


def authorise(submission: AdviceSubmission, principal: Principal) -> None:
    """Check the caller may submit this advice.

    Raises:
        AuthError: (403) the credential is not an NHS organisation, the custodian or an author
            is another organisation, or the caller may not give this advice type.
    """
    if principal.agency_system != ODS_ORGANISATION_SYSTEM:
        raise AuthError("this credential does not belong to an NHS (ODS) organisation", status=403)
    if submission.agency_ods_codes != {principal.agency_value.upper()}:
        raise AuthError("the custodian and authors must be your own organisation", status=403)
    if submission.advice_type not in principal.advice_types:
        raise AuthError("your organisation may not submit this advice type", status=403)


def derived_ids(agency_ods: str, contribution_token: str) -> tuple[str, str]:
    """The DocumentReference id and the event id for a contribution.

    Derived from (agency, identifier) so a retry after a lost response gets the same ids even
    if the submission ledger has not recorded it: consumers can deduplicate on the event id.
    """
    name = f"{agency_ods}|{contribution_token}"
    return (str(uuid.uuid5(_ID_NAMESPACE, f"DocumentReference|{name}")),
            str(uuid.uuid5(_ID_NAMESPACE, f"AdviceSubmitted|{name}")))


def advice_submitted_record(
    submission: AdviceSubmission,
    claim: DocumentClaim,
    *,
    agency_ods: str,
    event_id: str,
    submitted_at: datetime,
    request_id: str | None,
    case_id: str | None,
) -> dict[str, Any]:
    """The ``AdviceSubmitted`` record, as fastavro expects it.

    Args:
        submission: the validated advice.
        claim: the stored document's claim check.
        agency_ods: the submitting organisation's ODS code.
        event_id: the event id (:func:`derived_ids`).
        submitted_at: ``DocumentReference.date`` or the time the server received the advice.
        request_id: the advice request answered, if known.
        case_id: the EHC case, if the sender or the request named it.
    """
    return {
        "event_id": event_id,
        "contribution_id": submission.contribution_id,
        "case_id": case_id,
        "request_id": request_id,
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": submission.nhs_number}],
        "child_date_of_birth": submission.child_date_of_birth,
        "advice_type": submission.advice_type,
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": agency_ods},
        "submitted_at": submitted_at,
        "channel": "FHIR",
        "document": claim.as_record(),
    }


def advice_submitted_event(record: Mapping[str, Any], pseudonym_key: bytes) -> PublishedEvent:
    """The event for the contributions topic, keyed by case id or the pseudonymous child key."""
    return PublishedEvent(
        topic=CONTRIBUTIONS.name,
        key=contribution_key(pseudonym_key, record),
        schema_name=SCHEMA_NAME,
        record=record,
        ce_type=CE_TYPE,
        ce_subject=str(record["case_id"] or record["contribution_id"]),
    )


def stored_resource(data: Mapping[str, Any], *, resource_id: str, content: bytes,
                    last_updated: datetime) -> dict[str, Any]:
    """The DocumentReference as the server keeps and returns it.

    The inline ``data`` is dropped (the document is in the document store; echoing megabytes
    back helps nobody), and ``size`` and ``hash`` describe what was stored.
    """
    resource = copy.deepcopy(dict(data))
    resource["id"] = resource_id
    resource["meta"] = {**resource.get("meta", {}), "versionId": "1",
                        "lastUpdated": last_updated.isoformat()}
    attachment = resource["content"][0]["attachment"]
    attachment.pop("data", None)
    attachment["size"] = len(content)
    attachment["hash"] = base64.b64encode(hashlib.sha1(content).digest()).decode()  # noqa: S324
    return resource
