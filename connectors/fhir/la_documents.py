"""The LA's FHIR view of its advice documents: the DocumentReference search and Binary (pure).

A local authority (a ``local_authority`` credential, scope ``documents:read``) searches the
advice documents of its own cases. Each match is the LA's view of one advice event: its id is
the advice event id (advice that came by JSON has no submitter's DocumentReference), the case is
in ``context.related`` (EHC-case identifier, as on the way in), the attachment's ``url`` is the
``Binary`` holding the bytes. No child identifiers: the LA's system knows the child by the case.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from connectors.fhir.codes import ADVICE_TYPE_BY_SYMBOL, ADVICE_TYPE_SYSTEM, EHC_CASE_SYSTEM
from connectors.fhir.errors import StructureError
from ehcp.readmodel.access import AdviceReceived, DocumentClaim, Page

#: The search parameters the LA's DocumentReference search takes; any other is refused (400).
SEARCH_PARAMS: Final = frozenset({"subject", "subject:identifier", "_lastUpdated", "_count",
                                  "_cursor"})
#: Extension carrying the document's SHA-256 (R4's Attachment.hash is SHA-1).
SHA256_EXTENSION: Final = "https://ehcp-exchange.org/StructureDefinition/attachment-sha256"


@dataclass(frozen=True, slots=True)
class DocumentSearch:
    """A parsed search: the case, the time bound, the page."""

    case_id: str | None
    updated_after: datetime | None
    inclusive: bool
    count: int | None
    cursor: str | None


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name, ())
    if len(values) > 1:
        raise StructureError(f"{name} may be given once", location=name, issue_code="invalid")
    return values[0] if values else None


def _case(value: str, name: str) -> str:
    system, bar, code = value.rpartition("|")
    if bar and system not in ("", EHC_CASE_SYSTEM):
        raise StructureError(f"{name} takes an EHC case id ({EHC_CASE_SYSTEM}|<case id>)",
                             location=name, issue_code="value")
    if not code or len(code) > 200:
        raise StructureError(f"{name} takes an EHC case id of 1 to 200 characters",
                             location=name, issue_code="value")
    return code


def _last_updated(value: str) -> tuple[datetime, bool]:
    prefix, rest = value[:2], value[2:]
    if prefix not in ("gt", "ge"):
        raise StructureError("_lastUpdated takes gt or ge and an instant with its UTC offset, "
                             "e.g. gt2026-03-01T09:00:00Z", location="_lastUpdated",
                             issue_code="value")
    try:
        when = datetime.fromisoformat(rest)
    except ValueError as exc:
        raise StructureError("_lastUpdated is not an instant (e.g. gt2026-03-01T09:00:00Z)",
                             location="_lastUpdated", issue_code="value") from exc
    if when.tzinfo is None:
        raise StructureError("_lastUpdated needs a UTC offset (e.g. 2026-03-01T09:00:00Z)",
                             location="_lastUpdated", issue_code="value")
    return when, prefix == "ge"


def parse_search(params: Mapping[str, Sequence[str]]) -> DocumentSearch:
    """The search from its query parameters.

    Raises:
        StructureError: (400) an unknown parameter, a repeated one, a case id in another
            system, a ``_lastUpdated`` that is not ``gt``/``ge`` and an instant with its offset,
            a ``_count`` that is not a whole number of at least 1.
    """
    unknown = sorted(set(params) - SEARCH_PARAMS)
    if unknown:
        raise StructureError(
            f"unsupported search parameter(s) {', '.join(p[:40] for p in unknown[:5])}; this "
            f"search takes {', '.join(sorted(SEARCH_PARAMS))}", issue_code="not-supported")
    subject = _one(params, "subject")
    by_identifier = _one(params, "subject:identifier")
    if subject is not None and by_identifier is not None:
        raise StructureError("give subject or subject:identifier, not both", location="subject",
                             issue_code="invalid")
    case_id = None
    if subject is not None:
        case_id = _case(subject, "subject")
    elif by_identifier is not None:
        case_id = _case(by_identifier, "subject:identifier")
    updated, inclusive = None, False
    last_updated = _one(params, "_lastUpdated")
    if last_updated is not None:
        updated, inclusive = _last_updated(last_updated)
    count = None
    raw_count = _one(params, "_count")
    if raw_count is not None:
        if not raw_count.isdigit() or len(raw_count) > 9 or int(raw_count) < 1:
            raise StructureError("_count takes a whole number of at least 1", location="_count",
                                 issue_code="value")
        count = int(raw_count)
    return DocumentSearch(case_id, updated, inclusive, count, _one(params, "_cursor"))


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def document_reference(advice: AdviceReceived, base_url: str) -> dict[str, Any]:
    """The LA's DocumentReference for advice with a document."""
    claim = advice.document
    assert claim is not None  # noqa: S101 - the search lists advice with documents only
    code = ADVICE_TYPE_BY_SYMBOL.get(advice.advice_type)
    kind: dict[str, Any] = {"text": advice.advice_type}
    if code is not None:
        kind = {"coding": [{"system": ADVICE_TYPE_SYSTEM, "code": code.code,
                            "display": code.display}]}
    return {
        "resourceType": "DocumentReference",
        "id": advice.event_id,
        "meta": {"lastUpdated": _instant(advice.updated_at)},
        "status": "current",
        "type": kind,
        "date": _instant(advice.submitted_at),
        "author": [{"identifier": {"system": advice.agency.system,
                                   "value": advice.agency.value}}],
        "content": [{"attachment": attachment(claim, base_url)}],
        "context": {"related": [{"identifier": {"system": EHC_CASE_SYSTEM,
                                                "value": advice.case_id}}]},
    }


def attachment(claim: DocumentClaim, base_url: str) -> dict[str, Any]:
    """The attachment: where the bytes are (a Binary), their type, size and SHA-256."""
    return {
        "contentType": claim.content_type,
        "url": f"{base_url}/Binary/{claim.sha256}",
        "size": claim.size_bytes,
        "extension": [{"url": SHA256_EXTENSION, "valueString": claim.sha256}],
    }


def search_bundle(page: Page[AdviceReceived], search: DocumentSearch, *, base_url: str,
                  self_link: str) -> dict[str, Any]:
    """A searchset Bundle of one page, with a ``next`` link carrying the page's cursor."""
    params: dict[str, str] = {}
    if search.case_id is not None:
        params["subject"] = search.case_id
    if search.updated_after is not None:
        prefix = "ge" if search.inclusive else "gt"
        params["_lastUpdated"] = prefix + _instant(search.updated_after)
    if search.count is not None:
        params["_count"] = str(search.count)
    params["_cursor"] = page.cursor
    links = [{"relation": "self", "url": self_link}]
    if page.has_more:
        links.append({"relation": "next",
                      "url": f"{base_url}/DocumentReference?{urlencode(params)}"})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {"fullUrl": f"{base_url}/DocumentReference/{a.event_id}",
             "resource": document_reference(a, base_url), "search": {"mode": "match"}}
            for a in page.items
        ],
    }


def binary_resource(claim: DocumentClaim, content: bytes) -> dict[str, Any]:
    """The FHIR JSON Binary of a document (for a client that asks for application/fhir+json)."""
    return {"resourceType": "Binary", "id": claim.sha256, "contentType": claim.content_type,
            "data": base64.b64encode(content).decode()}
