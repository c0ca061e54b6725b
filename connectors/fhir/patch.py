"""``PATCH /fhir/Task/{id}`` with a JSON Patch (RFC 6902): status, reason and output only (pure).

The patch is applied to the Task as the server holds it, and the result then goes through the
same checks as a ``PUT`` (:func:`connectors.fhir.tasks.read_task_update`). Operations may
touch ``/status``, ``/statusReason`` and ``/output`` only; ``test`` may read any path (a
client's precondition).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import jsonpatch
import jsonpointer

from connectors import limits
from connectors.fhir.errors import StructureError, UnsupportedMediaTypeError
from ehcp.errors import ValidationError

JSON_PATCH: Final = "application/json-patch+json"
_PATCHABLE: Final = ("/status", "/statusReason", "/output")


def check_patch_content_type(header: str | None) -> None:
    """Accept JSON Patch bodies only (FHIRPath Patch and XML are not supported).

    Raises:
        UnsupportedMediaTypeError: (415) any other media type.
    """
    if (header or "").split(";", 1)[0].strip().lower() != JSON_PATCH:
        raise UnsupportedMediaTypeError(f"PATCH takes a JSON Patch ({JSON_PATCH}) only")


def parse_patch(body: bytes) -> list[dict[str, Any]]:
    """The patch document: a JSON array of operations.

    Raises:
        StructureError: (400) not JSON, or not an array of operation objects.
        LimitExceededError: (422) nested more than ``limits.MAX_JSON_DEPTH`` levels deep.
    """
    try:
        ops = limits.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StructureError("the request body is not valid JSON") from exc
    if not isinstance(ops, list) or not ops or not all(isinstance(op, dict) for op in ops):
        raise StructureError("a JSON Patch is a non-empty array of operations")
    return ops


def _touches(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    return next((p for p in _PATCHABLE if path == p or path.startswith(p + "/")), None)


def apply_task_patch(task: Mapping[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """The Task after the patch.

    Raises:
        ValidationError: (422) an operation on another element, or a failed ``test``.
        StructureError: (400) an operation that is not valid JSON Patch.
    """
    for index, op in enumerate(ops):
        if op.get("op") == "test":
            continue
        if _touches(op.get("path")) is None or (
                op.get("op") in ("move", "copy") and _touches(op.get("from")) is None):
            raise ValidationError("only /status, /statusReason and /output may be patched",
                                  location=f"Patch[{index}].path")
    try:
        patched: dict[str, Any] = jsonpatch.apply_patch(dict(task), ops)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ValidationError("a test operation failed: the Task is not as the patch expects",
                              location="Patch") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise StructureError(f"the JSON Patch cannot be applied: {type(exc).__name__}",
                             location="Patch", issue_code="invalid") from exc
    return patched
