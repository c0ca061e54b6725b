"""Bundles: the transaction this server accepts, and the Bundles it answers with (pure).

The only transaction supported is the one that closes an advice request: one DocumentReference
(``POST DocumentReference``) and the completed Task (``PUT Task/<id>``), in either order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle

from connectors.fhir.codes import BUNDLE_TYPE, HTTP_VERB
from connectors.fhir.parsing import (
    check_code,
    check_modifiers,
    check_string_lengths,
    require_resource_type,
    validate_model,
)
from ehcp.errors import ValidationError

_TASK_URL: Final = re.compile(r"^Task/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True, slots=True)
class AdviceTransaction:
    """The two entries of an advice transaction.

    Attributes:
        document_index: position of the DocumentReference entry.
        document: the DocumentReference as parsed JSON.
        task_index: position of the Task entry.
        task_id: the id in the Task entry's ``request.url``.
        task: the Task as parsed JSON.
    """

    document_index: int
    document: Mapping[str, Any]
    task_index: int
    task_id: str
    task: Mapping[str, Any]


def read_transaction(data: Mapping[str, Any]) -> AdviceTransaction:
    """Validate a transaction Bundle carrying advice and the completed Task.

    Raises:
        StructureError: (400) not a valid R4 Bundle, or a code outside a required value set.
        ValidationError: (422) a Bundle this server does not process.
    """
    require_resource_type(data, "Bundle")
    bundle = validate_model(Bundle, data, root="Bundle")
    check_modifiers(data, root="Bundle")
    check_string_lengths(data, root="Bundle")
    check_code(bundle.type, BUNDLE_TYPE, location="Bundle.type")
    if bundle.type != "transaction":
        raise ValidationError("only transaction Bundles are supported", location="Bundle.type")
    entries = data.get("entry") or []
    if len(entries) != 2:
        raise ValidationError(
            "a transaction holds exactly one DocumentReference and one Task",
            location="Bundle.entry")
    document: tuple[int, Mapping[str, Any]] | None = None
    task: tuple[int, str, Mapping[str, Any]] | None = None
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]"
        resource = entry.get("resource")
        request = entry.get("request") or {}
        if not isinstance(resource, dict):
            raise ValidationError("each entry needs a resource", location=f"{where}.resource")
        check_code(request.get("method"), HTTP_VERB, location=f"{where}.request.method")
        method, url = request["method"], str(request.get("url") or "")
        kind = resource.get("resourceType")
        if kind == "DocumentReference" and document is None:
            if method != "POST" or url != "DocumentReference":
                raise ValidationError("the DocumentReference entry must be POST DocumentReference",
                                      location=f"{where}.request")
            document = (index, resource)
        elif kind == "Task" and task is None:
            match = _TASK_URL.match(url)
            if method != "PUT" or match is None:
                raise ValidationError("the Task entry must be PUT Task/<id>",
                                      location=f"{where}.request")
            task = (index, match.group(1), resource)
        else:
            raise ValidationError(
                "a transaction holds exactly one DocumentReference and one Task",
                location=f"{where}.resource.resourceType")
    if document is None or task is None:  # unreachable with two entries, kept for the type checker
        raise ValidationError("a transaction holds one DocumentReference and one Task",
                              location="Bundle.entry")
    return AdviceTransaction(document_index=document[0], document=document[1],
                             task_index=task[0], task_id=task[1], task=task[2])


def response_entry(status: str, location: str, *, version: str,
                   last_modified: datetime | None, resource: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """One entry of a transaction-response Bundle."""
    response: dict[str, Any] = {"status": status, "location": location, "etag": f'W/"{version}"'}
    if last_modified is not None:
        response["lastModified"] = last_modified.isoformat()
    entry: dict[str, Any] = {"response": response}
    if resource is not None:
        entry["resource"] = dict(resource)
    return entry


def transaction_response(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A transaction-response Bundle (entries in the order of the request)."""
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": list(entries)}


def searchset(resources: Sequence[Mapping[str, Any]], *, base_url: str,
              self_link: str, total: int | None = None,
              next_link: str | None = None) -> dict[str, Any]:
    """A searchset Bundle: one page of matches (every match unless ``total`` says more)."""
    links = [{"relation": "self", "url": self_link}]
    if next_link is not None:
        links.append({"relation": "next", "url": next_link})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "link": links,
        "entry": [
            {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": dict(r),
             "search": {"mode": "match"}}
            for r in resources
        ],
    }
