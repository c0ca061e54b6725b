"""JSON and structural validation of incoming FHIR resources (pure, no FastAPI).

fhir.resources (R4B models) checks structure and data types; it does not enforce required
value-set bindings, so the callers check the codes they read against
:mod:`connectors.fhir.codes`. pydantic errors are translated here into :class:`StructureError`
with a FHIRPath ``location``; the input value is never echoed (it may be an NHS number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import pydantic
from fhir.resources.R4B.resource import Resource

from connectors.fhir.codes import FHIR_JSON
from connectors.fhir.errors import StructureError, UnsupportedMediaTypeError

ModelT = TypeVar("ModelT", bound=Resource)

_JSON_TYPES: Final = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_LONG_DIGITS: Final = re.compile(r"\d{6,}")


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
    """
    try:
        data = json.loads(body)
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
            f"expected a {expected} resource, got resourceType {actual!r}",
            location=where, issue_code="not-supported",
        )


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
        raise StructureError(
            _redact(str(first["msg"]).splitlines()[0].strip()),
            location=fhir_path(root, loc),
        ) from exc
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
