"""JSON and structural validation of incoming FHIR resources (pure, no FastAPI).

fhir.resources (R4B models) checks structure and data types; it does not enforce required
value-set bindings, so the callers check the codes they read against
:mod:`connectors.fhir.codes`. pydantic errors are translated here into :class:`StructureError`
with a FHIRPath ``location``; the input value is never echoed (it may be an NHS number), nor is
the name of an element the sender made up (the location then names the enclosing element).
Strings are bounded by element kind (:func:`check_string_lengths`, :mod:`connectors.limits`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import pydantic
from fhir.resources.R4B.resource import Resource

from connectors import limits
from connectors.fhir.codes import FHIR_JSON
from connectors.fhir.errors import StructureError, UnsupportedMediaTypeError

ModelT = TypeVar("ModelT", bound=Resource)

_JSON_TYPES: Final = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_LONG_DIGITS: Final = re.compile(r"\d{6,}")
#: Elements holding an id, a code or an identifier value (at most limits.CODE_MAX characters).
_CODE_ELEMENTS: Final = frozenset({
    "value", "code", "status", "docStatus", "contentType", "language", "intent", "priority",
    "use", "method", "version", "hash", "gender", "birthDate", "date", "authoredOn",
    "lastModified", "lastUpdated", "versionId", "creation", "start", "end", "mode", "etag",
    "ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince", "relation", "resourceType",
})
#: Elements holding a URI or a reference (at most limits.URI_MAX characters).
_URI_ELEMENTS: Final = frozenset({
    "system", "url", "reference", "fullUrl", "profile", "type", "source", "implicitRules",
    "instantiatesUri", "instantiatesCanonical", "location",
})
#: Generic diagnostics per pydantic error type: a library message may quote the input.
_DIAGNOSTICS: Final = {
    "missing": "this element is required",
    "extra_forbidden": "an element that this R4 resource does not have",
    "value_error": "the value does not fit this element's FHIR R4 data type",
}


def check_content_type(header: str | None) -> None:
    """Accept only JSON request bodies.

    Raises:
        UnsupportedMediaTypeError: for a missing or non-JSON ``Content-Type``.
    """
    media_type = (header or "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type must be {FHIR_JSON}; XML and other formats are not supported"
        )


def parse_json(body: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object.

    Raises:
        StructureError: if the body is not UTF-8 JSON or not an object.
        LimitExceededError: (422) nested more than ``limits.MAX_JSON_DEPTH`` levels deep.
    """
    try:
        data = limits.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StructureError("the request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise StructureError("the request body must be a JSON object (a FHIR resource)")
    return data


def require_resource_type(data: Mapping[str, Any], expected: str, *, location: str = "") -> None:
    """Check ``resourceType`` before anything else, so the error names the real problem.

    Raises:
        StructureError: if ``resourceType`` is missing or not ``expected``.
    """
    actual = data.get("resourceType")
    # At the top level the root is the expected type's name: plain "resourceType" reads better.
    nested = location and location != expected
    where = f"{location}.resourceType" if nested else "resourceType"
    if not isinstance(actual, str) or not actual:
        raise StructureError("resourceType is missing", location=where, issue_code="required")
    if actual != expected:
        raise StructureError(
            f"expected a {expected} resource here (the resourceType is not echoed)",
            location=where, issue_code="not-supported",
        )


def string_limit(path: Sequence[str | int]) -> int | None:
    """The longest string accepted at a path of a FHIR resource, by element kind.

    ``id`` takes :data:`limits.ID_MAX`; codes and identifier values :data:`limits.CODE_MAX`;
    URIs and references :data:`limits.URI_MAX`; narrative XHTML :data:`limits.NARRATIVE_MAX`;
    other text :data:`limits.TEXT_MAX`. ``data`` (base64 attachments) is bounded by
    ``EHCP_MAX_DOCUMENT_BYTES`` instead.
    """
    name = next((p for p in reversed(path) if isinstance(p, str)), "")
    name = name.removeprefix("_")
    if name == "data":
        return None
    if name == "id":
        return limits.ID_MAX
    if name in _CODE_ELEMENTS:
        return limits.CODE_MAX
    if name in _URI_ELEMENTS:
        return limits.URI_MAX
    if name == "div":
        return limits.NARRATIVE_MAX
    return limits.TEXT_MAX


def check_string_lengths(data: Mapping[str, Any], *, root: str) -> None:
    """Refuse a string longer than its element kind allows (:func:`string_limit`).

    Call it after :func:`validate_model`, so every element name in a location is a real one.

    Raises:
        LimitExceededError: (422) naming the element, never its value.
    """
    limits.check_strings(data, string_limit, lambda path: fhir_path(root, path))


def fhir_path(root: str, loc: Sequence[int | str]) -> str:
    """A pydantic error location as a FHIRPath expression, e.g. ``Task.input[0].type``."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # fhir.resources renames Python keywords (for -> for_fhir); FHIRPath uses JSON names.
            path += "." + part.removesuffix("__ext").removesuffix("_fhir")
    return path


def _redact(message: str) -> str:
    # pydantic and fhir.resources messages rarely include the input, but never let one carry an
    # NHS number (or any long digit run) into a response or a log line.
    return _LONG_DIGITS.sub("[redacted]", message)


def _diagnostics(error_type: str, message: str) -> str:
    if error_type in _DIAGNOSTICS:
        return _DIAGNOSTICS[error_type]
    if error_type.endswith(("_type", "_parsing")):
        # pydantic's fixed texts ("Input should be a valid string"); redacted all the same.
        return _redact(message.splitlines()[0].strip())
    return "this element is not valid FHIR R4"


def validate_model(model: type[ModelT], data: Mapping[str, Any], *, root: str) -> ModelT:
    """Validate a resource's structure and types with its fhir.resources R4B model.

    Args:
        model: the fhir.resources model class.
        data: the resource as parsed JSON.
        root: the FHIRPath of the resource in the request, e.g. ``DocumentReference`` or
            ``Bundle.entry[0].resource``.

    Raises:
        StructureError: naming the first failing element.
    """
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = [p for p in first["loc"] if p != "resource_type"]
        if first["type"] == "extra_forbidden":
            loc = loc[:-1]  # the made-up name is input: name the element holding it
        raise StructureError(_diagnostics(first["type"], str(first["msg"])),
                             location=fhir_path(root, loc)) from exc
    except (TypeError, ValueError) as exc:  # fhir.resources raises some errors outside pydantic
        raise StructureError("the resource is not valid FHIR R4", location=root) from exc


def check_modifiers(data: Any, *, root: str) -> None:
    """Reject elements that change the meaning of a resource in ways this server cannot know.

    FHIR requires a server to refuse a resource carrying a ``modifierExtension`` it does not
    understand; ``implicitRules`` is the same at resource level. This server understands none.

    Raises:
        StructureError: naming the first such element.
    """
    for path, key in _walk_keys(data, root):
        if key in ("modifierExtension", "implicitRules"):
            raise StructureError(
                f"{key} is not supported: this server cannot know the meaning it adds",
                location=f"{path}.{key}", issue_code="not-supported",
            )


def _walk_keys(data: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield path, key
            yield from _walk_keys(value, f"{path}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk_keys(value, f"{path}[{index}]")


def check_code(value: str | None, allowed: Iterable[str], *, location: str,
               required: bool = True) -> None:
    """Check a ``code`` against the required value set of the core specification (400).

    Raises:
        StructureError: if the code is missing (when required) or not in the value set.
    """
    if value is None:
        if required:
            raise StructureError("this element is required", location=location,
                                 issue_code="required")
        return
    allowed = frozenset(allowed)
    if value not in allowed:
        raise StructureError(
            f"code is not in the required value set ({', '.join(sorted(allowed))})",
            location=location, issue_code="code-invalid",
        )
